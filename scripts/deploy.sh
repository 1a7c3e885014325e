#!/usr/bin/env bash
# Deploys node-api to ECS Fargate: build, tag immutably, push to ECR, register
# a task definition revision with the new image, update the service, and
# wait (bounded) until it is stable. A deployment rolled back by the
# circuit breaker is a failure.
#
#   scripts/deploy.sh [--dry-run]
#
# Inputs (environment):
#   AWS_REGION        region (or AWS_DEFAULT_REGION)                      required
#   CLUSTER           ECS cluster                                         required
#   SERVICE           ECS service                                         required
#   TASK_FAMILY       task definition family       default: the one the service runs
#   ECR_REPOSITORY    repository name                  default node-api
#   ECS_CONTAINER     container to update              default node-api
#   AWS_ACCOUNT_ID    default: from sts get-caller-identity
#   IMAGE_TAG         default: <version>-<git sha>; refused if the tree has changes,
#                     untracked files included
#   PLATFORMS         the image's platforms, published as one manifest list
#                                         default linux/amd64,linux/arm64
#   CONTAINER_ENGINE  podman (default) or docker
#   PUSH              engine (default): push with the engine; put-image: store the
#                     manifests with `aws ecr put-image` only (where no registry is
#                     reachable, as in the offline tests)
#   DEPLOY_TIMEOUT_S  seconds to wait for a stable service    default 900
#   POLL_S            seconds between checks                  default 10
#   ROLLBACK_ON_TIMEOUT  1: put the service back on the revision it ran when the
#                     wait times out (the circuit breaker rolls back failed tasks
#                     itself, not slow ones)                  default 0
#   AWS_ENDPOINT_URL  honoured (LocalStack, moto)
#
# Every input is checked, and the cluster, the service, its task definition
# family and the repository are looked up, before anything changes.
# --dry-run reads from AWS but changes nothing: it prints what it would do.
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=0
for arg in "$@"; do
    case "$arg" in
    --dry-run) dry_run=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "deploy: unknown argument $arg (try --help)" >&2
        exit 2
        ;;
    esac
done

AWS_REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
TASK_FAMILY=${TASK_FAMILY:-}
ECR_REPOSITORY=${ECR_REPOSITORY:-node-api}
ECS_CONTAINER=${ECS_CONTAINER:-node-api}
PLATFORMS=${PLATFORMS:-linux/amd64,linux/arm64}
CONTAINER_ENGINE=${CONTAINER_ENGINE:-podman}
PUSH=${PUSH:-engine}
DEPLOY_TIMEOUT_S=${DEPLOY_TIMEOUT_S:-900}
POLL_S=${POLL_S:-10}
ROLLBACK_ON_TIMEOUT=${ROLLBACK_ON_TIMEOUT:-0}

missing=()
for v in AWS_REGION CLUSTER SERVICE; do
    [ -n "${!v:-}" ] || missing+=("$v")
done
for tool in aws jq git; do
    command -v "$tool" >/dev/null || missing+=("the $tool command")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "deploy: missing inputs: ${missing[*]} (see scripts/deploy.sh --help)" >&2
    exit 2
fi

# Every input is checked before the first call: a typo must not leave a rollout half done.
bad=()
want() { # VAR, extended regex, what it must be
    [[ "${!1}" =~ $2 ]] || bad+=("$1 $(printf %q "${!1}") must be $3")
}
want DEPLOY_TIMEOUT_S '^[1-9][0-9]{0,5}$' "a whole number of seconds, 1 to 999999"
want POLL_S '^[1-9][0-9]{0,3}$' "a whole number of seconds, 1 to 9999"
want ROLLBACK_ON_TIMEOUT '^[01]$' "0 or 1"
want PUSH '^(engine|put-image)$' "engine or put-image"
want CONTAINER_ENGINE '^(podman|docker)$' "podman or docker"
want PLATFORMS '^linux/(amd64|arm64)(,linux/(amd64|arm64))?$' "linux/amd64, linux/arm64 or both, comma-separated"
[ "${PLATFORMS%,*}" != "${PLATFORMS#*,}" ] || [[ "$PLATFORMS" != *,* ]] ||
    bad+=("PLATFORMS $PLATFORMS must name each platform once")
