"""The items API on the embedded store."""

import unittest

from harness import Server
from items_contract import KEY, ItemsContract, body


class MemoryItemsTest(ItemsContract, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server({"API_KEY": KEY})

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def count_rows(self):
        return len(self.all_items())

    def test_no_api_key_means_writes_disabled(self):
        with Server() as srv:
            r = srv.request("POST", "/api/items",
                            {"Content-Type": "application/json", "Authorization": "Bearer x"},
                            body({"name": "x", "price": 1}))
            self.assertEqual(r.status, 403)
            self.assertEqual(srv.request("DELETE", "/api/items/1", {"X-API-Key": "x"}).status, 403)
            self.assertEqual(srv.get("/api/items/1").status, 200)  # reads still work


if __name__ == "__main__":
    unittest.main()
