"""A strict validator for CloudWatch Embedded Metric Format (EMF) log lines.

Rules come from the AWS page "Specification: Embedded metric format" (CloudWatch User Guide),
cited as [spec: section]. Where the spec defers to CloudWatch, limits come from the CloudWatch API
reference (MetricDatum, Dimension, Metric/PutMetricData: [api: type]) and the CloudWatch Logs
PutLogEvents page ([logs: PutLogEvents]). The few checks the spec leaves open follow what the
awslabs aws-embedded-metrics libraries enforce ([libs]) and say so. Where two sources disagree the
stricter limit is used, so a line that passes here passes under either reading.

validate(line) returns the parsed document or raises EmfError naming the first rule broken.
"""

import json
import math
import time


class EmfError(AssertionError):
    """An EMF rule broken; an AssertionError so that unittest reports a failure, not an error."""


# [spec: document structure] "limited to a maximum size of 256 KB" (the English page as archived
# and [logs: PutLogEvents] older text). Newer translations of both pages say 1 MB; 256 KB is the
# stricter, so it is the one checked. Counted in UTF-8 bytes, as PutLogEvents counts messages.
MAX_EVENT_BYTES = 256 * 1024
MAX_METRICS = 100  # [spec: MetricDirective] Metrics "MUST NOT contain more than 100"
MAX_DIMENSION_KEYS = 30  # [spec: DimensionSet] (9 in older spec text); [api: MetricDatum] 30 items
MAX_VALUES = 100  # [spec: Target members] numeric arrays "MUST NOT have more than 100 members"
MAX_NAME = 255  # [spec: JSON schema] Namespace, DimensionReference, MetricName maxLength 255;
#                 [api: Metric, Dimension] the same 255 for Namespace, MetricName, dimension Name
MAX_DIMENSION_VALUE = 1024  # [api: Dimension] Value "Maximum length of 1024"
MAX_PAST_MS = 14 * 24 * 3600 * 1000  # [logs: PutLogEvents] "more than 14 days in the past"
MAX_FUTURE_MS = 2 * 3600 * 1000  # [logs: PutLogEvents] "more than 2 hours in the future"
# [api: MetricDatum] Value: "CloudWatch rejects values that are either too small or too large ...
# 8.515920e-109 to 1.174271e+108 (Base 10)"; newer text says -2^360..2^360, which is wider.
VALUE_MIN, VALUE_MAX = 8.515920e-109, 1.174271e108
# [spec: MetricDefinition] Unit "SHOULD be valid CloudWatch metric units"; [api: MetricDatum] list,
# and the spec's JSON schema pattern lists exactly these.
UNITS = frozenset((
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
    "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
    "Count/Second", "None"))
RESOLUTIONS = (1, 60)  # [spec: MetricDefinition] StorageResolution; [api: MetricDatum] "1 and 60"
# [spec: document structure] "Unless otherwise noted, objects defined by this specification MUST
# NOT contain any additional members." Only the root node is noted otherwise ("MAY contain").
METADATA_MEMBERS = {"Timestamp", "CloudWatchMetrics"}
DIRECTIVE_MEMBERS = {"Namespace", "Dimensions", "Metrics"}
DEFINITION_MEMBERS = {"Name", "Unit", "StorageResolution"}


def _fail(message):
    raise EmfError(message)


def _is_number(v):
    # Python's bool is an int, but JSON true/false are not numbers.
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _unique_pairs(pairs):
    # RFC 8259: names "SHOULD be unique"; with a repeat, which value CloudWatch reads is unspecified.
    out = {}
    for k, v in pairs:
        if k in out:
            _fail(f"duplicate member {k!r} in one object")
        out[k] = v
    return out


def _no_constant(name):
    # Python's json accepts NaN/Infinity, which are not JSON (RFC 8259 section 6).
    _fail(f"{name} is not a JSON number")


def _members(what, obj, allowed, required):
    if not isinstance(obj, dict):
        _fail(f"{what} must be an object")
    for k in required:
        if k not in obj:
            _fail(f"{what} must contain {k!r}")
    extra = sorted(set(obj) - allowed)
    if extra:
        _fail(f"{what} must not contain additional members: {extra}")


