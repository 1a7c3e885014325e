"""The EMF validator itself: it accepts valid documents and rejects each kind of invalid one.

No server is started; these only run emf.validate on hand-made lines, so that a check of the
service's EMF output that passes means the output is valid, not that the validator is lax.
"""

import copy
import json
import time
import unittest

import emf
from emf import EmfError, dimension_sets, metric_values, validate

NOW = int(time.time() * 1000)


def doc():
    """A valid document that uses every optional feature once."""
    return {
        "_aws": {
            "Timestamp": NOW,
            "CloudWatchMetrics": [{
                "Namespace": "node-api",
                "Dimensions": [["service"], ["service", "task_revision"], []],
                "Metrics": [
                    {"Name": "Requests", "Unit": "Count"},
                    {"Name": "Latency", "Unit": "Milliseconds", "StorageResolution": 60},
                    {"Name": "Fast", "StorageResolution": 1},
                ],
            }],
        },
        "service": "node-api",
        "task_revision": "7",
        "Requests": 12,
        "Latency": [0.5, 1.25, 0.0],
        "Fast": -3.5,
        "level": "info",
        "nested": {"any": [1, None, True]},
    }


def line(d):
    return json.dumps(d, separators=(",", ":"))


class Accepts(unittest.TestCase):
    def test_full_document(self):
        d = doc()
        self.assertEqual(validate(line(d)), d)

    def test_minimal_document(self):
        validate(line({"_aws": {"Timestamp": NOW, "CloudWatchMetrics": [
            {"Namespace": "n", "Dimensions": [[]], "Metrics": []}]}}))

    def test_whitespace_around_the_json_text(self):
        validate(" \t" + json.dumps(doc(), indent=2) + "\n")

    def test_integer_valued_float_timestamp(self):
        d = doc()
        d["_aws"]["Timestamp"] = float(NOW)
        validate(line(d))

    def test_every_unit(self):
        for unit in sorted(emf.UNITS):
            d = doc()
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = unit
            validate(line(d))

    def test_limits_exactly(self):
        d = doc()
        keys = [f"k{i}" for i in range(emf.MAX_DIMENSION_KEYS)]
        d.update({k: "v" for k in keys})
        d["k0"] = "v" * emf.MAX_DIMENSION_VALUE
        names = ["m" * emf.MAX_NAME] + [f"m{i}" for i in range(emf.MAX_METRICS - 1)]
        d.update({n: 1 for n in names})
        d[names[1]] = [1.5] * emf.MAX_VALUES
        d["_aws"]["CloudWatchMetrics"].append({
            "Namespace": "n" * emf.MAX_NAME, "Dimensions": [keys],
            "Metrics": [{"Name": n} for n in names]})
        validate(line(d))

    def test_size_limit_exactly(self):
        d = doc()
        d["pad"] = ""
        d["pad"] = "x" * (emf.MAX_EVENT_BYTES - len(line(d).encode()))
        self.assertEqual(len(line(d).encode()), emf.MAX_EVENT_BYTES)
        validate(line(d))

    def test_timestamp_window_edges(self):
        for ts in (NOW - emf.MAX_PAST_MS, NOW + emf.MAX_FUTURE_MS):
            d = doc()
            d["_aws"]["Timestamp"] = ts
            validate(line(d), now_ms=NOW)

    def test_same_metric_in_two_directives(self):
        d = doc()
        d["_aws"]["CloudWatchMetrics"].append(
            {"Namespace": "other", "Dimensions": [[]], "Metrics": [{"Name": "Requests"}]})
        validate(line(d))

    def test_helpers(self):
        d = validate(line(doc()))
        self.assertEqual(metric_values(d), {"Requests": 12, "Latency": [0.5, 1.25, 0.0], "Fast": -3.5})
        self.assertEqual(dimension_sets(d), [
            {"service": "node-api"}, {"service": "node-api", "task_revision": "7"}, {}])


def directive(d):
    return d["_aws"]["CloudWatchMetrics"][0]


def definition(d, i=0):
    return directive(d)["Metrics"][i]


