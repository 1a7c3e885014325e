#!/usr/bin/env python3
"""Writes the service's OpenAPI 3.1 document, api/openapi.json, and src/openapi_doc.c, which
holds the same bytes for GET /openapi.json. The document is written here, in one place, so that
the served copy and the committed one cannot drift: `scripts/openapi.py --check` fails when
either file differs from what this script writes (make test runs it).

    scripts/openapi.py [--check]
"""

import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
JSON_TYPE = "application/json"


def ref(kind, name):
    return {"$ref": f"#/components/{kind}/{name}"}


def json_body(schema, bson=False):
    content = {JSON_TYPE: {"schema": schema}}
    if bson:
        content["application/bson"] = {"schema": schema}
    return content


def error(description, retry=False, extra=None):
    headers = {"X-Request-Id": ref("headers", "X-Request-Id"),
               "Server-Timing": ref("headers", "Server-Timing"), "Vary": ref("headers", "Vary")}
    if retry:
        headers["Retry-After"] = ref("headers", "Retry-After")
    headers.update(extra or {})
    return {"description": description, "headers": headers,
            "content": json_body(ref("schemas", "Error"))}


def ok(description, schema, bson=False, tagged=True, extra=None):
    headers = {"X-Request-Id": ref("headers", "X-Request-Id"),
               "Server-Timing": ref("headers", "Server-Timing")}
    if tagged:
        headers["ETag"] = ref("headers", "ETag")
    if bson:
        headers["Vary"] = ref("headers", "Vary")
    headers.update(extra or {})
    r = {"description": description, "headers": headers}
    if schema is not None:
        r["content"] = json_body(schema, bson)
    return r


NOT_MODIFIED = {"description": "If-None-Match matched the current ETag: no body.",
                "headers": {"ETag": {"$ref": "#/components/headers/ETag"},
                            "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"},
                            "Server-Timing": {"$ref": "#/components/headers/Server-Timing"},
                            "Vary": {"$ref": "#/components/headers/Vary"}}}
OPTIONS = {"summary": "The methods the path serves", "responses": {
    "204": {"description": "No body; Allow lists the methods.",
            "headers": {"Allow": ref("headers", "Allow"),
                        "X-Request-Id": ref("headers", "X-Request-Id"),
                        "Server-Timing": ref("headers", "Server-Timing")}},
    "default": ref("responses", "Error")}}


def reads(get, params=(), conditional=True):
    """GET with its HEAD (same answer, no body) and OPTIONS; `conditional`: tagged, so that
    If-None-Match may answer 304."""
    get = dict(get)
    get["parameters"] = [ref("parameters", "X-Request-Id"),
                         *([ref("parameters", "If-None-Match")] if conditional else []), *params]
    get["responses"] = {**get["responses"], **({"304": NOT_MODIFIED} if conditional else {}),
                        "default": ref("responses", "Error")}
    head = {"summary": get["summary"] + " (headers only)", "parameters": get["parameters"],
            "responses": get["responses"]}
    return {"get": get, "head": head, "options": OPTIONS}


def write(summary, body, responses):
    op = {"summary": summary, "security": [{"bearer": []}, {"apiKey": []}],
          "parameters": [ref("parameters", "X-Request-Id"), ref("parameters", "Idempotency-Key")],
          "responses": {**responses,
                        "400": error("A bad body, id or Idempotency-Key."),
                        "401": error("No API key, or not the right one.",
                                     extra={"WWW-Authenticate": ref("headers", "WWW-Authenticate")}),
                        "403": error("Writes are disabled: the server has no API_KEY."),
                        "409": error("The same Idempotency-Key is in use (with Retry-After), "
                                     "or the database refused the write (without).", retry=True),
                        "422": error("The Idempotency-Key was used for a different request."),
                        "503": error("Certainly not done: retry.", retry=True),
                        "504": error("Sent, and the database did not answer: it may have been "
                                     "applied; retry with the same Idempotency-Key."),
                        "default": ref("responses", "Error")}}
    if body:
        op["requestBody"] = {"required": True,
                             "content": {JSON_TYPE: {"schema": ref("schemas", "ItemInput")}}}
    return op


