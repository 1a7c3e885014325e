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
#   TASK_FAMILY       task definition family           default node-api-task
#   ECR_REPOSITORY    repository name                  default node-api
#   ECS_CONTAINER    container to update              default node-api
#   AWS_ACCOUNT_ID    default: from sts get-caller-identity
#   IMAGE_TAG         default: <version>-<git sha>; refused if the tree has changes
#   CONTAINER_ENGINE  podman (default) or docker
#   PUSH              engine (default): push with the engine; put-image: store the
#                     manifest with `aws ecr put-image` only (where no registry is
#                     reachable, as in the offline tests)
#   DEPLOY_TIMEOUT_S  how long to wait for a stable service   default 900
#   POLL_S            between checks                          default 10
#   AWS_ENDPOINT_URL  honoured (LocalStack, moto)
#
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
TASK_FAMILY=${TASK_FAMILY:-node-api-task}
ECR_REPOSITORY=${ECR_REPOSITORY:-node-api}
ECS_CONTAINER=${ECS_CONTAINER:-node-api}
CONTAINER_ENGINE=${CONTAINER_ENGINE:-podman}
PUSH=${PUSH:-engine}
DEPLOY_TIMEOUT_S=${DEPLOY_TIMEOUT_S:-900}
POLL_S=${POLL_S:-10}

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
case "$PUSH" in engine | put-image) ;; *)
    echo "deploy: PUSH must be engine or put-image, not $PUSH" >&2
    exit 2
    ;;
esac

say() { echo "deploy: $*" >&2; }

# Every AWS call goes through here: region, endpoint override, JSON.
awsc() {
    aws --region "$AWS_REGION" ${AWS_ENDPOINT_URL:+--endpoint-url "$AWS_ENDPOINT_URL"} \
        --output json "$@"
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

# ---- the image and its immutable tag ------------------------------------------------------------
version=$(make -s print-version)
sha=$(git rev-parse --short=12 HEAD)
if [ -z "${IMAGE_TAG:-}" ]; then
    if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
        say "the working tree has uncommitted changes: an image tagged $version-$sha would not be"
        say "that commit. Commit first, or set IMAGE_TAG."
        exit 2
    fi
    IMAGE_TAG="$version-$sha"
fi
account=${AWS_ACCOUNT_ID:-$(awsc sts get-caller-identity | jq -r .Account)}
registry="$account.dkr.ecr.$AWS_REGION.amazonaws.com"
image="$registry/$ECR_REPOSITORY:$IMAGE_TAG"
say "image $image"

if awsc ecr describe-images --repository-name "$ECR_REPOSITORY" \
    --image-ids imageTag="$IMAGE_TAG" >/dev/null 2>&1; then
    # Tags are immutable: the same tag is the same image, already there.
    say "$IMAGE_TAG is already in $ECR_REPOSITORY: not building or pushing"
else
    if [ "$dry_run" = 1 ]; then
        change scripts/image.sh "$ECR_REPOSITORY:$IMAGE_TAG"
    else
        CONTAINER_ENGINE=$CONTAINER_ENGINE scripts/image.sh "$ECR_REPOSITORY:$IMAGE_TAG" >/dev/null
    fi
    if [ "$PUSH" = engine ]; then
        change "$CONTAINER_ENGINE" tag "$ECR_REPOSITORY:$IMAGE_TAG" "$image"
        if [ "$dry_run" = 0 ]; then
            awsc ecr get-login-password |
                "$CONTAINER_ENGINE" login --username AWS --password-stdin "$registry" >/dev/null
        fi
        change "$CONTAINER_ENGINE" push "$image"
    else
        # The image's own manifest, stored without its layers: the offline stand-in for a push.
        manifest=""
        if [ "$dry_run" = 0 ]; then
            inspect=$("$CONTAINER_ENGINE" image inspect "$ECR_REPOSITORY:$IMAGE_TAG")
            manifest=$(jq -c '.[0] | {schemaVersion: 2,
                mediaType: "application/vnd.docker.distribution.manifest.v2+json",
                config: {mediaType: "application/vnd.docker.container.image.v1+json",
                         digest: ("sha256:" + (.Id | sub("^sha256:"; ""))), size: 0},
                layers: [.RootFS.Layers[] | {mediaType:
                         "application/vnd.docker.image.rootfs.diff.tar.gzip",
                         digest: ., size: 0}]}' <<<"$inspect")
        fi
        change awsc ecr put-image --repository-name "$ECR_REPOSITORY" --image-tag "$IMAGE_TAG" \
            --image-manifest "$manifest" >/dev/null
    fi
fi

# ---- a task definition revision with the new image ----------------------------------------------
if current=$(awsc ecs describe-task-definition --task-definition "$TASK_FAMILY" 2>/dev/null); then
    current=$(jq '.taskDefinition' <<<"$current")
else
    say "no $TASK_FAMILY yet: starting from deploy/cli/task-definition.json"
    current=$(jq --arg F "$TASK_FAMILY" '.family = $F' deploy/cli/task-definition.json)
fi
if ! jq -e --arg N "$ECS_CONTAINER" 'any(.containerDefinitions[]; .name == $N)' \
    <<<"$current" >/dev/null; then
    say "$TASK_FAMILY has no container named $ECS_CONTAINER"
    exit 1
fi
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
arn=$(awsc ecs register-task-definition --cli-input-json "$next" |
    jq -r .taskDefinition.taskDefinitionArn)
say "registered $arn"

# ---- roll it out, and wait ----------------------------------------------------------------------
awsc ecs update-service --cluster "$CLUSTER" --service "$SERVICE" --task-definition "$arn" \
    >/dev/null
say "updating $SERVICE; waiting up to $DEPLOY_TIMEOUT_S s for it to be stable"

deadline=$((SECONDS + DEPLOY_TIMEOUT_S))
while :; do
    svc=$(awsc ecs describe-services --cluster "$CLUSTER" --services "$SERVICE" | jq '.services[0]')
    state=$(jq -r --arg A "$arn" '
        [.deployments[] | select(.status == "PRIMARY")][0] as $p
        | if ($p.rolloutState // "") == "FAILED" then "failed"
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
        reason=$(jq -r '[.deployments[] | select(.status == "PRIMARY")][0].rolloutStateReason
                        // "the service went back to another task definition"' <<<"$svc")
        say "FAILED: the deployment circuit breaker rolled back: $reason"
        exit 1
        ;;
    esac
    if [ "$SECONDS" -ge "$deadline" ]; then
        say "FAILED: $SERVICE not stable after $DEPLOY_TIMEOUT_S s (see aws ecs describe-services)"
        exit 1
    fi
    sleep "$POLL_S"
done