class Rejects(unittest.TestCase):
    def rejects(self, text, fragment):
        with self.assertRaises(EmfError) as cm:
            validate(text, now_ms=NOW)
        self.assertIn(fragment, str(cm.exception))
        self.assertIsInstance(cm.exception, AssertionError)

    def mutated(self, change, fragment):
        d = copy.deepcopy(doc())
        change(d)
        self.rejects(line(d), fragment)

    def test_not_json(self):
        self.rejects("{", "not one JSON text")
        self.rejects("", "not one JSON text")

    def test_data_before_or_after(self):
        self.rejects("START " + line(doc()), "not one JSON text")
        self.rejects(line(doc()) + " END", "not one JSON text")
        self.rejects(line(doc()) + line(doc()), "not one JSON text")

    def test_root_not_object(self):
        self.rejects("[" + line(doc()) + "]", "root node must be a JSON object")
        self.rejects("1", "root node must be a JSON object")

    def test_not_a_str(self):
        self.rejects(line(doc()).encode(), "must be a str")

    def test_too_big(self):
        d = doc()
        d["pad"] = ""
        d["pad"] = "x" * (emf.MAX_EVENT_BYTES - len(line(d).encode()) + 1)
        self.rejects(line(d), "bytes, more than")
        d["pad"] = "\u00e9" * (emf.MAX_EVENT_BYTES // 2)  # UTF-8 bytes count, not characters
        self.rejects(line(d), "bytes, more than")

    def test_non_json_numbers(self):
        for word in ("NaN", "Infinity", "-Infinity"):
            self.rejects(line(doc()).replace('"Fast":-3.5', f'"Fast":{word}'), "not a JSON number")

    def test_duplicate_member(self):
        self.rejects(line(doc())[:-1] + ',"Requests":13}', "duplicate member 'Requests'")

    def test_metadata(self):
        self.mutated(lambda d: d.pop("_aws"), "must contain '_aws'")
        self.mutated(lambda d: d.update(_aws=[]), "_aws must be an object")
        self.mutated(lambda d: d["_aws"].update(LogGroupName="g"), "additional members: ['LogGroupName']")
        self.mutated(lambda d: d["_aws"].pop("Timestamp"), "must contain 'Timestamp'")
        self.mutated(lambda d: d["_aws"].pop("CloudWatchMetrics"), "must contain 'CloudWatchMetrics'")

    def test_timestamp(self):
        for bad in (str(NOW), True, None, -1, NOW + 0.5, [NOW]):
            self.mutated(lambda d: d["_aws"].update(Timestamp=bad), "non-negative integer")
        for ts in (NOW - emf.MAX_PAST_MS - 1, NOW + emf.MAX_FUTURE_MS + 1, 0):
            self.mutated(lambda d: d["_aws"].update(Timestamp=ts), "more than 14 days before")
        self.rejects(line(doc()).replace(str(NOW), "1e999"), "non-negative integer")

    def test_directives(self):
        for bad in ([], {}, "x", None):
            self.mutated(lambda d: d["_aws"].update(CloudWatchMetrics=bad), "non-empty array")
        self.mutated(lambda d: d["_aws"].update(CloudWatchMetrics=[[]]), "directive 0 must be an object")
        self.mutated(lambda d: directive(d).update(Extra=1), "additional members: ['Extra']")
        for member in ("Namespace", "Dimensions", "Metrics"):
            self.mutated(lambda d: directive(d).pop(member), f"must contain '{member}'")

    def test_namespace(self):
        cases = [("", "1..255"), ("n" * 256, "1..255"), (" ", "non-whitespace"), (7, "must be a string"),
                 (":x", "must not start with ':'"), ("AWS/Lambda", "'AWS/'"),
                 ("a\nb", "printable ASCII"), ("caf\u00e9", "printable ASCII")]
        for ns, fragment in cases:
            self.mutated(lambda d: directive(d).update(Namespace=ns), fragment)

    def test_dimensions(self):
        for bad in ([], {}, "service", [["service"], "service"]):
            self.mutated(lambda d: directive(d).update(Dimensions=bad),
                         "must be a non-empty array" if not isinstance(bad, list) or not bad else "must be an array")
        keys = [f"k{i}" for i in range(emf.MAX_DIMENSION_KEYS + 1)]
        self.mutated(lambda d: (d.update({k: "v" for k in keys}), directive(d).update(Dimensions=[keys])),
                     "more than 30")
        self.mutated(lambda d: directive(d).update(Dimensions=[[3]]), "must be a string")
        self.mutated(lambda d: directive(d).update(Dimensions=[["service", "service"]]), "repeated")
        self.mutated(lambda d: directive(d).update(Dimensions=[["absent"]]), "not a member of the root node")
        self.mutated(lambda d: directive(d).update(Dimensions=[[""]]), "1..255")
        self.mutated(lambda d: (d.update({":k": "v"}), directive(d).update(Dimensions=[[":k"]])),
                     "must not start with ':'")
        self.mutated(lambda d: directive(d).update(Dimensions=[["nested"]]), "must be a string")

    def test_dimension_values(self):
        cases = [(7, "must be a string"), (None, "must be a string"), ("", "1..1024"),
                 ("v" * 1025, "1..1024"), ("  ", "non-whitespace"), ("\u00fc", "printable ASCII"),
                 ("a\tb", "printable ASCII")]
        for value, fragment in cases:
            self.mutated(lambda d: d.update(service=value), fragment)

    def test_metrics_array(self):
        self.mutated(lambda d: directive(d).update(Metrics={}), "Metrics must be an array")
        names = [f"m{i}" for i in range(emf.MAX_METRICS + 1)]
        self.mutated(lambda d: (d.update({n: 1 for n in names}),
                                directive(d).update(Metrics=[{"Name": n} for n in names])), "more than 100")

    def test_metric_definition(self):
        self.mutated(lambda d: directive(d)["Metrics"].append("Requests"), "MetricDefinition must be an object")
        self.mutated(lambda d: definition(d).update(Value=1), "additional members: ['Value']")
        self.mutated(lambda d: definition(d).pop("Name"), "must contain 'Name'")
        for name, fragment in ((7, "must be a string"), ("", "1..255"), ("n" * 256, "1..255"),
                               (" ", "non-whitespace")):
            self.mutated(lambda d: d.update({str(name): 1}) or definition(d).update(Name=name), fragment)
        self.mutated(lambda d: directive(d)["Metrics"].append({"Name": "Requests"}), "defined twice")
        self.mutated(lambda d: definition(d).update(Name="Absent"), "not a member of the root node")

    def test_metric_values(self):
        cases = [("12", "must be a number"), (True, "must be a number"), (None, "must be a number"),
                 ({"v": 1}, "must be a number"), ([], "1..100 values"), ([1] * 101, "1..100 values"),
                 ([1, "2"], "value 1 must be a number"), ([False], "must be a number"),
                 (1e300, "outside CloudWatch's range"), (-1e300, "outside"), (1e-200, "outside"),
                 ([1, 2e108], "outside")]
        for value, fragment in cases:
            self.mutated(lambda d: d.update(Requests=value), fragment)
        self.rejects(line(doc()).replace('"Fast":-3.5', '"Fast":1e999'), "must be finite")

    def test_unit(self):
        for unit in ("milliseconds", "ms", "Count/second", "", None, 1, "Bytes/Sec"):
            self.mutated(lambda d: definition(d).update(Unit=unit), "is not a CloudWatch unit")

    def test_storage_resolution(self):
        for res in (0, 5, 30, 120, "1", True, 1.0, None):
            self.mutated(lambda d: definition(d).update(StorageResolution=res), "integer 1 or 60")
        self.mutated(lambda d: d["_aws"]["CloudWatchMetrics"].append(
            {"Namespace": "other", "Dimensions": [[]], "Metrics": [{"Name": "Fast"}]}),
            "two storage resolutions")


if __name__ == "__main__":
    unittest.main()