def _text(what, s, maxlen, ascii_only=True):
    # [api: Dimension] names and values "must contain only ASCII characters, must include at least
    # one non-whitespace character"; "ASCII control characters are not supported". [api: PutMetricData]
    # Namespace: "ASCII characters ... except for control characters".
    if not isinstance(s, str):
        _fail(f"{what} must be a string, not {type(s).__name__}")
    if not 1 <= len(s) <= maxlen:
        _fail(f"{what} must be 1..{maxlen} characters, is {len(s)}")
    if not s.strip():
        _fail(f"{what} must include a non-whitespace character")
    if ascii_only and (not s.isascii() or any(ord(c) < 32 or ord(c) == 127 for c in s)):
        _fail(f"{what} must be printable ASCII: {s[:40]!r}")


def _value(what, v):
    # [spec: Target members] "A metric target MUST be a numeric value or an array of numeric values."
    if not _is_number(v):
        _fail(f"{what} must be a number, not {type(v).__name__}")
    if not math.isfinite(v):  # [api: MetricDatum] "NaN, +Infinity, -Infinity are not supported"
        _fail(f"{what} must be finite")
    if v and not VALUE_MIN <= abs(v) <= VALUE_MAX:
        _fail(f"{what} {v!r} is outside CloudWatch's range")


def _dimension_set(i, dset, doc):
    what = f"directive {i} DimensionSet"
    if not isinstance(dset, list):  # [spec: DimensionSet] "an array of strings"
        _fail(f"{what} must be an array")
    if len(dset) > MAX_DIMENSION_KEYS:  # [spec: DimensionSet] "MUST NOT contain more than 30"
        _fail(f"{what} has {len(dset)} keys, more than {MAX_DIMENSION_KEYS}")
    seen = set()
    for key in dset:
        _text(f"dimension key {key!r}", key, MAX_NAME)
        if key.startswith(":"):  # [api: Dimension] names "cannot start with a colon (:)"
            _fail(f"dimension key {key!r} must not start with ':'")
        if key in seen:  # a metric's identity has each dimension name once [api: Dimension]
            _fail(f"dimension key {key!r} repeated in one DimensionSet")
        seen.add(key)
        if key not in doc:  # [spec: DimensionSet] "MUST also be members on the root-node"
            _fail(f"dimension key {key!r} is not a member of the root node")
        # [spec: DimensionSet] "The target member MUST have a string value"; length per [api].
        _text(f"dimension {key!r} value", doc[key], MAX_DIMENSION_VALUE)


def _definition(i, mdef, doc, names, resolutions):
    _members(f"directive {i} MetricDefinition", mdef, DEFINITION_MEMBERS, ("Name",))
    name = mdef["Name"]
    # [spec: MetricDefinition] Name: "A string"; length per [spec: JSON schema] and [api: MetricDatum].
    _text(f"metric name {name!r}", name, MAX_NAME, ascii_only=False)
    if name in names:  # [libs] one value per name per directive; a repeat would double-count it
        _fail(f"metric {name!r} defined twice in directive {i}")
    names.add(name)
    if name not in doc:  # [spec: root node] "MUST contain all Target members"
        _fail(f"metric {name!r} is not a member of the root node")
    v = doc[name]
    if isinstance(v, list):
        # [spec: Target members] "MUST NOT have more than 100 members"; an empty one carries no value.
        if not 1 <= len(v) <= MAX_VALUES:
            _fail(f"metric {name!r} array must have 1..{MAX_VALUES} values, has {len(v)}")
        for j, x in enumerate(v):
            _value(f"metric {name!r} value {j}", x)
    else:
        _value(f"metric {name!r} value", v)
    if "Unit" in mdef and (not isinstance(mdef["Unit"], str) or mdef["Unit"] not in UNITS):
        _fail(f"metric {name!r} Unit {mdef['Unit']!r} is not a CloudWatch unit")
    res = mdef.get("StorageResolution", 60)  # [spec] "a default value of 60 is assumed"
    if type(res) is not int or res not in RESOLUTIONS:  # [spec] "An OPTIONAL integer value", 1 or 60
        _fail(f"metric {name!r} StorageResolution {res!r} must be the integer 1 or 60")
    if resolutions.setdefault(name, res) != res:  # [libs] one resolution per metric per event
        _fail(f"metric {name!r} has two storage resolutions in one event")


