"""Integration tests of AsyncPermissionMongo against a real proxy (same
server, policy and variables as test_client.py)."""

import asyncio
import datetime as dt
import unittest
import uuid

try:
    from . import _path  # noqa: F401
except ImportError:
    import _path  # noqa: F401

from permission_mongo import (
    AsyncCursor,
    AsyncPermissionMongo,
    AuthenticationError,
    InvalidCursorError,
    NotFoundError,
    ObjectId,
    PermissionDeniedError,
)

from tests._server import C, KEY_A, KEY_ADMIN, KEY_B, TENANT_A, URL, UTC


@unittest.skipUnless(URL and KEY_A and KEY_B and KEY_ADMIN, "PM_SDK_TEST_* not set")
class AsyncClientTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.tag = uuid.uuid4().hex[:12]
        self.a = AsyncPermissionMongo(url=URL, api_key=KEY_A, timeout=20)
        self.b = AsyncPermissionMongo(url=URL, api_key=KEY_B, timeout=20)

    async def asyncTearDown(self):
        await self.a.aclose()
        await self.b.aclose()

    def key(self, name):
        return f"{self.tag}-{name}"

    async def test_documented_flow(self):
        # The SDK document's async example, against the real server.
        async with AsyncPermissionMongo(url=URL, api_key=KEY_A) as client:
            user = await client.insert(C, {"name": "Async User", "email": "async@example.com",
                                           "status": "active", "grp": self.tag})
            self.assertIsInstance(user["_id"], ObjectId)
            self.assertEqual(user["tenant_id"], TENANT_A)
            self.assertEqual(user["email"], "a****@example.com", "masks apply")
            users = await client.find(C, {"status": "active", "grp": self.tag})
            self.assertIsInstance(users, AsyncCursor)
            names = [u["name"] async for u in users]
        self.assertEqual(names, ["Async User"])

    async def test_crud_and_isolation(self):
        doc = await self.a.insert(C, {"_id": self.key("n1"), "text": "hello", "n": 1})
        self.assertEqual(doc["tenant_id"], TENANT_A)
        self.assertIsNone(await self.b.get(C, self.key("n1")), "another tenant's document is not found")
        upd = await self.a.update(C, self.key("n1"), {"$set": {"text": "bye"}, "$inc": {"n": 2}})
        self.assertEqual((upd["text"], upd["n"]), ("bye", 3))
        self.assertIsInstance(upd["updated_at"], dt.datetime)
        rep = await self.a.replace(C, self.key("n1"), {"text": "whole", "tenant_id": TENANT_A})
        self.assertNotIn("n", rep)
        with self.assertRaises(PermissionDeniedError):
            await self.a.replace(C, self.key("n1"), {"text": "no tenant"})  # would leave the caller's scope
        with self.assertRaises(PermissionDeniedError) as cm:
            await self.a.update(C, self.key("n1"), {"$set": {"locked": True}})
        self.assertEqual((cm.exception.status_code, cm.exception.error_code), (403, "FORBIDDEN"))
        with self.assertRaises(NotFoundError):
            await self.b.delete(C, self.key("n1"))
        self.assertEqual(await self.a.delete(C, self.key("n1")), {"deleted": True, "id": self.key("n1")})
        self.assertIsNone(await self.a.get(C, self.key("n1")))

    async def test_async_for_follows_cursors(self):
        want = sorted(self.key("p%02d" % i) for i in range(23))
        res = await self.a.batch_create(C, [{"_id": i, "grp": self.tag, "n": int(i[-2:])} for i in want])
        self.assertEqual(res["failed"], [])
        await self.b.insert(C, {"_id": self.key("other"), "grp": self.tag, "n": 5})
        cur = await self.a.find(C, {"grp": self.tag}, sort=["-n"], page_size=5)
        seen = [d["_id"] async for d in cur]
        self.assertEqual(seen, sorted(want, reverse=True), "every document once, in order, none of tenant B")
        self.assertEqual([d["_id"] async for d in self.a.iter_find(C, {"grp": self.tag}, sort=["n"],
                                                                   page_size=4, max_docs=10)], want[:10])
        self.assertEqual(len(await self.a.find_all(C, {"grp": self.tag}, page_size=7)), 23)
        page = await self.a.find(C, {"grp": self.tag}, limit=5, sort=["n"])
        self.assertEqual(len(page["data"]), 5)
        self.assertTrue(page["pagination"]["has_more"])
        nxt = await self.a.find(C, {"grp": self.tag}, limit=5, sort=["n"], cursor=page["pagination"]["cursor"])
        self.assertEqual([d["_id"] for d in nxt["data"]], want[5:10])
        with self.assertRaises(InvalidCursorError):
            await self.a.find(C, {"grp": "other"}, limit=5, cursor=page["pagination"]["cursor"])

    async def test_count_aggregate_batches(self):
        await self.a.batch_create(C, [{"grp": self.tag, "n": i} for i in range(12)])
        await self.b.batch_create(C, [{"grp": self.tag, "n": i} for i in range(3)])
        self.assertEqual(await self.a.count(C, {"grp": self.tag}), 12)
        rows = await self.a.aggregate(C, [{"$match": {"grp": self.tag, "n": {"$lt": 10}}}, {"$count": "total"}])
        self.assertEqual(rows, [{"total": 10}])
        res = await self.a.batch_update(C, filter={"grp": self.tag, "n": {"$gte": 10}}, update={"$set": {"s": 1}})
        self.assertEqual((res["matched"], res["modified"]), (2, 2))
        self.assertEqual(await self.a.batch_delete(C, filter={"grp": self.tag}), {"deleted": 12})
        self.assertEqual(await self.b.count(C, {"grp": self.tag}), 3, "tenant B's documents are untouched")

    async def test_concurrent_calls_share_the_pool(self):
        await self.a.batch_create(C, [{"_id": self.key(str(i)), "grp": self.tag} for i in range(20)])
        docs = await asyncio.gather(*(self.a.get(C, self.key(str(i))) for i in range(20)))
        self.assertEqual([d["_id"] for d in docs], [self.key(str(i)) for i in range(20)])

    async def test_helpers(self):
        id_ = self.key("v")
        await self.a.insert(C, {"_id": id_, "text": "v0"})
        await self.a.update(C, id_, {"text": "v1"})
        self.assertEqual([v["version"] for v in await self.a.versions(C, id_)], [1])
        self.assertEqual((await self.a.get_version(C, id_, 1))["text"], "v0")
        self.assertEqual((await self.a.restore_version(C, id_, 1))["text"], "v0")

        async def docs():
            for i in range(300):
                yield {"grp": self.tag, "n": i}
        progress = []
        res = await self.a.import_documents(C, docs(), progress=lambda n, b: progress.append(n))
        self.assertEqual((res["inserted"], res["failed"]), (300, []))
        self.assertEqual(progress[-1], 300)
        self.assertEqual(await self.a.count(C, {"grp": self.tag}), 300)

        self.assertTrue((await self.a.explain(C, "update"))["allowed"])
        async with AsyncPermissionMongo(url=URL, api_key=KEY_ADMIN) as admin:
            self.assertTrue((await admin.verify_audit())["ok"])
            n = 0
            async for _ in admin.iter_audit(page_size=3, actor="ua"):
                n += 1
                if n == 4:
                    break
            self.assertEqual(n, 4, "audit entries span several pages")
            self.assertIsInstance(await admin.list_api_keys(), list)

    async def test_bad_key(self):
        async with AsyncPermissionMongo(url=URL, api_key="pm_0000000000000000_nope") as bad:
            with self.assertRaises(AuthenticationError):
                await bad.get(C, "anything")


if __name__ == "__main__":
    unittest.main()