def toggle(healthy):
    """POST /health/disable or /health/enable: the load-testing health toggles."""
    what = ("Restores /health after /health/disable." if healthy else
            "Makes /health and /health/detailed answer 503 (the task goes on serving, and does "
            "not drain): to rehearse the load balancer taking a target out and ECS replacing "
            "it.")
    return {
        "post": {"summary": what + " Served only with ENABLE_LOADTEST_ROUTES=1.",
                 "security": [{"bearer": []}, {"apiKey": []}],
                 "parameters": [ref("parameters", "X-Request-Id")],
                 "responses": {
                     "200": ok("Done (idempotent).", ref("schemas", "HealthToggle"),
                               tagged=False),
                     "401": error("No API key, or not the right one.",
                                  extra={"WWW-Authenticate": ref("headers", "WWW-Authenticate")}),
                     "403": error("The server has no API_KEY."),
                     "default": ref("responses", "Error")}},
        "options": OPTIONS}


def document():
    item_id = {"name": "id", "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 1, "maximum": 9223372036854775807}}
    replayed = {"Idempotent-Replayed": ref("headers", "Idempotent-Replayed")}
    loadtest = " Served only with ENABLE_LOADTEST_ROUTES=1."
    paths = {
        "/health": reads({
            "summary": "The load balancer's health check (shallow: no dependency)",
            "responses": {"200": ok("Healthy.", ref("schemas", "Health")),
                          "503": error("Draining or unhealthy.", retry=False)
                          | {"content": json_body(ref("schemas", "Health"))}}}),
        "/health/detailed": reads({
            "summary": "Health with the store, memory and connections",
            "responses": {"200": ok("Healthy.", ref("schemas", "HealthDetailed")),
                          "503": {"description": "A check fails, or a drain has begun.",
                                  "headers": {"X-Request-Id": ref("headers", "X-Request-Id"),
                                              "Server-Timing": ref("headers", "Server-Timing")},
                                  "content": json_body(ref("schemas", "HealthDetailed"))}}}),
        "/api/info": reads({
            "summary": "The service, its version and where it runs",
            "responses": {"200": ok("The tutorial's four fields, and the ECS task when known.",
                                    ref("schemas", "Info"))}}),
        "/api/items": {
            **reads({"summary": "Items, in id order",
                     "responses": {"200": ok("A page of items.", ref("schemas", "ItemList"),
                                             bson=True),
                                   "406": error("Accept allows neither JSON nor BSON.")}},
                    params=[{"name": "limit", "in": "query",
                             "schema": {"type": "integer", "minimum": 1, "maximum": 1000,
                                        "default": 100}},
                            {"name": "offset", "in": "query",
                             "schema": {"type": "integer", "minimum": 0,
                                        "maximum": 1000000000, "default": 0}},
                            ref("parameters", "Accept")]),
            "post": write("Creates an item", True, {
                "201": ok("Created.", ref("schemas", "Item"), bson=True, tagged=False,
                          extra={"Location": ref("headers", "Location"), **replayed}),
                "413": error("The body is over MAX_BODY_BYTES."),
                "415": error("The body is not application/json."),
                "507": error("The embedded store is full (MEMORY_STORE_MAX_ITEMS).")}),
        },
        "/api/items/{id}": {
            "parameters": [item_id],
            **reads({"summary": "One item",
                     "responses": {"200": ok("The item.", ref("schemas", "Item"), bson=True),
                                   "404": error("No item with that id."),
                                   "406": error("Accept allows neither JSON nor BSON.")}},
                    params=[ref("parameters", "Accept")]),
            "put": write("Replaces an item", True, {
                "200": ok("Replaced.", ref("schemas", "Item"), bson=True, tagged=False,
                          extra=replayed),
                "404": error("No item with that id.", extra=replayed),
                "413": error("The body is over MAX_BODY_BYTES."),
                "415": error("The body is not application/json.")}),
            "delete": write("Deletes an item", False, {
                "204": {"description": "Deleted: no body.",
                        "headers": {"X-Request-Id": ref("headers", "X-Request-Id"),
                                    "Server-Timing": ref("headers", "Server-Timing"),
                                    "Vary": ref("headers", "Vary"), **replayed}},
                "404": error("No item with that id.", extra=replayed)}),
        },
        "/api/delay/{ms}": {
            "parameters": [{"name": "ms", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 0, "maximum": 30000}}],
            **reads({"summary": "Answers after that many milliseconds." + loadtest,
                     "responses": {"200": ok("Delayed.", ref("schemas", "Delay"))}}),
        },
        "/api/status/{code}": {
            "parameters": [{"name": "code", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 200, "maximum": 599}}],
            **reads({"summary": "Answers with that status." + loadtest,
                     "responses": {
                         "2XX": ok("The code asked for; 204 and 205 with no body (a 200 is "
                                   "tagged).", ref("schemas", "StatusEcho")),
                         "3XX": ok("The code asked for; 304 with no body.",
                                   ref("schemas", "StatusEcho"), tagged=False)}}),
        },
        "/api/cpu/{ms}": {
            "parameters": [{"name": "ms", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 0, "maximum": 10000}}],
            **reads({"summary": "Burns that much CPU time on a worker thread (not an event "
                                "loop), then answers: to rehearse CPU scaling." + loadtest,
                     "responses": {"200": ok("Burnt: the CPU time, and the wall time it took "
                                             "(longer under a CPU quota).",
                                             ref("schemas", "CpuBurn")),
                                   "503": error("Too much CPU work queued (not burnt), the "
                                                "server stopping it, or its client gone.",
                                                retry=True)}}),
        },
        "/api/payload/{bytes}": {
            "parameters": [{"name": "bytes", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 0,
                                       "maximum": 16777216}}],
            **reads({"summary": "Answers that many bytes, generated as they are sent (no "
                                "memory held): for network and proxy tests." + loadtest,
                     "responses": {"200": {
                         "description": "A 64-byte line of digits and letters, repeated, cut "
                                        "at the length asked for.",
                         "headers": {"X-Request-Id": ref("headers", "X-Request-Id"),
                                     "Server-Timing": ref("headers", "Server-Timing")},
                         "content": {"application/octet-stream": {
                             "schema": {"type": "string", "format": "binary"}}}}}},
                    conditional=False),
        },
        "/api/echo": {
            "post": {
                "summary": "Answers with the body as sent, and the request headers "
                           "X-Echo-Headers names as X-Echo-<name>." + loadtest,
                "parameters": [ref("parameters", "X-Request-Id"),
                               {"name": "X-Echo-Headers", "in": "header",
                                "description": "Up to 16 header names, comma-separated; their "
                                               "names and values 2048 bytes at most.",
                                "schema": {"type": "string"}}],
                "requestBody": {"required": False, "content": {"*/*": {
                    "schema": {"type": "string", "format": "binary"}}}},
                "responses": {
                    "200": {"description": "The body as sent, with the request's Content-Type "
                                           "(application/octet-stream without one); "
                                           "X-Echo-<name> for each header named that came.",
                            "headers": {"X-Request-Id": ref("headers", "X-Request-Id"),
                                        "Server-Timing": ref("headers", "Server-Timing")},
                            "content": {"*/*": {"schema": {"type": "string",
                                                           "format": "binary"}}}},
                    "400": error("X-Echo-Headers is malformed or asks for too much."),
                    "413": error("The body is over MAX_BODY_BYTES."),
                    "default": ref("responses", "Error")}},
            "options": OPTIONS,
        },
        "/health/disable": toggle(False),
        "/health/enable": toggle(True),
        "/metrics": reads({
            "summary": "Prometheus metrics, on this port only when METRICS_PORT equals PORT",
            "responses": {"200": {
                "description": "Text format 0.0.4, or OpenMetrics 1.0 when Accept asks.",
                "headers": {"X-Request-Id": ref("headers", "X-Request-Id"),
                            "Server-Timing": ref("headers", "Server-Timing"),
                            "ETag": ref("headers", "ETag")},
                "content": {"text/plain; version=0.0.4; charset=utf-8": {
                                "schema": {"type": "string"}},
                            "application/openmetrics-text; version=1.0.0; charset=utf-8": {
                                "schema": {"type": "string"}}}}}}),
        "/openapi.json": reads({
            "summary": "This document",
            "responses": {"200": ok("The OpenAPI 3.1 document.", {"type": "object"})}}),
    }
    # Faults may be asked for on every API operation (ENABLE_LOADTEST_ROUTES=1).
    faults = [ref("parameters", "X-Fault-Status"), ref("parameters", "X-Fault-Delay-Ms")]
    for path, item in paths.items():
        if not path.startswith("/api/"):
            continue
        for method, op in item.items():
            if method in ("get", "head", "post", "put", "delete"):
                op["parameters"] = [*op.get("parameters", []), *faults]
    return {
        "openapi": "3.1.0",
        "info": {"title": "node-api", "version": "1.0.0",
                 "description": "The ECS/Fargate tutorial's API, in C. Every error has one "
                                "shape, {\"error\":{\"status\",\"message\"}}; every answer to "
                                "a request the service read carries X-Request-Id (not the 408 "
                                "or 503 written to a connection whose head never came or that "
                                "was over the limit). A 503 with Retry-After means the work "
                                "certainly did not happen.",
                 "license": {"name": "MIT", "identifier": "MIT"}},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "additionalProperties": False,
                          "properties": {"error": {
                              "type": "object", "required": ["status", "message"],
                              "additionalProperties": False,
                              "properties": {"status": {"type": "integer", "minimum": 400,
                                                        "maximum": 599},
                                             "message": {"type": "string"}}}}},
                "Health": {"type": "object",
                           "required": ["status", "hostname", "uptime", "timestamp"],
                           "properties": {
                               "status": {"enum": ["healthy", "draining", "unhealthy"]},
                               "hostname": {"type": "string"},
                               "uptime": {"type": "number", "minimum": 0},
                               "timestamp": {"type": "integer"},
                               "reason": {"type": "string"}}},
                "HealthDetailed": {"type": "object",
                                   "required": ["status", "checks", "uptime", "version",
                                                "hostname", "timestamp"],
                                   "properties": {
                                       "status": {"enum": ["healthy", "degraded", "unhealthy",
                                                           "draining"]},
                                       "checks": {"type": "object"},
                                       "connections": {"type": "object"},
                                       "in_flight": {"type": "integer"},
                                       "uptime": {"type": "number"},
                                       "version": {"type": "string"},
                                       "hostname": {"type": "string"},
                                       "timestamp": {"type": "integer"}}},
                "Info": {"type": "object",
                         "required": ["service", "version", "environment", "hostname"],
                         "properties": {"service": {"type": "string"},
                                        "version": {"type": "string"},
                                        "environment": {"type": "string"},
                                        "hostname": {"type": "string"},
                                        "task": {"type": "object"}}},
                "Item": {"type": "object", "required": ["id", "name", "price"],
                         "additionalProperties": False,
                         "properties": {"id": {"type": "integer", "minimum": 1},
                                        "name": {"type": "string"},
                                        "price": {"type": "number"}}},
                "ItemInput": {"type": "object", "required": ["name", "price"],
                              "additionalProperties": False,
                              "properties": {
                                  "name": {"type": "string", "minLength": 1, "maxLength": 200,
                                           "description": "1 to 200 bytes of UTF-8, no NUL"},
                                  "price": {"type": "number", "minimum": 0,
                                            "maximum": 999999999999.99, "multipleOf": 0.01}}},
                "ItemList": {"type": "object", "required": ["items", "count"],
                             "additionalProperties": False,
                             "properties": {"items": {"type": "array",
                                                      "items": ref("schemas", "Item")},
                                            "count": {"type": "integer", "minimum": 0}}},
                "Delay": {"type": "object", "required": ["delayed_ms"],
                          "additionalProperties": False,
                          "properties": {"delayed_ms": {"type": "integer", "minimum": 0}}},
                "CpuBurn": {"type": "object", "required": ["cpu_ms", "wall_ms"],
                            "additionalProperties": False,
                            "properties": {"cpu_ms": {"type": "integer", "minimum": 0},
                                           "wall_ms": {"type": "number", "minimum": 0}}},
                "HealthToggle": {"type": "object", "required": ["healthy"],
                                 "additionalProperties": False,
                                 "properties": {"healthy": {"type": "boolean"}}},
                "StatusEcho": {"type": "object", "required": ["status"],
                               "additionalProperties": False,
                               "properties": {"status": {"type": "integer"}}},
            },
            "responses": {"Error": error("An error: the one shape, status repeated in the body.",
                                         retry=True, extra={
                                             "Allow": ref("headers", "Allow"),
                                             "WWW-Authenticate": ref("headers",
                                                                     "WWW-Authenticate")})},
            "parameters": {
                "X-Request-Id": {"name": "X-Request-Id", "in": "header",
                                 "description": "Kept when sane (up to 128 of letters, digits "
                                                "and -_.:/+=@), else replaced.",
                                 "schema": {"type": "string", "maxLength": 128}},
                "Idempotency-Key": {"name": "Idempotency-Key", "in": "header",
                                    "description": "A retry with the same key gets the first "
                                                   "outcome; the write is done once.",
                                    "schema": {"type": "string", "minLength": 1,
                                               "maxLength": 255}},
                "If-None-Match": {"name": "If-None-Match", "in": "header",
                                  "description": "Entity tags, or *: a match is answered 304.",
                                  "schema": {"type": "string"}},
                "X-Fault-Status": {"name": "X-Fault-Status", "in": "header",
                                   "description": "With ENABLE_LOADTEST_ROUTES=1: answer this "
                                                  "status (400 to 599) instead of running the "
                                                  "request; ignored otherwise.",
                                   "schema": {"type": "integer", "minimum": 400,
                                              "maximum": 599}},
                "X-Fault-Delay-Ms": {"name": "X-Fault-Delay-Ms", "in": "header",
                                     "description": "With ENABLE_LOADTEST_ROUTES=1: wait this "
                                                    "long before running the request; ignored "
                                                    "otherwise.",
                                     "schema": {"type": "integer", "minimum": 0,
                                                "maximum": 30000}},
                "Accept": {"name": "Accept", "in": "header",
                           "description": "application/bson for BSON; JSON otherwise.",
                           "schema": {"type": "string"}},
            },
            "headers": {
                "X-Request-Id": {"description": "The request's id, as in the access log.",
                                 "schema": {"type": "string"}},
                "Retry-After": {"description": "Seconds; the work was not done.",
                                "schema": {"type": "integer", "minimum": 1}},
                "ETag": {"description": "Weak: W/\"<length>-<hash of the body>\".",
                         "schema": {"type": "string"}},
                "Server-Timing": {"description": "app;dur=<ms>, and db;dur=<ms> when the "
                                                 "database answered.",
                                  "schema": {"type": "string"}},
                "Location": {"description": "The new item's path.", "schema": {"type": "string"}},
                "Vary": {"description": "Accept, on the item routes: JSON or BSON is negotiated.",
                         "schema": {"type": "string", "enum": ["Accept"]}},
                "Allow": {"description": "The methods the path serves.",
                          "schema": {"type": "string"}},
                "WWW-Authenticate": {"description": "Bearer.", "schema": {"type": "string"}},
                "Idempotent-Replayed": {"description": "true: the stored outcome of an earlier "
                                                       "request with the same key.",
                                        "schema": {"type": "string", "enum": ["true"]}},
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "Authorization: Bearer <API_KEY>."},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def c_source(text):
    data = text.encode()
    lines = []
    for i in range(0, len(data), 16):
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in data[i:i + 16]) + ",")
    return ("/*\n * openapi_doc: the bytes of api/openapi.json, served at GET /openapi.json.\n"
            " * Written by scripts/openapi.py: do not edit.\n */\n"
            '#include "na/openapi.h"\n\n'
            f"const size_t na_openapi_len = {len(data)};\n\n"
            "/* clang-format off */\n"
            f"const char na_openapi_json[{len(data) + 1}] = {{\n" + "\n".join(lines) +
            "\n    0x00,\n};\n/* clang-format on */\n")


def main():
    text = json.dumps(document(), indent=1) + "\n"
    outputs = {os.path.join(ROOT, "api", "openapi.json"): text,
               os.path.join(ROOT, "src", "openapi_doc.c"): c_source(text)}
    stale = []
    for path, want in outputs.items():
        try:
            with open(path) as f:
                have = f.read()
        except OSError:
            have = None
        if have != want:
            if "--check" in sys.argv:
                stale.append(os.path.relpath(path, ROOT))
            else:
                with open(path, "w") as f:
                    f.write(want)
    if stale:
        sys.exit(f"openapi: {', '.join(stale)} out of date: run scripts/openapi.py")


if __name__ == "__main__":
    main()
