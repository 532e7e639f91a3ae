"""Integration tests of the sync client against a real proxy.

Started by ``go test -run PythonSDK ./cmd/pm/`` (cmd/pm/sdk_python_test.go),
which runs the server (on the engine of PM_TEST_MONGODB_URI, or an embedded
FerretDB) with the policy below, ``notes`` versioned, and sets
PM_SDK_TEST_URL, PM_SDK_TEST_KEY_A / _B (members of tenants
PM_SDK_TEST_TENANT_A / _B), PM_SDK_TEST_KEY_ADMIN (tenant A, also admin and
analyst), PM_SDK_TEST_DATABASE and PM_SDK_TEST_GRANTS (whether the engine
can issue grants). Without those variables these tests are skipped.

The policy is sdkPolicy in cmd/pm/sdk_server_test.go: members create, read,
update, delete, aggregate and restore the notes of their own tenant
(``tenant_id`` preset from the key; ``locked`` not writable; ``email``
masked); admin may also read the audit log, manage API keys and ask for
grants on notes (as analyst).
"""

import datetime as dt
import io
import os
import time
import unittest
import uuid

try:
    from . import _path  # noqa: F401
except ImportError:
    import _path  # noqa: F401

from permission_mongo import (
    AuthenticationError,
    BadRequestError,
    InvalidCursorError,
    NotFoundError,
    NotSupportedError,
    ObjectId,
    PermissionDeniedError,
    PermissionMongo,
    PreconditionFailedError,
)

from tests._server import C, DATABASE, GRANTS, KEY_A, KEY_ADMIN, KEY_B, TENANT_A, URL, UTC, SharedClients


@unittest.skipUnless(URL and KEY_A and KEY_B, "PM_SDK_TEST_URL / PM_SDK_TEST_KEY_A / PM_SDK_TEST_KEY_B not set")
class ClientTest(SharedClients):
    CLIENTS = {"a": KEY_A, "b": KEY_B}

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

    def test_get_with_etag_and_if_match(self):
        self.a.insert(C, {"_id": self.key("e"), "text": "one"})
        doc, etag = self.a.get_with_etag(C, self.key("e"))
        self.assertEqual(doc["text"], "one")
        self.assertEqual(self.b.get_with_etag(C, self.key("e")), (None, None))
        if etag is None:
            # Servers before ETag support send none; get_with_etag must say
            # so rather than invent one. With ETags, the branch below runs.
            return
        self.assertIsInstance(etag, str)
        self.a.update(C, self.key("e"), {"text": "two"}, if_match=etag)
        with self.assertRaises(PreconditionFailedError):
            self.a.update(C, self.key("e"), {"text": "three"}, if_match=etag)
        self.assertEqual(self.a.get(C, self.key("e"))["text"], "two", "a 412 writes nothing")

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
            with PermissionMongo(URL, key) as bad:
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

    def test_max_docs_caps_iteration(self):
        self.a.batch_create(C, [{"grp": self.tag, "n": i} for i in range(9)])
        got = [d["n"] for d in self.a.iter_find(C, {"grp": self.tag}, sort=["n"], page_size=4, max_docs=6)]
        self.assertEqual(got, [0, 1, 2, 3, 4, 5])

    def test_per_call_headers_and_log_hook(self):
        events = []
        with PermissionMongo(URL, KEY_A, log_hook=events.append, headers={"X-Request-ID": "default-id"}) as c:
            c.insert(C, {"_id": self.key("h")})
            c.get(C, self.key("h"), headers={"X-Request-ID": "call-id-" + self.tag})
        self.assertEqual([(e.method, e.status) for e in events], [("POST", 201), ("GET", 200)])
        self.assertEqual(events[0].request_id, "default-id", "the server echoes the client's request id")
        self.assertEqual(events[1].request_id, "call-id-" + self.tag, "per-call headers win over defaults")


