"""Rules on the ECR repository, its lifecycle policy as ECR evaluates it, and the log group."""

from .common import LOG_RETENTION_DAYS, as_int


def check_repository(m, report):
    ecr, where = m["ecr"] or {}, m["files"]["ecr"]
    if ecr.get("imageTagMutability") != "IMMUTABLE":
        report.add(where, "ecr", "image tags must be IMMUTABLE")
    if (ecr.get("imageScanningConfiguration") or {}).get("scanOnPush") is not True:
        report.add(where, "ecr", "scanOnPush must be on")


def check_lifecycle(m, report):
    """ECR evaluates rules from the lowest rulePriority; a `tagStatus: any` rule must come
    last, and each selection must be complete, or PutLifecyclePolicy is refused."""
    doc, where = m["lifecycle"], m["files"]["lifecycle"]
    if doc is None:
        report.add(where, "lifecycle", "no lifecycle policy: untagged images pile up")
        return
    rules = [r for r in doc.get("rules") or [] if isinstance(r, dict)]
    if not rules:
        report.add(where, "lifecycle", "the lifecycle policy has no rules")
        return
    prios = [as_int(r.get("rulePriority")) for r in rules]
    if None in prios or len(set(prios)) != len(prios):
        report.add(where, "lifecycle", f"rulePriority values {prios} must be distinct integers")
    ordered = sorted((r for r in rules if as_int(r.get("rulePriority")) is not None),
                     key=lambda r: as_int(r["rulePriority"]))
    for i, r in enumerate(ordered):
        sel = r.get("selection") or {}
        p = r.get("rulePriority")
        status = sel.get("tagStatus")
        if status == "any" and i != len(ordered) - 1:
            report.add(where, "lifecycle", f"rule {p}: tagStatus any must have the highest "
                                           "rulePriority (it is evaluated last)")
        if status == "tagged" and not (sel.get("tagPrefixList") or sel.get("tagPatternList")):
            report.add(where, "lifecycle", f"rule {p}: tagStatus tagged needs a tagPrefixList or "
                                           "tagPatternList")
        if status != "tagged" and (sel.get("tagPrefixList") or sel.get("tagPatternList")):
            report.add(where, "lifecycle", f"rule {p}: a tag list is only for tagStatus tagged")
        kind = sel.get("countType")
        if kind == "sinceImagePushed" and sel.get("countUnit") != "days":
            report.add(where, "lifecycle", f"rule {p}: countType sinceImagePushed needs countUnit "
                                           "days")
        if kind == "imageCountMoreThan" and "countUnit" in sel:
            report.add(where, "lifecycle", f"rule {p}: countType imageCountMoreThan takes no "
                                           "countUnit")
        if (as_int(sel.get("countNumber")) or 0) < 1:
            report.add(where, "lifecycle", f"rule {p}: countNumber must be 1 or more")
        if (r.get("action") or {}).get("type") != "expire":
            report.add(where, "lifecycle", f"rule {p}: action type must be expire")


def check_log_group(m, report):
    log = m["log_group"] or {}
    where = log.get("retention_file") or m["files"]["log_group"]
    days = log.get("retention")
    if days is None:
        report.add(where, "logs", "the log group has no retention: logs would be kept forever")
    elif as_int(days) not in LOG_RETENTION_DAYS:
        report.add(where, "logs", f"retention {days} days is not one CloudWatch accepts "
                                  f"({', '.join(str(d) for d in sorted(LOG_RETENTION_DAYS))})")