want ECR_REPOSITORY '^[a-z0-9]+([._/-][a-z0-9]+)*$' "an ECR repository name"
want CLUSTER '^([A-Za-z0-9_-]{1,255}|arn:.+)$' "a cluster name or ARN"
want SERVICE '^([A-Za-z0-9_-]{1,255}|arn:.+)$' "a service name or ARN"
want AWS_REGION '^[a-z]{2}(-[a-z]+)+-[0-9]+$' "a region such as us-east-1"
[ -z "$TASK_FAMILY" ] || want TASK_FAMILY '^[A-Za-z0-9_-]{1,255}$' "a task definition family"
[ -z "${IMAGE_TAG:-}" ] || want IMAGE_TAG '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$' "an image tag"
[ -z "${AWS_ACCOUNT_ID:-}" ] || want AWS_ACCOUNT_ID '^[0-9]{12}$' "12 digits"
if [ "${#bad[@]}" -gt 0 ]; then
    printf 'deploy: %s\n' "${bad[@]}" >&2
    exit 2
fi

say() { echo "deploy: $*" >&2; }

# Every AWS call goes through here: region, endpoint override, JSON.
awsc() {
    aws --region "$AWS_REGION" ${AWS_ENDPOINT_URL:+--endpoint-url "$AWS_ENDPOINT_URL"} \
        --output json "$@"
}

# A call whose failure ends the deploy with AWS's own words, not a bare exit status.
must() {
    local out
    if ! out=$(awsc "$@" 2>&1); then
        say "FAILED: aws $1 $2: $(tail -n 3 <<<"$out" | tr -s '\n' ' ')"
        exit 1
    fi
    printf '%s\n' "$out"
}

# Calls that change something: printed, not run, in a dry run.
change() {
    if [ "$dry_run" = 1 ]; then
        printf 'deploy: would run:' >&2
        printf ' %q' "$@" >&2
        echo >&2
        return 0
    fi
    "$@"
}

# ---- the image's immutable tag ------------------------------------------------------------------
version=$(make -s print-version)
sha=$(git rev-parse --short=12 HEAD)
if [ -z "${IMAGE_TAG:-}" ]; then
    # Untracked files count: the Makefile builds every src/*.c and the image copies src/.
    dirty=$(git status --porcelain --untracked-files=all)
    if [ -n "$dirty" ]; then
        say "the working tree has changes that an image tagged $version-$sha would carry"
        say "and that commit does not: commit or remove them, or set IMAGE_TAG:"
        sed 's/^/deploy:   /' <<<"$dirty" | head -n 20 >&2
        exit 2
    fi
    IMAGE_TAG="$version-$sha"
fi

# ---- what runs now: cluster, service, its family, the repository --------------------------------
account=${AWS_ACCOUNT_ID:-$(must sts get-caller-identity | jq -r .Account)}
clusters=$(must ecs describe-clusters --clusters "$CLUSTER")
if [ "$(jq '[.clusters[] | select(.status == "ACTIVE")] | length' <<<"$clusters")" = 0 ]; then
    say "cluster $CLUSTER not found in $AWS_REGION (account $account): check CLUSTER"
    exit 2
fi
svc=$(must ecs describe-services --cluster "$CLUSTER" --services "$SERVICE" |
    jq '[.services[] | select(.status == "ACTIVE")][0] // empty')
if [ -z "$svc" ]; then
    say "service $SERVICE not found in cluster $CLUSTER: check SERVICE"
    exit 2
fi
previous=$(jq -r .taskDefinition <<<"$svc")
running=$(sed 's|.*task-definition/||; s|:[0-9]*$||' <<<"$previous")
TASK_FAMILY=${TASK_FAMILY:-$running}
if [ "$TASK_FAMILY" != "$running" ]; then
    say "task definition family $TASK_FAMILY is not the one $SERVICE runs ($running):"
    say "check TASK_FAMILY, or leave it unset to deploy the family the service runs"
    exit 2
fi
# Only a family that exists: a new one made from deploy/cli's template would carry its
# placeholder account, roles and secrets.
if ! current=$(awsc ecs describe-task-definition --task-definition "$TASK_FAMILY" 2>&1); then
    say "task definition family $TASK_FAMILY not found: $(tail -n 1 <<<"$current")"
    exit 2
