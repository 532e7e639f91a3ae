"""Integration tests against a real proxy.

Started by ``go test -run Python ./cmd/pm/`` (cmd/pm/python_sdk_test.go),
which runs the server on the embedded backend with the policy below and sets
PM_SDK_TEST_URL, PM_SDK_TEST_KEY_A / _B (tenants PM_SDK_TEST_TENANT_A / _B).
Without those variables these tests are skipped.

    notes:
      member:
        actions: [create, read, update, delete, aggregate]
        when: "resource.tenant_id == user.tenant_id"
        fields: {deny_write: [locked]}
      presets: {tenant_id: user.tenant_id}
"""

import datetime as dt
import os
import unittest
import uuid

try:
    from . import _path  # noqa: F401
except ImportError:
    import _path  # noqa: F401

from permission_mongo import (
    AuthenticationError,
    InvalidCursorError,
    NotFoundError,
    ObjectId,
    PermissionDeniedError,
    PermissionMongo,
)

URL = os.environ.get("PM_SDK_TEST_URL")
KEY_A = os.environ.get("PM_SDK_TEST_KEY_A")
KEY_B = os.environ.get("PM_SDK_TEST_KEY_B")
TENANT_A = os.environ.get("PM_SDK_TEST_TENANT_A", "ta")
UTC = dt.timezone.utc
C = "notes"


