"""The items API contract, run against each store (see test_items_*.py).

A subclass sets up `cls.srv` (API_KEY=KEY) and `cls.count_rows()`."""

import json
import threading

from bsondec import decode

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


def body(obj):
    return json.dumps(obj).encode()


class ItemsContract:
    def post(self, obj, headers=AUTH):
        raw = obj if isinstance(obj, bytes) else body(obj)
        return self.srv.request("POST", "/api/items", headers, raw)

    def all_items(self):
        r = self.srv.get("/api/items?limit=1000")
        self.assertEqual(r.status, 200, r)
        return r.json()["items"]

    def test_crud_round_trip(self):
        r = self.post({"name": "Gizmo", "price": 12.5})
        self.assertEqual(r.status, 201, r)
        item = r.json()
        self.assertEqual(set(item), {"id", "name", "price"})
        self.assertEqual((item["name"], item["price"]), ("Gizmo", 12.5))
        self.assertEqual(r.header("Location"), f"/api/items/{item['id']}")
        path = r.header("Location")
        self.assertEqual(self.srv.get(path).json(), item)
        r = self.srv.request("PUT", path, AUTH, body({"name": "Gizmo 2", "price": 13}))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"id": item["id"], "name": "Gizmo 2", "price": 13})
        self.assertIn({"id": item["id"], "name": "Gizmo 2", "price": 13}, self.all_items())
        r = self.srv.request("DELETE", path, {"X-API-Key": KEY})
        self.assertEqual((r.status, r.body), (204, b""))
        self.assertEqual(self.srv.get(path).status, 404)
        self.assertEqual(self.srv.request("DELETE", path, {"X-API-Key": KEY}).status, 404)
        self.assertEqual(self.srv.request("PUT", path, AUTH, body({"name": "x", "price": 1})).status,
                         404)

    def test_tutorial_items_are_there(self):
        items = self.all_items()
        self.assertEqual(items[:3], [{"id": 1, "name": "Widget A", "price": 29.99},
                                     {"id": 2, "name": "Widget B", "price": 49.99},
                                     {"id": 3, "name": "Widget C", "price": 19.99}])

    def test_validation(self):
        cases = [
            (b"", 400, "JSON"), (b"{", 400, "JSON"), (b"[1]", 400, "object"),
            (body({"price": 1}), 400, '"name"'), (body({"name": "x"}), 400, '"price"'),
            (body({"name": 5, "price": 1}), 400, '"name"'),
            (body({"name": "", "price": 1}), 400, '"name"'),
            (body({"name": "x" * 201, "price": 1}), 400, '"name"'),
            (body({"name": "x", "price": "1"}), 400, '"price"'),
            (body({"name": "x", "price": -0.01}), 400, '"price"'),
            (body({"name": "x", "price": 1.234}), 400, '"price"'),
            (body({"name": "x", "price": 10 ** 15}), 400, '"price"'),
            (body({"name": "x", "price": True}), 400, '"price"'),
            (body({"name": "x", "price": 1, "id": 9}), 400, '"id"'),
            (b'{"name":"\xff\xfe","price":1}', 400, "UTF-8"),
            (b'{"name":"a\\u0000","price":1}', 400, "NUL"),
            (b"[" * 10000 + b"]" * 10000, 400, "deeper"),
            (b'{"name":"x","price":1e999}', 400, '"price"'),
        ]
        before = len(self.all_items())
        for raw, status, says in cases:
            with self.subTest(body=raw[:40]):
                r = self.post(raw)
                self.assertEqual(r.status, status, r)
                self.assertEqual(r.json()["error"]["status"], status)
                self.assertIn(says, r.json()["error"]["message"])
        self.assertEqual(len(self.all_items()), before)  # nothing stored

    def test_edge_values_stored_exactly(self):
        name = "é" * 100  # 200 bytes
        for price in (0, 0.01, 0.1, 19.99, 999999999999.99):
            r = self.post({"name": name, "price": price})
            self.assertEqual(r.status, 201, r)
            got = self.srv.get(r.header("Location")).json()
            self.assertEqual((got["name"], got["price"]), (name, price))

    def test_injection_strings_verbatim(self):
        for name in ["'); DROP TABLE items;--", "Robert\"; DELETE FROM items; --",
                     "<script>alert(1)</script>", "\\' OR 1=1 --", "$1 $2 %s %d {}", "😀 ünïcödé"]:
            r = self.post({"name": name, "price": 1})
            self.assertEqual(r.status, 201, r)
            self.assertEqual(self.srv.get(r.header("Location")).json()["name"], name)
        self.assertEqual(self.srv.get("/api/items/1").status, 200)

    def test_auth(self):
        item = body({"name": "x", "price": 1})
        r = self.srv.request("POST", "/api/items", {"Content-Type": "application/json"}, item)
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("WWW-Authenticate"), "Bearer")
        r = self.srv.request("POST", "/api/items",
                             {"Content-Type": "application/json", "Authorization": "Bearer wrong"},
                             item)
        self.assertEqual(r.status, 401)
        r = self.srv.request("POST", "/api/items",
                             {"Content-Type": "application/json", "X-API-Key": KEY}, item)
        self.assertEqual(r.status, 201)
        self.assertEqual(self.srv.request("DELETE", "/api/items/1").status, 401)
        self.assertEqual(self.srv.request("PUT", "/api/items/1", {"X-API-Key": "no"}, item).status,
                         401)

    def test_content_type(self):
        item = body({"name": "x", "price": 1})
        for ct, status in ((None, 415), ("text/plain", 415), ("application/json; charset=latin1", 415),
                           ("application/json; charset=UTF-8", 201), ("Application/JSON", 201)):
            h = {"X-API-Key": KEY}
            if ct:
                h["Content-Type"] = ct
            with self.subTest(ct=ct):
                self.assertEqual(self.srv.request("POST", "/api/items", h, item).status, status)

    def test_pagination(self):
        for i in range(5):
            self.assertEqual(self.post({"name": f"page {i}", "price": i}).status, 201)
        items = self.all_items()
        ids = [i["id"] for i in items]
        self.assertEqual(ids, sorted(ids))
        r = self.srv.get("/api/items?limit=2&offset=1").json()
        self.assertEqual(r["count"], 2)
        self.assertEqual(r["items"], items[1:3])
        r = self.srv.get(f"/api/items?offset={len(items)}").json()
        self.assertEqual(r, {"items": [], "count": 0})
        self.assertEqual(self.srv.get("/api/items?limit=1").json()["count"], 1)
        self.assertEqual(self.srv.get("/api/items?limit=1000").status, 200)
        for q in ("limit=0", "limit=1001", "limit=-1", "limit=abc", "offset=-1", "offset=1.5",
                  "limit=", "limit=99999999999"):
            with self.subTest(q=q):
                r = self.srv.get("/api/items?" + q)
                self.assertEqual(r.status, 400, r)
                self.assertIn("query parameter", r.json()["error"]["message"])
        self.assertLessEqual(self.srv.get("/api/items").json()["count"], 100)

    def test_ids(self):
        self.assertEqual(self.srv.get("/api/items/999999").status, 404)
        for bad in ("abc", "0", "-1", "1.5", "99999999999999999999"):
            self.assertEqual(self.srv.get("/api/items/" + bad).status, 400, bad)

    def test_concurrent_writers_count_exactly(self):
        before = self.count_rows()
        results = []
        lock = threading.Lock()

        def writer(n):
            for i in range(4):
                r = self.post({"name": f"writer {n}/{i}", "price": n + i / 100})
                with lock:
                    results.append((r.status, r.json().get("id")))

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([s for s, _ in results], [201] * 200)
        ids = [i for _, i in results]
        self.assertEqual(len(set(ids)), 200)
        self.assertEqual(self.count_rows(), before + 200)
        self.assertTrue(set(ids) <= {i["id"] for i in self.all_items()})

    def test_bson(self):
        bson_h = {"Accept": "application/bson"}
        for path in ("/api/items", "/api/items/1", "/api/items?limit=2"):
            with self.subTest(path=path):
                j = self.srv.get(path)
                b = self.srv.get(path, bson_h)
                self.assertEqual(b.status, 200)
                self.assertEqual(b.header("Content-Type"), "application/bson")
                self.assertEqual(decode(b.body), j.json())
        r = self.srv.request("POST", "/api/items", {**AUTH, **bson_h}, body({"name": "b", "price": 2.5}))
        self.assertEqual(r.status, 201)
        self.assertEqual(decode(r.body)["price"], 2.5)
        self.assertEqual(self.srv.get("/api/items", {"Accept": "text/html"}).status, 406)
        self.assertEqual(self.srv.get("/api/items", {"Accept": "*/*"}).header("Content-Type"),
                         "application/json; charset=utf-8")
        r = self.srv.get("/api/items", {"Accept": "application/json;q=0.5, application/bson"})
        self.assertEqual(r.header("Content-Type"), "application/bson")
        # Errors are JSON whatever was asked.
        r = self.srv.get("/api/items/999999", bson_h)
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["error"]["status"], 404)

    def test_head_and_too_large(self):
        from harness import read_response
        h = self.srv.request("HEAD", "/api/items/1")
        self.assertEqual((h.status, h.body), (200, b""))
        # A client sending a large body waits for "100 Continue" (curl does): it gets
        # the 413 before sending any of it.
        s = self.srv.connect()
        try:
            s.sendall(b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"X-API-Key: " + KEY.encode() + b"\r\nContent-Length: 2097152\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            r = read_response(s)
        finally:
            s.close()
        self.assertEqual(r.status, 413)
        # Up to the limit is fine.
        r = self.post(b'{"name":"x","price":1}' + b" " * ((1 << 20) - 22))
        self.assertEqual(r.status, 201, r)
