"""Tests that need no server: Extended JSON, error mapping and the retry
policy (against a scripted local HTTP server)."""

import datetime as dt
import decimal
import http.server
import json
import socket
import threading
import unittest
import uuid

try:
    from . import _path  # noqa: F401
except ImportError:  # started with the tests folder as top level
    import _path  # noqa: F401

from permission_mongo import (
    AsyncPermissionMongo,
    AuthenticationError,
    PreconditionFailedError,
    RequestEvent,
    BadRequestError,
    InvalidCursorError,
    NetworkError,
    NotFoundError,
    ObjectId,
    PermissionDeniedError,
    PermissionMongo,
    PermissionMongoError,
    RateLimitError,
    RetryConfig,
    ServerError,
    ServiceUnavailableError,
    ValidationError,
)
from permission_mongo import extjson

UTC = dt.timezone.utc


class PackagingTest(unittest.TestCase):
    def test_version_matches_pyproject(self):
        import os
        import re
        import permission_mongo
        with open(os.path.join(_path.ROOT, "pyproject.toml")) as f:
            m = re.search(r'^version = "([^"]+)"', f.read(), re.M)
        self.assertEqual(m.group(1), permission_mongo.__version__)


class ExtJSONTest(unittest.TestCase):
    def test_decode(self):
        got = extjson.loads(json.dumps({
            "_id": {"$oid": "507f1f77bcf86cd799439011"},
            "at": {"$date": "2024-03-04T10:00:00.123Z"},
            "off": {"$date": "2024-03-04T12:00:00+02:00"},
            "old": {"$date": {"$numberLong": "-86400000"}},
            "big": {"$numberLong": "9007199254740993"},
            "dec": {"$numberDecimal": "1.10"},
            "nan": {"$numberDouble": "NaN"},
            "bin": {"$binary": {"base64": "AAEC", "subType": "00"}},
            "uid": {"$binary": {"base64": "EjRWeBI0VngSNFZ4EjRWeA==", "subType": "04"}},
            "re": {"$regularExpression": {"pattern": "a", "options": ""}},
            "nested": [{"x": {"$oid": "507f1f77bcf86cd799439012"}}],
            "plain": {"$in": [1, 2]},
        }))
        self.assertIsInstance(got["_id"], ObjectId)
        self.assertEqual(got["_id"], "507f1f77bcf86cd799439011")
        self.assertEqual(got["at"], dt.datetime(2024, 3, 4, 10, 0, 0, 123000, tzinfo=UTC))
        self.assertEqual(got["off"], dt.datetime(2024, 3, 4, 10, 0, tzinfo=UTC))
        self.assertEqual(got["off"].tzinfo, UTC)
        self.assertEqual(got["old"], dt.datetime(1969, 12, 31, tzinfo=UTC))
        self.assertEqual(got["big"], 9007199254740993)
        self.assertEqual(got["dec"], decimal.Decimal("1.10"))
        self.assertNotEqual(got["nan"], got["nan"])
        self.assertEqual(got["bin"], b"\x00\x01\x02")
        self.assertEqual(got["uid"], uuid.UUID("12345678-1234-5678-1234-567812345678"))
        self.assertEqual(got["re"], {"$regularExpression": {"pattern": "a", "options": ""}})
        self.assertIsInstance(got["nested"][0]["x"], ObjectId)
        self.assertEqual(got["plain"], {"$in": [1, 2]})

    def test_encode(self):
        enc = json.loads(extjson.dumps({
            "_id": ObjectId("507F1F77BCF86CD799439011"),
            "s": "507f1f77bcf86cd799439011",
            "aware": dt.datetime(2024, 3, 4, 12, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "naive": dt.datetime(2024, 3, 4, 10, 0),
            "old": dt.datetime(1960, 1, 1, tzinfo=UTC),
            "dec": decimal.Decimal("2.50"),
            "inf": float("inf"),
            "b": b"\x00\x01\x02",
            "t": (1, 2),
        }))
        self.assertEqual(enc["_id"], {"$oid": "507f1f77bcf86cd799439011"})
        self.assertEqual(enc["s"], "507f1f77bcf86cd799439011", "a plain str stays a string")
        self.assertEqual(enc["aware"], {"$date": "2024-03-04T10:00:00.123Z"})
        self.assertEqual(enc["naive"], {"$date": "2024-03-04T10:00:00.000Z"}, "naive means UTC")
        self.assertEqual(enc["old"], {"$date": {"$numberLong": "-315619200000"}})
        self.assertEqual(enc["dec"], {"$numberDecimal": "2.50"})
        self.assertEqual(enc["inf"], {"$numberDouble": "Infinity"})
        self.assertEqual(enc["b"], {"$binary": {"base64": "AAEC", "subType": "00"}})
        self.assertEqual(enc["t"], [1, 2])
        with self.assertRaises(TypeError):
            extjson.dumps({"x": object()})
        with self.assertRaises(TypeError):
            extjson.dumps({1: "non-string key"})

    def test_round_trip(self):
        v = {"at": dt.datetime(2031, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
             "id": ObjectId("507f1f77bcf86cd799439011"), "d": decimal.Decimal("3.14"),
             "list": [dt.datetime(1970, 1, 1, tzinfo=UTC)]}
        self.assertEqual(extjson.loads(extjson.dumps(v)), v)

    def test_object_id(self):
        with self.assertRaises(ValueError):
            ObjectId("nope")
        oid = ObjectId("507f1f77bcf86cd799439011")
        self.assertEqual(oid.generation_time, dt.datetime(2012, 10, 17, 21, 13, 27, tzinfo=UTC))


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers from the server's script: a list of (status, headers, body).
    HTTP/1.1 with keep-alive, so that connection reuse can be observed
    (server.ports: the client port of every request)."""

    protocol_version = "HTTP/1.1"

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _serve(self):
        srv = self.server
        body = self._body()
        srv.ports.append(self.client_address[1])
        srv.requests.append((self.command, self.path, self.headers, body))
        status, headers, payload = srv.script.pop(0) if srv.script else (200, {}, {"data": {}})
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, *args):
        pass


def _err(status, code, message="m", headers=None, details=None):
    body = {"error": {"code": code, "message": message}, "request_id": "rid-1"}
    if details:
        body["error"]["details"] = details
    return (status, headers or {}, body)


class ScriptedServerTest(unittest.TestCase):
    def setUp(self):
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.srv.script = []
        self.srv.requests = []
        self.srv.ports = []
        threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.addCleanup(self.srv.server_close)
        self.addCleanup(self.srv.shutdown)
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        self.client = PermissionMongo(self.url, "pm_k_s", timeout=5,
                                      retry_config=RetryConfig(max_retries=3, backoff_factor=0.5))
        self.addCleanup(self.client.close)
        self.sleeps = []
        self.client._sleep = self.sleeps.append

    def test_request_shape(self):
        self.srv.script = [(201, {}, {"data": {"_id": {"$oid": "507f1f77bcf86cd799439011"}}})]
        c = PermissionMongo(self.url + "/", "pm_k_s", headers={"X-Custom": "1"})
        self.addCleanup(c.close)
        c.set_headers({"X-Tenant": "t"})
        doc = c.insert("my notes", {"at": dt.datetime(2024, 1, 1)}, headers={"X-Request-ID": "abc"})
        self.assertIsInstance(doc["_id"], ObjectId)
        method, path, headers, body = self.srv.requests[0]
        self.assertEqual((method, path), ("POST", "/collections/my%20notes"))
        self.assertEqual(headers["Authorization"], "Bearer pm_k_s")
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual((headers["X-Custom"], headers["X-Tenant"], headers["X-Request-ID"]), ("1", "t", "abc"))
        self.assertEqual(json.loads(body), {"at": {"$date": "2024-01-01T00:00:00.000Z"}})

    def test_find_shapes(self):
        page1 = {"data": [{"n": 1}], "pagination": {"cursor": "c1", "has_more": True}}
        page2 = {"data": [{"n": 2}], "pagination": {"cursor": None, "has_more": False}}
        self.srv.script = [(200, {}, page1)]
        self.assertEqual(self.client.find("c", {"a": 1}, limit=1, sort=["-n"], fields=["n"]), page1)
        self.assertEqual(json.loads(self.srv.requests[0][3]),
                         {"filter": {"a": 1}, "sort": ["-n"], "limit": 1, "fields": ["n"]})
        self.srv.script = [(200, {}, page1), (200, {}, page2)]
        self.assertEqual(self.client.find("c", {"a": 1}), [{"n": 1}, {"n": 2}], "no limit: every page")
        self.assertEqual(json.loads(self.srv.requests[2][3])["cursor"], "c1")

    def test_find_max_docs_caps_the_list(self):
        self.srv.script = [(200, {}, {"data": [{"n": 1}, {"n": 2}], "pagination": {"cursor": "c1", "has_more": True}})]
        self.assertEqual(self.client.find("c", page_size=5, max_docs=2), [{"n": 1}, {"n": 2}])
        self.assertEqual([json.loads(r[3])["limit"] for r in self.srv.requests], [2],
                         "one request, for no more than max_docs, and no next page")

    def test_iter_find_lowers_page_size_to_server_max(self):
        self.srv.script = [(400, {}, {"error": {"code": "BAD_REQUEST", "message": "limit must be between 1 and 2",
                                                "details": {"max_limit": 2}}}),
                           (200, {}, {"data": [{"n": 1}, {"n": 2}], "pagination": {"cursor": "c", "has_more": True}}),
                           (200, {}, {"data": [{"n": 3}], "pagination": {"cursor": None, "has_more": False}})]
        self.assertEqual([d["n"] for d in self.client.iter_find("c", page_size=100)], [1, 2, 3])
        self.assertEqual([json.loads(r[3])["limit"] for r in self.srv.requests], [100, 2, 2])

    def test_error_mapping(self):
        cases = [
            (_err(400, "BAD_REQUEST"), BadRequestError),
            (_err(400, "INVALID_CURSOR"), InvalidCursorError),
            (_err(401, "UNAUTHENTICATED"), AuthenticationError),
            (_err(403, "FORBIDDEN"), PermissionDeniedError),
            (_err(404, "NOT_FOUND"), NotFoundError),
            (_err(422, "VALIDATION_FAILED", details={"field": "name"}), ValidationError),
            (_err(500, "INTERNAL"), ServerError),
            ((418, {}, b"teapot"), PermissionMongoError),
        ]
        for resp, cls in cases:
            self.srv.script = [resp]
            with self.assertRaises(cls) as cm:
                self.client.count("c", {})
            self.assertEqual(type(cm.exception), cls)
            self.assertEqual(cm.exception.status_code, resp[0])
        self.assertEqual(self.sleeps, [], "4xx and 500 are never retried")

    def test_error_fields(self):
        self.srv.script = [_err(422, "VALIDATION_FAILED", "name is required", details={"field": "name"})]
        with self.assertRaises(ValidationError) as cm:
            self.client.insert("users", {"name": ""})
        e = cm.exception
        self.assertEqual((e.status_code, e.error_code, e.message, e.details, e.request_id),
                         (422, "VALIDATION_FAILED", "name is required", {"field": "name"}, "rid-1"))
        self.assertIn("VALIDATION_FAILED", str(e))

    def test_get_not_found_is_none(self):
        self.srv.script = [_err(404, "NOT_FOUND")]
        self.assertIsNone(self.client.get("c", "x/y"))
        self.assertEqual(self.srv.requests[0][1], "/collections/c/x%2Fy")

    def test_idempotent_request_retried_on_503(self):
        self.srv.script = [_err(503, "UNAVAILABLE"), (502, {}, b"<html>bad gateway</html>"),
                           (200, {}, {"data": {"_id": "a"}})]
        self.assertEqual(self.client.get("c", "a"), {"_id": "a"})
        self.assertEqual(len(self.srv.requests), 3)
        self.assertEqual(len(self.sleeps), 2)
        self.assertTrue(0.5 <= self.sleeps[0] <= 0.55 and 1.0 <= self.sleeps[1] <= 1.1, self.sleeps)

    def test_retries_exhausted(self):
        self.srv.script = [_err(503, "UNAVAILABLE")] * 4
        with self.assertRaises(ServiceUnavailableError):
            self.client.find("c", {}, limit=1)
        self.assertEqual(len(self.srv.requests), 4, "1 try + max_retries")

    def test_non_idempotent_never_retried(self):
        for call in (lambda: self.client.insert("c", {"a": 1}),
                     lambda: self.client.update("c", "a", {"$set": {"a": 2}}),
                     lambda: self.client.batch_create("c", [{"a": 1}]),
                     lambda: self.client.batch_update("c", ids=["a"], update={"a": 1}),
                     lambda: self.client.batch_delete("c", filter={})):
            self.srv.requests.clear()
            self.srv.script = [_err(503, "UNAVAILABLE"), (200, {}, {"data": {}})]
            with self.assertRaises(ServiceUnavailableError):
                call()
            self.assertEqual(len(self.srv.requests), 1)
        self.assertEqual(self.sleeps, [])

    def test_rate_limit_honours_retry_after(self):
        self.srv.script = [_err(429, "RATE_LIMITED", headers={"Retry-After": "7"}),
                           (200, {}, {"data": {"count": 3}})]
        self.assertEqual(self.client.count("c", {}), 3)
        self.assertEqual(self.sleeps, [7.0])
        self.srv.script = [_err(429, "RATE_LIMITED", headers={"Retry-After": "2"})]
        with self.assertRaises(RateLimitError) as cm:
            self.client.insert("c", {})
        self.assertEqual(cm.exception.retry_after, 2.0)

    def _refused_client(self):
        """A client (2 retries) of a port nobody listens on, and the waits
        it would have slept."""
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        c = PermissionMongo("http://127.0.0.1:%d" % port, "k", max_retries=2)
        self.addCleanup(c.close)
        sleeps = []
        c._sleep = sleeps.append
        return c, sleeps

    def test_connection_refused(self):
        c, sleeps = self._refused_client()
        with self.assertRaises(NetworkError):
            c.get("c", "a")
        self.assertEqual(len(sleeps), 2)

    def test_argument_checks(self):
        with self.assertRaises(ValueError):
            self.client.batch_delete("c")
        with self.assertRaises(ValueError):
            self.client.batch_update("c", ids=["a"])
        with self.assertRaises(ValueError):
            PermissionMongo("localhost:8080", "k")
        self.assertEqual(self.srv.requests, [])

    def test_connections_are_reused(self):
        self.srv.script = [(200, {}, {"data": {"count": i}}) for i in range(10)]
        self.assertEqual([self.client.count("c") for _ in range(10)], list(range(10)))
        self.assertEqual(len(set(self.srv.ports)), 1,
                         "ten calls on one client travel on one kept-alive connection: %s" % self.srv.ports)

    def test_precondition_failed_and_if_match(self):
        self.srv.script = [_err(412, "PRECONDITION_FAILED")]
        with self.assertRaises(PreconditionFailedError) as cm:
            self.client.update("c", "a", {"x": 1}, if_match='"v1"')
        self.assertEqual(cm.exception.status_code, 412)
        self.assertEqual(self.srv.requests[0][2]["If-Match"], '"v1"')
        self.assertEqual(self.sleeps, [], "412 is never retried")

    def test_get_with_etag(self):
        self.srv.script = [(200, {"ETag": '"abc"'}, {"data": {"_id": "a"}}), _err(404, "NOT_FOUND"),
                           (200, {}, {"data": {"_id": "b"}})]
        self.assertEqual(self.client.get_with_etag("c", "a"), ({"_id": "a"}, '"abc"'))
        self.assertEqual(self.client.get_with_etag("c", "x"), (None, None))
        self.assertEqual(self.client.get_with_etag("c", "b"), ({"_id": "b"}, None), "a server without ETags")

    def test_log_hook_sees_every_attempt(self):
        events = []
        c = PermissionMongo(self.url, "pm_k_s", log_hook=events.append,
                            retry_config=RetryConfig(max_retries=2, backoff_factor=0.25))
        self.addCleanup(c.close)
        c._sleep = lambda s: None
        self.srv.script = [(503, {"X-Request-ID": "r1"}, {"error": {"code": "UNAVAILABLE", "message": "down"}}),
                           (200, {"X-Request-ID": "r2"}, {"data": {"count": 1}})]
        self.assertEqual(c.count("c"), 1)
        self.assertEqual([(e.method, e.status, e.attempt, e.request_id) for e in events],
                         [("POST", 503, 0, "r1"), ("POST", 200, 1, "r2")])
        self.assertIsInstance(events[0], RequestEvent)
        self.assertIsInstance(events[0].error, ServiceUnavailableError)
        self.assertTrue(0.25 <= events[0].retry_in <= 0.3)
        self.assertIsNone(events[1].error)
        self.assertTrue(events[1].url.endswith("/collections/c/count"))

    def test_import_streams_ndjson_with_progress(self):
        self.srv.script = [(200, {}, {"data": {"import_id": "i", "inserted": 3, "failed": [], "failed_count": 0}})]
        seen = []
        docs = ({"n": i, "at": dt.datetime(2024, 1, 1)} for i in range(3))
        res = self.client.import_documents("c", docs, progress=lambda lines, nbytes: seen.append((lines, nbytes)))
        self.assertEqual(res["inserted"], 3)
        method, path, headers, body = self.srv.requests[0]
        self.assertEqual((method, path, headers["Content-Type"]), ("POST", "/collections/c/import",
                                                                  "application/x-ndjson"))
        lines = body.decode().splitlines()
        self.assertEqual([json.loads(x)["n"] for x in lines], [0, 1, 2])
        self.assertEqual(json.loads(lines[0])["at"], {"$date": "2024-01-01T00:00:00.000Z"})
        self.assertEqual(seen[-1], (3, len(body)))

    def test_import_is_never_retried(self):
        self.srv.script = [_err(503, "UNAVAILABLE"), (200, {}, {"data": {}})]
        with self.assertRaises(ServiceUnavailableError):
            self.client.import_documents("c", ['{"a": 1}'])
        self.assertEqual(len(self.srv.requests), 1)

    def test_unsent_write_is_retried(self):
        c, sleeps = self._refused_client()
        with self.assertRaises(NetworkError):
            c.insert("c", {"a": 1})
        self.assertEqual(len(sleeps), 2, "a connection never opened cannot have applied the write")


class AsyncScriptedServerTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.srv.script, self.srv.requests, self.srv.ports = [], [], []
        threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.addCleanup(self.srv.server_close)
        self.addCleanup(self.srv.shutdown)
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        self.client = AsyncPermissionMongo(url=self.url, api_key="pm_k_s", timeout=5,
                                           retry_config=RetryConfig(max_retries=3, backoff_factor=0.5))
        self.sleeps = []

        async def sleep(s):
            self.sleeps.append(s)
        self.client._sleep = sleep

    async def asyncTearDown(self):
        await self.client.aclose()

    async def test_find_follows_cursors_with_async_for(self):
        self.srv.script = [(200, {}, {"data": [{"n": 1}, {"n": 2}], "pagination": {"cursor": "c1", "has_more": True}}),
                           (200, {}, {"data": [{"n": 3}], "pagination": {"cursor": None, "has_more": False}})]
        users = await self.client.find("users", {"status": "active"}, page_size=2)
        self.assertEqual(len(self.srv.requests), 1, "the first page is fetched by the await")
        self.assertEqual([u["n"] async for u in users], [1, 2, 3])
        bodies = [json.loads(r[3]) for r in self.srv.requests]
        self.assertEqual(bodies, [{"filter": {"status": "active"}, "limit": 2},
                                  {"filter": {"status": "active"}, "limit": 2, "cursor": "c1"}])
        with self.assertRaises(RuntimeError):
            [u async for u in users]

    async def test_max_docs_caps_the_total(self):
        self.srv.script = [(200, {}, {"data": [{"n": 1}, {"n": 2}], "pagination": {"cursor": "c1", "has_more": True}}),
                           (200, {}, {"data": [{"n": 3}], "pagination": {"cursor": "c2", "has_more": True}})]
        docs = await self.client.find_all("c", page_size=2, max_docs=3)
        self.assertEqual([d["n"] for d in docs], [1, 2, 3])
        self.assertEqual([json.loads(r[3])["limit"] for r in self.srv.requests], [2, 1],
                         "the last page asks only for what is left")

    async def test_page_and_errors(self):
        page = {"data": [{"n": 1}], "pagination": {"cursor": "c1", "has_more": True}}
        self.srv.script = [(200, {}, page)]
        self.assertEqual(await self.client.find("c", {}, limit=1), page)
        self.srv.script = [_err(404, "NOT_FOUND")]
        self.assertIsNone(await self.client.get("c", "x"))
        self.srv.script = [_err(403, "FORBIDDEN")]
        with self.assertRaises(PermissionDeniedError):
            await self.client.update("c", "x", {"a": 1}, headers={"X-Request-ID": "mine"})
        self.assertEqual(self.srv.requests[-1][2]["X-Request-ID"], "mine")

    async def test_retry_after_and_writes_once(self):
        self.srv.script = [_err(429, "RATE_LIMITED", headers={"Retry-After": "3"}), (200, {}, {"data": {"count": 2}})]
        self.assertEqual(await self.client.count("c"), 2)
        self.assertEqual(self.sleeps, [3.0])
        self.srv.script = [_err(429, "RATE_LIMITED", headers={"Retry-After": "4"})]
        with self.assertRaises(RateLimitError) as cm:
            await self.client.insert("c", {})
        self.assertEqual(cm.exception.retry_after, 4.0)
        self.assertEqual(self.sleeps, [3.0], "an insert is not retried")

    async def test_connections_are_reused(self):
        self.srv.script = [(200, {}, {"data": {"count": i}}) for i in range(8)]
        for i in range(8):
            self.assertEqual(await self.client.count("c"), i)
        self.assertEqual(len(set(self.srv.ports)), 1, self.srv.ports)

    async def test_import_from_async_iterable(self):
        self.srv.script = [(200, {}, {"data": {"inserted": 2, "failed": []}})]

        async def docs():
            yield {"a": 1}
            yield b'{"a": 2}'
        res = await self.client.import_documents("c", docs())
        self.assertEqual(res["inserted"], 2)
        self.assertEqual(self.srv.requests[0][3], b'{"a":1}\n{"a": 2}\n')


if __name__ == "__main__":
    unittest.main()