def validate(line, now_ms=None):
    """The parsed EMF document in one log line; EmfError names the first rule it breaks."""
    if not isinstance(line, str):
        _fail("a log line must be a str")
    try:
        size = len(line.encode("utf-8"))
    except UnicodeEncodeError:  # [spec] "a valid JSON object" (RFC 8259 section 8.1: UTF-8)
        raise EmfError("the line is not encodable as UTF-8") from None
    if size > MAX_EVENT_BYTES:
        _fail(f"event is {size} bytes, more than {MAX_EVENT_BYTES}")
    try:
        # [spec: root node] "a valid JSON object with no additional data at the beginning or end"
        doc = json.loads(line, object_pairs_hook=_unique_pairs, parse_constant=_no_constant)
    except ValueError as e:
        raise EmfError(f"not one JSON text: {e}") from None
    if not isinstance(doc, dict):
        _fail("the root node must be a JSON object")
    # [spec: root node] "MUST contain the following top-level member ... _aws"; [spec: Metadata
    # object] "The value MUST be an object and MUST contain" CloudWatchMetrics and Timestamp.
    _members("the root node", doc, set(doc), ("_aws",))
    meta = doc["_aws"]
    _members("_aws", meta, METADATA_MEMBERS, ("Timestamp", "CloudWatchMetrics"))
    ts = meta["Timestamp"]
    # [spec: Metadata object] "milliseconds after Jan 1, 1970"; the spec's schema: "integer".
    if not _is_number(ts) or not math.isfinite(ts) or ts != int(ts) or ts < 0:
        _fail(f"Timestamp {ts!r} must be a non-negative integer number of milliseconds")
    now = time.time() * 1000 if now_ms is None else now_ms
    if ts < now - MAX_PAST_MS or ts > now + MAX_FUTURE_MS:
        _fail(f"Timestamp {ts} is more than 14 days before or 2 hours after now ({now:.0f})")
    directives = meta["CloudWatchMetrics"]
    # [spec: Metadata object] "An array of MetricDirective"; an empty one extracts nothing.
    if not isinstance(directives, list) or not directives:
        _fail("CloudWatchMetrics must be a non-empty array")
    resolutions = {}
    for i, d in enumerate(directives):
        _members(f"directive {i}", d, DIRECTIVE_MEMBERS, ("Namespace", "Dimensions", "Metrics"))
        ns = d["Namespace"]
        _text(f"directive {i} Namespace", ns, MAX_NAME)
        if ns.startswith(":"):  # [api: Metric] Namespace "Pattern: [^:].*"
            _fail(f"directive {i} Namespace must not start with ':'")
        if ns.startswith("AWS/"):  # [api: PutMetricData] "AWS/" is reserved for AWS services
            _fail(f"directive {i} Namespace must not start with 'AWS/'")
        dims = d["Dimensions"]
        # [spec: MetricDirective] "A DimensionSet array"; the spec's schema: "minItems": 1.
        if not isinstance(dims, list) or not dims:
            _fail(f"directive {i} Dimensions must be a non-empty array of DimensionSets")
        for dset in dims:
            _dimension_set(i, dset, doc)
        metrics = d["Metrics"]
        if not isinstance(metrics, list):  # [spec: MetricDirective] "An array of MetricDefinition"
            _fail(f"directive {i} Metrics must be an array")
        if len(metrics) > MAX_METRICS:
            _fail(f"directive {i} has {len(metrics)} metrics, more than {MAX_METRICS}")
        names = set()
        for mdef in metrics:
            _definition(i, mdef, doc, names, resolutions)
    return doc


def metric_values(doc):
    """{metric name: value (a number or a list)} for every metric the directives define."""
    return {m["Name"]: doc[m["Name"]]
            for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def dimension_sets(doc):
    """[{dimension key: value}, ...], one per DimensionSet, in document order."""
    return [{k: doc[k] for k in dset}
            for d in doc["_aws"]["CloudWatchMetrics"] for dset in d["Dimensions"]]