@unittest.skipUnless(URL and KEY_A and KEY_B, "PM_SDK_TEST_URL / PM_SDK_TEST_KEY_A / PM_SDK_TEST_KEY_B not set")
class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = PermissionMongo(URL, KEY_A, timeout=20)
        cls.b = PermissionMongo(URL, KEY_B, timeout=20)

    def setUp(self):
        # Every test works on its own documents.
        self.tag = uuid.uuid4().hex[:12]

    def key(self, name):
        return f"{self.tag}-{name}"

    def test_insert_returns_presets_and_stamps(self):
        doc = self.a.insert(C, {"_id": self.key("n1"), "text": "hello"})
        self.assertEqual(doc["_id"], self.key("n1"))
        self.assertEqual(doc["text"], "hello")
        self.assertEqual(doc["tenant_id"], TENANT_A, "the preset comes from the caller's key")
        self.assertIsInstance(doc["created_at"], dt.datetime)
        self.assertIsNotNone(doc["created_at"].tzinfo)
        self.assertIn("created_by", doc)

        auto = self.a.insert(C, {"text": "no id"})
        self.assertIsInstance(auto["_id"], ObjectId, "a generated _id decodes to ObjectId")
        self.assertEqual(self.a.get(C, auto["_id"])["text"], "no id")
        self.assertEqual(self.a.count(C, {"_id": auto["_id"]}), 1, "an ObjectId filters as $oid")

    def test_get_and_tenant_isolation(self):
        self.a.insert(C, {"_id": self.key("n1"), "text": "mine"})
        got = self.a.get(C, self.key("n1"))
        self.assertEqual(got["text"], "mine")
        self.assertIsNone(self.b.get(C, self.key("n1")), "another tenant's document is not found")
        self.assertIsNone(self.a.get(C, self.key("missing")))
        only = self.a.get(C, self.key("n1"), fields=["text"])
        self.assertEqual(only.get("text"), "mine")
        self.assertNotIn("created_at", only)

    def test_update_with_set(self):
        self.a.insert(C, {"_id": self.key("n1"), "text": "hello", "n": 1})
        upd = self.a.update(C, self.key("n1"), {"$set": {"text": "bye"}, "$inc": {"n": 2}})
        self.assertEqual((upd["text"], upd["n"]), ("bye", 3))
        self.assertIsInstance(upd["updated_at"], dt.datetime)
        merged = self.a.update(C, self.key("n1"), {"extra": True})
        self.assertEqual((merged["text"], merged["extra"]), ("bye", True), "a partial document is merged")
        with self.assertRaises(NotFoundError):
            self.b.update(C, self.key("n1"), {"$set": {"text": "hijack"}})

    def test_deny_write_is_permission_denied(self):
        self.a.insert(C, {"_id": self.key("n1"), "text": "hello"})
        with self.assertRaises(PermissionDeniedError) as cm:
            self.a.update(C, self.key("n1"), {"$set": {"locked": True}})
        e = cm.exception
        self.assertEqual((e.status_code, e.error_code), (403, "FORBIDDEN"))
        self.assertTrue(e.message)
        self.assertTrue(e.request_id)
        self.assertNotIn("locked", self.a.get(C, self.key("n1")))

    def test_find_pagination_every_document_once(self):
        want = {self.key("p%02d" % i) for i in range(23)}
        res = self.a.batch_create(C, [{"_id": i, "grp": self.tag, "n": int(i[-2:])} for i in sorted(want)])
        self.assertEqual(res["failed"], [])
        self.b.insert(C, {"_id": self.key("other"), "grp": self.tag, "n": 5})

        seen, pages, cursor = [], 0, None
        while True:
            page = self.a.find(C, {"grp": self.tag}, limit=5, sort=["-n"], cursor=cursor)
            self.assertEqual(set(page), {"data", "pagination"})
            self.assertLessEqual(len(page["data"]), 5)
            seen.extend(d["_id"] for d in page["data"])
            pages += 1
            if not page["pagination"]["has_more"]:
                self.assertIsNone(page["pagination"]["cursor"])
                break
            cursor = page["pagination"]["cursor"]
            self.assertTrue(cursor)
        self.assertEqual(pages, 5)
        self.assertEqual(len(seen), len(want), "no document twice")
        self.assertEqual(set(seen), want, "every document of tenant A, none of tenant B")
        self.assertEqual(seen, sorted(want, reverse=True), "sorted by -n")

        self.assertEqual([d["_id"] for d in self.a.iter_find(C, {"grp": self.tag}, sort=["n"], page_size=4)],
                         sorted(want))
        everything = self.a.find(C, {"grp": self.tag}, fields=["n"])
        self.assertIsInstance(everything, list, "find without limit returns every page")
        self.assertEqual({d["_id"] for d in everything}, want)
        self.assertNotIn("grp", everything[0])
        self.assertEqual(len(self.a.find_all(C, {"grp": self.tag}, page_size=50)), 23)

        with self.assertRaises(InvalidCursorError):
            self.a.find(C, {"grp": "something else"}, limit=5, cursor=self.a.find(C, {"grp": self.tag}, limit=5)
                        ["pagination"]["cursor"])

    def test_count(self):
        self.a.batch_create(C, [{"grp": self.tag, "n": i} for i in range(12)])
        self.b.batch_create(C, [{"grp": self.tag, "n": i} for i in range(3)])
        self.assertEqual(self.a.count(C, {"grp": self.tag}), 12)
        self.assertEqual(self.a.count(C, {"grp": self.tag, "n": {"$gte": 10}}), 2)
        self.assertEqual(self.b.count(C, {"grp": self.tag}), 3)

    def test_aggregate_match_count(self):
        self.a.batch_create(C, [{"grp": self.tag, "n": i} for i in range(15)])
        self.b.batch_create(C, [{"grp": self.tag, "n": i} for i in range(4)])
        rows = self.a.aggregate(C, [{"$match": {"grp": self.tag, "n": {"$lt": 10}}}, {"$count": "total"}])
        self.assertEqual(rows, [{"total": 10}], "the permission filter hides tenant B's documents")

    def test_batch_insert_reports_bad_document_by_index(self):
        res = self.a.batch_insert(C, [
            {"_id": self.key("ok1"), "text": "fine"},
            {"_id": self.key("bad"), "locked": True},  # deny_write field
            {"_id": self.key("ok2"), "text": "fine too"},
        ])
        self.assertEqual(res["created"], [self.key("ok1"), self.key("ok2")])
        self.assertEqual(len(res["failed"]), 1)
        self.assertEqual(res["failed"][0]["index"], 1)
        self.assertEqual(res["failed"][0]["error"]["code"], "FORBIDDEN")
        self.assertTrue(res["failed"][0]["error"]["message"])
        self.assertIsNone(self.a.get(C, self.key("bad")))
        self.assertIsNotNone(self.a.get(C, self.key("ok2")))

    def test_batch_update(self):
        self.a.batch_create(C, [{"_id": self.key(str(i)), "grp": self.tag, "n": i} for i in range(4)])
        self.b.insert(C, {"_id": self.key("b"), "grp": self.tag})
        res = self.a.batch_update(C, ids=[self.key("0"), self.key("1"), self.key("b")], update={"$set": {"s": "x"}})
        self.assertEqual((res["matched"], res["modified"]), (2, 2))
        res = self.a.batch_update(C, filter={"grp": self.tag, "n": {"$gte": 2}}, update={"s": "y"})
        self.assertEqual(res["modified"], 2)
        self.assertEqual(self.a.count(C, {"grp": self.tag, "s": {"$exists": True}}), 4)
        self.assertNotIn("s", self.b.get(C, self.key("b")), "tenant B's document is never touched")
        with self.assertRaises(PermissionDeniedError):
            self.a.batch_update(C, filter={"grp": self.tag}, update={"$set": {"locked": True}})

    def test_batch_delete_by_ids(self):
        self.a.batch_create(C, [{"_id": self.key(str(i)), "grp": self.tag} for i in range(3)])
        self.b.insert(C, {"_id": self.key("b"), "grp": self.tag})
        res = self.a.batch_delete(C, ids=[self.key("0"), self.key("1"), self.key("b"), self.key("nope")])
        self.assertEqual(res, {"deleted": 2})
        self.assertEqual([d["_id"] for d in self.a.find(C, {"grp": self.tag})], [self.key("2")])
        self.assertIsNotNone(self.b.get(C, self.key("b")), "tenant B's document is skipped")
        self.assertEqual(self.a.batch_delete(C, filter={"grp": self.tag}), {"deleted": 1})

    def test_delete(self):
        self.a.insert(C, {"_id": self.key("n1")})
        with self.assertRaises(NotFoundError):
            self.b.delete(C, self.key("n1"))
        self.assertEqual(self.a.delete(C, self.key("n1")), {"deleted": True, "id": self.key("n1")})
        self.assertIsNone(self.a.get(C, self.key("n1")))
        with self.assertRaises(NotFoundError):
            self.a.delete(C, self.key("n1"))

    def test_bad_api_key(self):
        for key in ("pm_0000000000000000_nope", "garbage"):
            bad = PermissionMongo(URL, key)
            with self.assertRaises(AuthenticationError) as cm:
                bad.get(C, "anything")
            self.assertEqual((cm.exception.status_code, cm.exception.error_code), (401, "UNAUTHENTICATED"))
            with self.assertRaises(AuthenticationError):
                bad.insert(C, {"x": 1})

    def test_datetime_round_trip(self):
        when = dt.datetime(2024, 3, 4, 10, 0, 0, 123000, tzinfo=UTC)
        naive = dt.datetime(2001, 2, 3, 4, 5, 6)
        plus2 = dt.datetime(2024, 3, 4, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        doc = self.a.insert(C, {"_id": self.key("d"), "when": when, "naive": naive, "plus2": plus2,
                                "list": [when], "nested": {"at": when}})
        for got in (doc, self.a.get(C, self.key("d"))):
            self.assertEqual(got["when"], when)
            self.assertEqual(got["when"].tzinfo, UTC)
            self.assertEqual(got["naive"], naive.replace(tzinfo=UTC), "naive datetimes are UTC")
            self.assertEqual(got["plus2"], plus2)
            self.assertEqual(got["list"], [when])
            self.assertEqual(got["nested"]["at"], when)
        self.assertEqual(self.a.count(C, {"_id": self.key("d"), "when": {"$gte": when}}), 1)
        self.assertEqual(self.a.count(C, {"_id": self.key("d"), "when": {"$gt": when}}), 0)
        self.assertEqual(self.a.count(C, {"_id": self.key("d"), "when": "2024-03-04T10:00:00.123Z"}), 0,
                         "a string is not a date")
        moved = self.a.update(C, self.key("d"), {"$set": {"when": when + dt.timedelta(days=1)}})
        self.assertEqual(moved["when"], dt.datetime(2024, 3, 5, 10, 0, 0, 123000, tzinfo=UTC))


if __name__ == "__main__":
    unittest.main()
