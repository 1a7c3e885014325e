"""Strict JSON, differentially: thousands of generated item bodies (valid, broken, with raw
control bytes, deep nesting, odd numbers, duplicate keys) go to node-api, and a strict
reference parser (Python's json, with NaN and Infinity refused, as JSON.parse does) says what
each is. Where the reference refuses the text, node-api must answer 400; where it accepts it,
node-api's answer must follow from the item rules alone."""

import json
import math
import random
import unittest

from harness import Server, build_request, read_response

KEY = "diff-key"
HEADERS = {"Content-Type": "application/json", "X-API-Key": KEY}
PRICE_MAX = 999999999999.99


class Refused(Exception):
    pass


def _no_constant(name):
    raise Refused(name)  # NaN, Infinity, -Infinity: not JSON


def reference(body):
    """The document JSON.parse would give (objects as lists of pairs), or Refused."""
    try:
        text = body.decode("utf-8")
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=lambda p: ("obj", p))
    except (UnicodeDecodeError, ValueError, RecursionError, Refused):
        # ValueError covers JSONDecodeError and ints past Python's digit limit (an
        # infinite price either way).
        raise Refused from None


def expected_status(body):
    """201 when the reference accepts the body and it obeys the item rules, else 400."""
    try:
        doc = reference(body)
    except Refused:
        return 400
    if not (isinstance(doc, tuple) and doc[0] == "obj"):
        return 400
    seen = {}
    for key, value in doc[1]:
        if key not in ("name", "price") or key in seen:
            return 400
        seen[key] = value
        if key == "name":
            if not isinstance(value, str):
                return 400
            try:
                raw = value.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate
                return 400
            if not 1 <= len(raw) <= 200 or "\x00" in value:
                return 400
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return 400
            try:
                v = float(value)
            except OverflowError:
                return 400
            if not math.isfinite(v) or v < 0 or v > PRICE_MAX:
                return 400
            if float("%.2f" % v) != v:  # at most two decimals, as the double reads
                return 400
    return 201 if set(seen) == {"name", "price"} else 400


NAMES = [
    '"Widget"', '"x"', '""', '"' + "a" * 200 + '"', '"' + "a" * 201 + '"',
    '"' + "\u00e9" * 100 + '"', '"\\u00e9t\\u00e9"', '"tab\\there"', '"nl\\nx"', '"q\\"q"',
    '"\\ud83d\\ude00"', '"\\ud800"', '"\\udc00x"', '"a\\u0000b"', '"\\u0041"', '"sl\\/ash"',
    '"\U0001F600 smile"', "5", "null", "true", "[]", '{"a":1}', '"back\\\\"',
]
PRICES = [
    "0", "1", "29.99", "19.99", "0.1", "0.01", "1e2", "2.5E+1", "-0", "-0.0", "1.005", "1.5",
    "-1", "1e400", "1e-400", "999999999999.99", "1000000000000", "999999999999.995",
    "29.990000000000001", "29.99" + "0" * 70, "01", ".5", "+1", "1.", "1e", "-", "NaN",
    "Infinity", "-Infinity", "0x10", "1_000", '"1"', "null", "true", "[1]", "1" * 400,
    "12345678901.23", "0e0", "3.14159", "100.10",
]
WS = ["", " ", "\n", "\t", "\r\n", "  \t", "\x0b", "\x0c", "\xa0", "\x00", "\u3000"]
# Raw bytes: control characters, structure, and bytes that are not UTF-8.
NOISE = [bytes([c]) for c in range(0x20)] + [bytes([c]) for c in b'"\\{}[],:e0-.'] + [
    b"\x7f", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc2\xa0"]


def ws(rng):
    # Mostly JSON whitespace; sometimes bytes that are not.
    return rng.choice(WS[:6]) if rng.random() < 0.9 else rng.choice(WS)


def valid_like(rng):
    """An object of name and price members, in any order, sometimes with an extra,
    a duplicate or an escaped key."""
    # Half the time from the first entries, which are mostly good: both verdicts in quantity.
    members = [("name", rng.choice(NAMES[:12] if rng.random() < 0.5 else NAMES)),
               ("price", rng.choice(PRICES[:12] if rng.random() < 0.5 else PRICES))]
    r = rng.random()
    if r < 0.05:
        members.append(("color", '"red"'))
    elif r < 0.10:
        members.append(rng.choice(members))
    elif r < 0.13:
        members.pop(rng.randrange(2))
    rng.shuffle(members)
    parts = []
    for key, value in members:
        k = {"name": rng.choice(['"name"', '"n\\u0061me"', '"name"']),
             "price": rng.choice(['"price"', '"price"', '"pric\\u0065"'])}.get(key, f'"{key}"')
        parts.append(f"{ws(rng)}{k}{ws(rng)}:{ws(rng)}{value}{ws(rng)}")
    return ws(rng) + "{" + ",".join(parts) + "}" + ws(rng)


def mutate(rng, text):
    data = bytearray(text.encode("utf-8", "surrogatepass"))
    for _ in range(rng.randint(1, 3)):
        pos = rng.randrange(len(data) + 1)
        op = rng.random()
        noise = rng.choice(NOISE)
        if op < 0.5 or not data:
            data[pos:pos] = noise
        elif op < 0.75:
            del data[min(pos, len(data) - 1)]
        else:
            data[min(pos, len(data) - 1):min(pos, len(data) - 1) + 1] = noise
    return bytes(data)


def oddities(rng):
    depth = rng.choice([1, 2, 31, 32, 33, 100])
    return rng.choice([
        "[" * depth + "]" * depth,
        '{"name":' + "[" * depth + "]" * depth + ',"price":1}',
        '{"name":"x","price":1}' * 2, "[]", '"x"', "1", "null", "", " ", "{}", "{,}",
        '{"name":"x","price":1,}', "{'name':'x','price':1}", '{"name":"x" "price":1}',
        '{"name":"x","price":1}/**/', '\ufeff{"name":"x","price":1}',
        '{"name":"x",\n"price":1}', '{"name":"x","price":1}\n',
    ])


def bodies(n, seed=20261201):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.5:
            text = valid_like(rng)
            out.append(text.encode("utf-8", "surrogatepass"))
        elif r < 0.9:
            out.append(mutate(rng, valid_like(rng)))
        else:
            out.append(oddities(rng).encode("utf-8"))
    return out


class DifferentialTest(unittest.TestCase):
    def test_node_api_agrees_with_a_strict_reference(self):
        cases = bodies(4000)
        mismatches, counts = [], {}
        with Server({"API_KEY": KEY, "ACCESS_LOG": "off"}) as srv:
            sock = srv.connect()
            try:
                for body in cases:
                    want = expected_status(body)
                    sock.sendall(build_request("POST", "/api/items", HEADERS, body)
                                 if body else build_request("POST", "/api/items",
                                                            {**HEADERS, "Content-Length": "0"}))
                    r = read_response(sock)
                    counts[want] = counts.get(want, 0) + 1
                    if r.status != want:
                        mismatches.append((body[:120], want, r.status, r.body[:160]))
                    if r.header("Connection") == "close":
                        sock.close()
                        sock = srv.connect()
            finally:
                sock.close()
        # The generator reaches both verdicts in quantity, or the test proves little.
        self.assertGreater(counts.get(201, 0), 400, counts)
        self.assertGreater(counts.get(400, 0), 2000, counts)
        self.assertEqual(mismatches[:10], [], f"{len(mismatches)} of {len(cases)} disagree")


if __name__ == "__main__":
    unittest.main()