@unittest.skipUnless(URL and KEY_A and KEY_B and KEY_ADMIN, "PM_SDK_TEST_* not set")
class HelpersTest(SharedClients):
    """Versions, audit, import, API keys, grants, explain."""

    CLIENTS = {"a": KEY_A, "admin": KEY_ADMIN}

    def setUp(self):
        self.tag = uuid.uuid4().hex[:12]

    def test_versions_and_restore(self):
        id_ = self.tag + "-v"
        self.a.insert(C, {"_id": id_, "text": "v0"})
        self.a.update(C, id_, {"$set": {"text": "v1"}})
        self.a.update(C, id_, {"$set": {"text": "v2"}})
        vs = self.a.versions(C, id_)
        self.assertEqual([v["version"] for v in vs], [2, 1], "newest first")
        self.assertEqual(vs[0]["updated_by"], "ua")
        self.assertEqual(self.a.get_version(C, id_, 1)["text"], "v0")
        self.assertEqual(self.a.get_version(C, id_, 2, fields=["text"]), {"_id": id_, "text": "v1"})
        restored = self.a.restore_version(C, id_, 1)
        self.assertEqual(restored["text"], "v0")
        self.assertEqual(self.a.get(C, id_)["text"], "v0")
        with self.assertRaises(NotFoundError):
            self.a.get_version(C, id_, 99)

    def test_import_file_iterator_and_progress(self):
        lines = "".join('{"_id": "%s-%d", "n": %d}\n' % (self.tag, i, i) for i in range(50))
        lines += '{"_id": "%s-bad", "locked": true}\n' % self.tag  # deny_write: refused, line 51
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "pm-sdk-import-%s.ndjson" % self.tag)
        with open(path, "w") as f:
            f.write(lines)
        self.addCleanup(os.remove, path)
        seen = []
        res = self.a.import_documents(C, path, progress=lambda n, b: seen.append((n, b)))
        self.assertEqual(res["inserted"], 50)
        self.assertEqual([f["line"] for f in res["failed"]], [51])
        self.assertEqual(seen[-1], (51, len(lines.encode())))
        self.assertEqual(self.a.count(C, {"_id": {"$regex": "^" + self.tag}}), 50)

        docs = ({"grp": self.tag, "n": i, "at": dt.datetime(2024, 1, 1, tzinfo=UTC)} for i in range(1000))
        res = self.a.import_documents(C, docs)
        self.assertEqual((res["inserted"], res["failed"]), (1000, []))
        self.assertEqual(self.a.count(C, {"grp": self.tag, "at": dt.datetime(2024, 1, 1, tzinfo=UTC)}), 1000)
        self.assertEqual(self.a.import_documents(C, io.BytesIO(b'{"grp": "x"}\n'))["inserted"], 1)

    def test_audit_query_and_verify(self):
        since = dt.datetime.now(UTC) - dt.timedelta(seconds=5)
        doc = self.a.insert(C, {"_id": self.tag + "-audited"})
        with self.assertRaises(PermissionDeniedError):
            self.a.audit(collection=C)  # a member may not read the audit log
        deadline = time.monotonic() + 30
        while True:  # entries are written asynchronously
            page = self.admin.audit(collection=C, doc_id=doc["_id"], action="create", from_=since, limit=10)
            if page["data"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(len(page["data"]), 1, page)
        e = page["data"][0]
        self.assertEqual((e["actor"]["id"], e["outcome"], e["collection"]), ("ua", "allowed", C))
        self.assertIn("pagination", page)
        everything = list(self.admin.iter_audit(page_size=2, actor="ua", from_=since))
        self.assertGreaterEqual(len(everything), 2, "the member's create and the refused audit read")
        self.assertEqual(len({x["id"] for x in everything}), len(everything), "no entry twice across pages")
        v = self.admin.verify_audit()
        self.assertTrue(v["ok"], v)
        self.assertGreater(v["checked"], 0)
        with self.assertRaises(BadRequestError):
            self.admin.audit(outcome="allowed", from_="yesterday")

    def test_api_keys(self):
        created = self.admin.create_api_key("sdk-" + self.tag, {"id": "u-" + self.tag, "tenant_id": "ta",
                                                               "roles": ["member"]}, expires_in="1h")
        self.assertTrue(created["key"].startswith("pm_"))
        with PermissionMongo(URL, created["key"]) as fresh:
            self.assertEqual(fresh.insert(C, {"_id": self.tag + "-k"})["created_by"], "u-" + self.tag)
        listed = {k["id"]: k for k in self.admin.list_api_keys()}
        self.assertIn(created["id"], listed)
        self.assertNotIn("key", listed[created["id"]], "a key is shown once")
        self.assertEqual(self.admin.revoke_api_key(created["id"])["revoked"], True)
        with PermissionMongo(URL, created["key"], max_retries=0) as revoked:
            deadline = time.monotonic() + 30
            while True:  # revocation reaches the key cache within its lifetime
                try:
                    revoked.get(C, self.tag + "-k")
                except AuthenticationError:
                    break
                self.assertLess(time.monotonic(), deadline, "a revoked key still works")
                time.sleep(0.2)
        with self.assertRaises(PermissionDeniedError):
            self.a.list_api_keys()

    def test_grants(self):
        if not GRANTS:
            # The engine lacks user management / custom roles: the server
            # says so with 501, which the SDK maps to NotSupportedError.
            with self.assertRaises(NotSupportedError) as cm:
                self.admin.create_grant(DATABASE, [C], actions=["find"], ttl="10m")
            self.assertEqual(cm.exception.status_code, 501)
            self.assertTrue(cm.exception.details.get("capability"), cm.exception.details)
            return
        g = self.admin.create_grant(DATABASE, [C], actions=["find"], ttl="10m")
        self.assertTrue(g["password"] and g["username"] and g["uri"])
        got = self.admin.get_grant(g["grant_id"])
        self.assertNotIn("password", got)
        self.assertIn(g["grant_id"], [x["grant_id"] for x in self.admin.list_grants()])
        self.assertIn("expires_at", self.admin.renew_grant(g["grant_id"], "20m"))
        self.assertEqual(self.admin.revoke_grant(g["grant_id"])["revoked"], True)
        self.assertEqual(self.admin.revoke_grant(g["grant_id"])["revoked"], True, "idempotent")
        with self.assertRaises(PermissionDeniedError):
            self.a.create_grant(DATABASE, [C], actions=["find"], ttl="10m")

    def test_explain(self):
        ex = self.a.explain(C, "read")
        self.assertTrue(ex["allowed"])
        self.assertIn("tenant_id", str(ex["filter"]))
        self.assertFalse(self.a.explain("nothing_here", "read")["allowed"])


if __name__ == "__main__":
    unittest.main()
