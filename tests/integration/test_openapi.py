"""The OpenAPI document (api/openapi.json, served at GET /openapi.json): valid OpenAPI 3.1 by
openapi-spec-validator, up to date with scripts/openapi.py and byte for byte the one served,
and the harness's check of every answer against it (openapi_check) able to fail."""

import json
import os
import subprocess
import sys
import unittest

import openapi_check
from harness import Response, Server, free_port

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
KEY = "openapi-key"


def answer(status, body=None, ctype="application/json; charset=utf-8"):
    raw = json.dumps(body).encode() if body is not None else b""
    return Response(status, "", {"content-type": ctype} if raw else {}, raw)


class DocumentTest(unittest.TestCase):
    def test_valid_openapi_3_1(self):
        from openapi_spec_validator import validate
        with open(openapi_check.DOC_PATH) as f:
            doc = json.load(f)
        validate(doc)  # raises on any fault
        self.assertEqual(doc["openapi"], "3.1.0")

    def test_committed_copies_are_up_to_date(self):
        p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "openapi.py"),
                            "--check"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_served_byte_for_byte(self):
        with open(openapi_check.DOC_PATH, "rb") as f:
            want = f.read()
        with Server() as srv:
            r = srv.get("/openapi.json")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, want)
            self.assertTrue(r.header("ETag").startswith('W/"'))
            self.assertEqual(srv.get("/openapi.json", {"If-None-Match": r.header("ETag")}).status,
                             304)

    def test_every_documented_operation_answers_as_documented(self):
        """Each path and method of the document, on a server with every route switched on
        (the harness checks each answer)."""
        with open(openapi_check.DOC_PATH) as f:
            doc = json.load(f)
        port = str(free_port())  # /metrics on the main port, as METRICS_PORT=$PORT serves it
        with Server({"ENABLE_LOADTEST_ROUTES": "1", "API_KEY": KEY, "PORT": port,
                     "METRICS_PORT": port}) as srv:
            seen = 0
            for tmpl, item in doc["paths"].items():
                path = (tmpl.replace("{id}", "1").replace("{ms}", "1").replace("{code}", "201")
                        .replace("{bytes}", "100"))
                for method in ("get", "head", "options"):
                    if method in item:
                        r = srv.request(method.upper(), path)
                        self.assertEqual(r.status, 204 if method == "options" else
                                         201 if tmpl == "/api/status/{code}" else 200,
                                         (method, path))
                        seen += 1
            auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
            body = json.dumps({"name": "n", "price": 1}).encode()
            self.assertEqual(srv.request("POST", "/api/items", auth, body).status, 201)
            self.assertEqual(srv.request("PUT", "/api/items/1", auth, body).status, 200)
            self.assertEqual(srv.request("DELETE", "/api/items/1", auth).status, 204)
            self.assertEqual(srv.request("GET", "/api/items/1").status, 404)
            self.assertEqual(srv.request("PATCH", "/api/items/1", auth, body).status, 405)
            self.assertEqual(srv.get("/api/items", {"Accept": "application/bson"}).status, 200)
            self.assertEqual(srv.request("POST", "/api/echo", {"X-Echo-Headers": "Host"},
                                         b"e").status, 200)
            self.assertEqual(srv.request("POST", "/health/disable", auth).status, 200)
            self.assertEqual(srv.get("/health").status, 503)
            self.assertEqual(srv.request("POST", "/health/enable", auth).status, 200)
        self.assertEqual(seen, sum(m in item for item in doc["paths"].values()
                                   for m in ("get", "head", "options")))


class CheckCanFailTest(unittest.TestCase):
    """openapi_check refuses what breaks the document; it would otherwise prove nothing."""

    def refuses(self, method, path, r):
        with self.assertRaises(AssertionError):
            openapi_check.check(method, path, r)

    def test_accepts_the_documented(self):
        openapi_check.check("GET", "/api/items/7", answer(200, {"id": 7, "name": "a", "price": 1}))
        openapi_check.check("GET", "/api/items/7",
                            answer(503, {"error": {"status": 503, "message": "retry"}}))
        openapi_check.check("GET", "/nowhere", answer(404, {"error": {"status": 404,
                                                                      "message": "no route"}}))
        openapi_check.check("GET", "/Api/Items/", answer(200, {"items": [], "count": 0}))
        openapi_check.check("GET", "/api/items", answer(304))
        openapi_check.check("GET", "/api/items", answer(400, "<html>", ctype="text/html"))

    def test_refuses_what_breaks_it(self):
        self.refuses("GET", "/api/items/7", answer(200, {"id": 7, "name": "a"}))  # no price
        self.refuses("GET", "/api/items/7",
                     answer(200, {"id": 7, "name": "a", "price": 1, "extra": 1}))
        self.refuses("GET", "/api/items/7", answer(200, {"id": "7", "name": "a", "price": 1}))
        self.refuses("GET", "/api/items/7", answer(418, {"teapot": True}))  # not the error shape
        self.refuses("GET", "/api/items/7", answer(200, {"id": 7, "name": "a", "price": 1},
                                                   ctype="text/plain"))
        self.refuses("POST", "/api/items", answer(201, {"items": [], "count": 0}))
        self.refuses("GET", "/nowhere", answer(404, {"message": "no route"}))
        self.refuses("DELETE", "/api/items/1", answer(204, {"deleted": True}))
        self.refuses("GET", "/health", answer(200, {"status": "fine", "hostname": "h",
                                                    "uptime": 1, "timestamp": 1}))
        # A header the service decides, sent where the document does not declare it.
        info = answer(200, {"service": "s", "version": "v", "environment": "e", "hostname": "h"})
        openapi_check.check("GET", "/api/info", info)
        info.headers["vary"] = "Accept"
        self.refuses("GET", "/api/info", info)
        self.refuses("GET", "/api/payload/5", answer(304))

    def test_unknown_keyword_fails(self):
        with self.assertRaises(AssertionError):
            openapi_check.validate("x", {"type": "string", "pattern": "^y$"})


if __name__ == "__main__":
    unittest.main()