fi
current=$(jq '.taskDefinition' <<<"$current")
if ! jq -e --arg N "$ECS_CONTAINER" 'any(.containerDefinitions[]; .name == $N)' \
    <<<"$current" >/dev/null; then
    say "$TASK_FAMILY has no container named $ECS_CONTAINER: check ECS_CONTAINER"
    exit 2
fi

registry="$account.dkr.ecr.$AWS_REGION.amazonaws.com"
image="$registry/$ECR_REPOSITORY:$IMAGE_TAG"
say "image $image ($PLATFORMS)"

# Absent is ImageNotFoundException; any other error (no such repository, expired
# credentials) is no reason to build, and is reported as it is.
present=0
if found=$(awsc ecr describe-images --repository-name "$ECR_REPOSITORY" \
    --image-ids imageTag="$IMAGE_TAG" 2>&1); then
    present=1
elif ! grep -q ImageNotFoundException <<<"$found"; then
    say "FAILED: aws ecr describe-images: $(tail -n 3 <<<"$found" | tr -s '\n' ' ')"
    exit 1
fi

# The architecture the family's tasks run must be in the image, or every task start fails with
# "exec format error" and the circuit breaker rolls back, minutes later.
arch=$(jq -r '.runtimePlatform.cpuArchitecture // "X86_64"' <<<"$current")
case $arch in
X86_64) need=linux/amd64 ;;
ARM64) need=linux/arm64 ;;
*) say "$TASK_FAMILY runs cpuArchitecture $arch, which this image is not built for"; exit 2 ;;
esac
if [ "$present" = 0 ] && [[ ",$PLATFORMS," != *",$need,"* ]]; then
    say "PLATFORMS $PLATFORMS has no $need, the architecture $TASK_FAMILY runs" \
        "(runtimePlatform.cpuArchitecture $arch): add it"
    exit 2
fi
if [ "$present" = 1 ]; then
    # What the tag holds: a manifest list names its platforms; a single image is taken as
    # the one it is (its architecture is in its config, which put-image never checked).
    got=$(must ecr batch-get-image --repository-name "$ECR_REPOSITORY" \
        --image-ids imageTag="$IMAGE_TAG" --accepted-media-types \
        application/vnd.docker.distribution.manifest.list.v2+json \
        application/vnd.oci.image.index.v1+json \
        application/vnd.docker.distribution.manifest.v2+json \
        application/vnd.oci.image.manifest.v1+json |
        jq -r '.images[0].imageManifest // "{}" | fromjson
               | if .manifests then [.manifests[] | .platform // {}
                                     | "\(.os // "?")/\(.architecture // "?")"] | join(",")
                 else "single" end')
    # A single image names no architecture in its manifest; deploy.sh pushed those (before
    # lists) for linux/amd64 only, so that is what one is taken to be.
    if [ "$got" = single ] && [ "$need" != linux/amd64 ]; then
        say "$IMAGE_TAG in $ECR_REPOSITORY is a single image (taken as linux/amd64, as" \
            "deploy.sh pushed them before manifest lists), and $TASK_FAMILY runs" \
            "cpuArchitecture $arch: deploy a new tag, built with PLATFORMS including $need"
        exit 2
    fi
    if [ "$got" != single ] && [[ ",$got," != *",$need,"* ]]; then
        say "$IMAGE_TAG in $ECR_REPOSITORY has no $need image (it holds ${got:-none}), which" \
            "$TASK_FAMILY runs (runtimePlatform.cpuArchitecture $arch): tags are immutable:" \
            "deploy a new tag, built with PLATFORMS including $need"
        exit 2
    fi
fi

# ---- the image: one per platform, published under the tag as one manifest list -----------------
# put-image under a tag. The same manifest already there is an earlier try's push (one that
# stopped before the list went in), and done; another one under the immutable tag is a stop
# that says how to get past it.
put_image() {
    local out
    if out=$(awsc ecr put-image --repository-name "$ECR_REPOSITORY" --image-tag "$1" \
        --image-manifest "$2" 2>&1); then
        return 0
    fi
    if grep -q ImageAlreadyExistsException <<<"$out"; then
        say "$1 already holds this image (pushed by an earlier try): kept"
        return 0
    fi
    if grep -q ImageTagAlreadyExistsException <<<"$out"; then
        say "FAILED: $1 is already in $ECR_REPOSITORY with another image, and tags are" \
            "immutable: remove it (aws ecr batch-delete-image --repository-name" \
            "$ECR_REPOSITORY --image-ids imageTag=$1) or deploy a new IMAGE_TAG"
        exit 1
    fi
    say "FAILED: aws ecr put-image: $(tail -n 3 <<<"$out" | tr -s '\n' ' ')"
    exit 1
}

# The manifest of a locally built image, without its layers: what put-image stores.
manifest_of() {
    "$CONTAINER_ENGINE" image inspect "$1" | jq -c '.[0] | {schemaVersion: 2,
        mediaType: "application/vnd.docker.distribution.manifest.v2+json",
        config: {mediaType: "application/vnd.docker.container.image.v1+json",
                 digest: ("sha256:" + (.Id | sub("^sha256:"; ""))), size: 0},
        layers: [.RootFS.Layers[] | {mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
                 digest: ., size: 0}]}'
}

