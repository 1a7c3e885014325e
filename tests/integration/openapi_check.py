"""Checks an answer against the OpenAPI document (api/openapi.json): the harness calls check()
for every request a test sends through Server.request, so every test's answers are held to the
document without asking. The route is found as the router finds it (letters folded, one trailing
slash ignored); the status must be documented for that operation (exactly, as 2XX, or, for
an error, as default); a JSON or BSON body must validate against its schema; each header the service decides
(ETag, Retry-After, Allow, Vary, Server-Timing...) that it carries must be declared for it. A path no route serves, or a
method a route does not serve, must get the error shape.

Answers libmicrohttpd writes itself (text/html, before the service sees the request: README,
Routes) are not the service's and are left out.

The schema keywords the document uses are checked here, with the standard library; a keyword
this does not know fails the check, so the document cannot use one that goes unchecked.
"""

import json
import os
import re

import bsondec

DOC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "api",
                        "openapi.json")
with open(DOC_PATH) as f:
    DOC = json.load(f)

ANNOTATIONS = {"description", "default", "title", "examples"}
# The headers the service decides (not the framing ones): each one an answer carries must be
# declared for that answer.
SERVICE_HEADERS = ("x-request-id", "etag", "retry-after", "location", "allow", "www-authenticate",
                   "idempotent-replayed", "server-timing", "vary")
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


def _resolve(schema):
    while "$ref" in schema:
        node = DOC
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _is(value, t):
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "null":
        return value is None
    return isinstance(value, TYPES[t])


def validate(value, schema, where="body"):
    """Raises AssertionError naming the first place `value` breaks `schema`."""
    schema = _resolve(schema)
    unknown = set(schema) - ANNOTATIONS - {
        "type", "properties", "required", "additionalProperties", "items", "enum", "minimum",
        "maximum", "minLength", "maxLength"}
    assert not unknown, f"openapi_check does not know {sorted(unknown)} ({where})"
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        assert any(_is(value, t) for t in types), f"{where}: {value!r} is not {types}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema:
            assert value >= schema["minimum"], f"{where}: {value} < {schema['minimum']}"
        if "maximum" in schema:
            assert value <= schema["maximum"], f"{where}: {value} > {schema['maximum']}"
    if isinstance(value, str):
        assert len(value) >= schema.get("minLength", 0), f"{where}: too short"
        assert len(value) <= schema.get("maxLength", len(value)), f"{where}: too long"
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            validate(v, schema["items"], f"{where}[{i}]")
    if isinstance(value, dict):
        for k in schema.get("required", []):
            assert k in value, f"{where}: no {k!r}"
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                validate(v, props[k], f"{where}.{k}")
            elif schema.get("additionalProperties", True) is False:
                raise AssertionError(f"{where}: {k!r} is not in the document")
            elif isinstance(schema.get("additionalProperties"), dict):
                validate(v, schema["additionalProperties"], f"{where}.{k}")


def _template(path):
    """The document's path for a request path, as the router matches; None when no route."""
    path = path.split("?", 1)[0]
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    for tmpl in DOC["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(tmpl)) + "$"
        # /metrics is matched case-sensitively, as the router does (an ALB rule would).
        if re.match(pattern, path, 0 if tmpl == "/metrics" else re.IGNORECASE):
            return tmpl
    return None


def _error_shape(r, where):
    if r.body and (r.header("Content-Type") or "").startswith("application/json"):
        validate(json.loads(r.body), DOC["components"]["schemas"]["Error"], where)


def check(method, path, r):
    """Holds answer `r` to `method path` to the document; raises AssertionError if it breaks it."""
    ctype = (r.header("Content-Type") or "").split(";")[0].strip()
    if ctype == "text/html":
        return  # libmicrohttpd's own answer
    where = f"{method} {path} -> {r.status}"
    tmpl = _template(path)
    op = DOC["paths"][tmpl].get(method.lower()) if tmpl else None
    if op is None:
        _error_shape(r, where)
        return
    responses = op["responses"]
    # `default` is the error shape: it stands for the errors not listed, not for a 2xx or 3xx.
    spec = (responses.get(str(r.status)) or responses.get(f"{r.status // 100}XX") or
            (responses.get("default") if r.status >= 400 else None))
    assert spec is not None, f"{where}: status not in the document"
    spec = _resolve(spec)
    declared = {h.lower() for h in spec.get("headers", {})}
    for h in SERVICE_HEADERS:
        assert r.header(h) is None or h in declared, f"{where}: header {h} not in the document"
    if not r.body:
        return
    content = spec.get("content")
    assert content, f"{where}: a body where the document has none"
    media = {k.split(";")[0].strip(): v for k, v in content.items()}
    if ctype not in media and "*/*" in media:
        return  # any type (the echo's, which is the request's)
    assert ctype in media, f"{where}: Content-Type {ctype!r} not in {sorted(media)}"
    schema = media[ctype].get("schema", {})
    if ctype == "application/json":
        validate(json.loads(r.body), schema, where)
    elif ctype == "application/bson":
        validate(bsondec.decode(r.body), schema, where)