if [ "$present" = 1 ]; then
    # Tags are immutable: the same tag is the same image, already there.
    say "$IMAGE_TAG is already in $ECR_REPOSITORY: not building or pushing"
else
    IFS=, read -r -a platforms <<<"$PLATFORMS"
    local_tags=()
    for p in "${platforms[@]}"; do
        local_tag="$ECR_REPOSITORY:$IMAGE_TAG-${p#linux/}"
        local_tags+=("$local_tag")
        if [ "$dry_run" = 1 ]; then
            change scripts/image.sh "$local_tag" "$p"
        else
            say "building $local_tag for $p"
            CONTAINER_ENGINE=$CONTAINER_ENGINE scripts/image.sh "$local_tag" "$p" >/dev/null
        fi
    done
    if [ "$PUSH" = engine ]; then
        if [ "$dry_run" = 0 ]; then
            must ecr get-login-password |
                "$CONTAINER_ENGINE" login --username AWS --password-stdin "$registry" >/dev/null
        fi
        # Each platform's image keeps its own tag (<tag>-amd64, <tag>-arm64), so that the
        # lifecycle rule on untagged images never expires what the list points to.
        for t in "${local_tags[@]}"; do
            change "$CONTAINER_ENGINE" tag "$t" "$registry/$t"
            change "$CONTAINER_ENGINE" push "$registry/$t"
        done
        if [ "$CONTAINER_ENGINE" = podman ]; then
            # A list left by an interrupted try would make `manifest create` refuse.
            [ "$dry_run" = 1 ] || podman manifest rm "$image" >/dev/null 2>&1 || true
            change podman manifest create "$image"
            for t in "${local_tags[@]}"; do
                change podman manifest add "$image" "docker://$registry/$t"
            done
            change podman manifest push --format v2s2 "$image" "docker://$image"
        else
            change docker manifest create --amend "$image" "${local_tags[@]/#/$registry/}"
            change docker manifest push "$image"
        fi
    else
        # Each platform's manifest by digest, then the list that names them, under the tag.
        entries=()
        for i in "${!platforms[@]}"; do
            p=${platforms[$i]}
            m='{}'
            [ "$dry_run" = 1 ] || m=$(manifest_of "${local_tags[$i]}")
            change put_image "$IMAGE_TAG-${p#linux/}" "$m"
            digest="sha256:$(printf %s "$m" | sha256sum | cut -d' ' -f1)"
            entries+=("$(jq -nc --arg d "$digest" --arg a "${p#linux/}" --argjson n "${#m}" \
                '{mediaType: "application/vnd.docker.distribution.manifest.v2+json",
                  digest: $d, size: $n, platform: {architecture: $a, os: "linux"}}')")
        done
        list=$(printf '%s\n' "${entries[@]}" | jq -sc '{schemaVersion: 2,
            mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
            manifests: .}')
        change put_image "$IMAGE_TAG" "$list"
    fi
fi

# ---- a task definition revision with the new image ----------------------------------------------
# Only the image and APP_VERSION change; what describe adds that register refuses goes.
next=$(jq --arg N "$ECS_CONTAINER" --arg I "$image" --arg V "$IMAGE_TAG" '
    (.containerDefinitions[] | select(.name == $N)) |= (
        .image = $I
        | .environment = ([(.environment // [])[] | select(.name != "APP_VERSION")]
                          + [{name: "APP_VERSION", value: $V}]))
    | del(.taskDefinitionArn, .revision, .status, .requiresAttributes, .compatibilities,
          .registeredAt, .registeredBy, .deregisteredAt)' <<<"$current")
if [ "$dry_run" = 1 ]; then
    change awsc ecs register-task-definition --cli-input-json "$(jq -c . <<<"$next")"
    change awsc ecs update-service --cluster "$CLUSTER" --service "$SERVICE" \
        --task-definition "$TASK_FAMILY:<new revision>"
    say "dry run: nothing changed"
    exit 0
fi
arn=$(must ecs register-task-definition --cli-input-json "$next" |
    jq -r .taskDefinition.taskDefinitionArn)
say "registered $arn"

# ---- roll it out, and wait ----------------------------------------------------------------------
must ecs update-service --cluster "$CLUSTER" --service "$SERVICE" --task-definition "$arn" \
    >/dev/null
say "updating $SERVICE from $previous; waiting up to $DEPLOY_TIMEOUT_S s for it to be stable"

deadline=$((SECONDS + DEPLOY_TIMEOUT_S))
while :; do
    svc=$(must ecs describe-services --cluster "$CLUSTER" --services "$SERVICE" | jq '.services[0]')
    # After a circuit-breaker rollback ECS makes a new PRIMARY on the old revision: the
    # failed deployment, with its reason, is the one on ours.
    state=$(jq -r --arg A "$arn" '
        [.deployments[] | select(.status == "PRIMARY")][0] as $p
        | if ($p.rolloutState // "") == "FAILED"
             or any(.deployments[]; .taskDefinition == $A and .rolloutState == "FAILED")
          then "failed"
          elif .taskDefinition != $A then "rolled-back"
          elif ($p.rolloutState // "") == "COMPLETED" and (.deployments | length) == 1
               and .runningCount == .desiredCount then "stable"
          else "waiting" end' <<<"$svc")
    case "$state" in
    stable)
        say "deployed $image ($arn)"
        exit 0
        ;;
    failed | rolled-back)
        reason=$(jq -r --arg A "$arn" '
            [.deployments[] | select(.taskDefinition == $A and .rolloutState == "FAILED")][0]
                .rolloutStateReason
            // [.deployments[] | select(.status == "PRIMARY")][0].rolloutStateReason
            // "the service went back to another task definition"' <<<"$svc")
        # A deployment alarm may be what rolled it back: name the ones in ALARM.
        alarms=$(jq -r '.deploymentConfiguration.alarms | select(.enable == true)
            | .alarmNames[]?' <<<"$svc")
        firing=""
        if [ -n "$alarms" ]; then
            # shellcheck disable=SC2086 # one argument per alarm name
            firing=$(awsc cloudwatch describe-alarms --state-value ALARM --alarm-names $alarms \
                2>/dev/null | jq -r '[(.MetricAlarms[]?, .CompositeAlarms[]?)
                | select(.StateValue == "ALARM") | .AlarmName] | join(", ")') || firing=""
        fi
        if [ -n "$firing" ]; then
            say "FAILED: rolled back by the deployment alarm(s) $firing (in ALARM): $reason"
        else
            say "FAILED: the deployment circuit breaker rolled back: $reason"
        fi
        say "the service runs $(jq -r .taskDefinition <<<"$svc")"
        exit 1
        ;;
    esac
    if [ "$SECONDS" -ge "$deadline" ]; then
        say "FAILED: $SERVICE not stable after $DEPLOY_TIMEOUT_S s (see aws ecs describe-services)"
        if [ "$ROLLBACK_ON_TIMEOUT" = 1 ]; then
            must ecs update-service --cluster "$CLUSTER" --service "$SERVICE" \
                --task-definition "$previous" >/dev/null
            say "rolled back to $previous (ROLLBACK_ON_TIMEOUT=1)"
        else
            say "the service stays on $arn; ROLLBACK_ON_TIMEOUT=1 puts it back on $previous"
        fi
        exit 1
    fi
    sleep "$POLL_S"
done
