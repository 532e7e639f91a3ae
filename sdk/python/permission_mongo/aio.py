"""Asynchronous client: the same calls as :class:`PermissionMongo`, awaited.

    async with AsyncPermissionMongo(url="http://localhost:8080", api_key=key) as client:
        users = await client.find("users", {"status": "active"})
        async for user in users:      # follows the server's cursor page by page
            print(user["name"])
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, AsyncIterator, Callable, Dict, List, Mapping, Optional, Sequence, Union

import httpx

from ._core import (
    IMPORT_CHUNK,
    Api,
    Call,
    Headers,
    Progress,
    RequestEvent,
    Retry,
    RetryConfig,
    Transport,
    _line,
    sync_chunks,
)
from .client import _lowered
from .exceptions import BadRequestError, PermissionMongoError

__all__ = ["AsyncPermissionMongo", "AsyncCursor"]


class AsyncCursor:
    """The documents of an async ``find`` without ``limit``/``cursor``.

    ``await client.find(...)`` fetches the first page (so a bad filter or a
    missing permission raises there); ``async for`` then yields every
    document, fetching the next pages as it goes (at most ``max_docs``).
    ``await cursor.to_list()`` collects them. A cursor is iterated once.
    """

    def __init__(self, client: "AsyncPermissionMongo", collection: str, filter: Optional[Mapping[str, Any]],
                 sort: Optional[Sequence[str]], fields: Optional[Sequence[str]], page_size: Optional[int],
                 max_docs: Optional[int], headers: Headers) -> None:
        self._client = client
        self._args = (collection, filter, sort, fields, headers)
        self._page_size = page_size
        self._left = max_docs
        self._page: List[Dict[str, Any]] = []
        self._cursor: Optional[str] = None
        self._more = True
        self._started = False

    async def _fetch(self) -> None:
        collection, filter, sort, fields, headers = self._args
        size = self._page_size
        if self._left is not None and size is not None:
            size = min(size, self._left)
        while True:
            try:
                page = await self._client.find_page(collection, filter, limit=size, sort=sort, cursor=self._cursor,
                                                    fields=fields, headers=headers)
                break
            except BadRequestError as e:
                size = self._page_size = _lowered(e, self._page_size, self._cursor)
        self._page = list(page.get("data") or [])
        pag = page.get("pagination") or {}
        self._cursor = pag.get("cursor")
        self._more = bool(pag.get("has_more") and self._cursor)

    async def _first(self) -> "AsyncCursor":
        if self._left is None or self._left > 0:
            await self._fetch()
        else:
            self._more = False
        return self

    def __aiter__(self) -> AsyncIterator[Dict[str, Any]]:
        if self._started:
            raise RuntimeError("an AsyncCursor is iterated once; call find() again")
        self._started = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Dict[str, Any]]:
        while True:
            while self._page:
                if self._left is not None:
                    if self._left <= 0:
                        return
                    self._left -= 1
                yield self._page.pop(0)
            if not self._more or (self._left is not None and self._left <= 0):
                return
            await self._fetch()

    async def to_list(self) -> List[Dict[str, Any]]:
        """Every remaining document, as a list."""
        return [d async for d in self]


class AsyncPermissionMongo(Api, Transport):
    """Asynchronous client of a Permission Mongo server (httpx.AsyncClient).

    Takes the same arguments as :class:`PermissionMongo` and has the same
    methods, each to be awaited. Use ``async with`` (or ``await
    client.aclose()``) to release the pooled connections.
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        timeout: float = 30,
        max_retries: int = 3,
        verify_ssl: Union[bool, str] = True,
        headers: Optional[Mapping[str, str]] = None,
        retry_config: Optional[RetryConfig] = None,
        log_hook: Optional[Callable[[RequestEvent], None]] = None,
        max_connections: int = 20,
    ) -> None:
        self._setup(url, api_key, timeout, max_retries, headers, retry_config, log_hook)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            verify=verify_ssl,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self._sleep = asyncio.sleep  # replaced in tests

    async def __aenter__(self) -> "AsyncPermissionMongo":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    close = aclose

    async def _run(self, call: Call) -> Any:
        url, hdrs, content, idempotent = self._prepare(call)
        attempt = 0
        while True:
            started = time.monotonic()
            status: Optional[int] = None
            request_id: Optional[str] = None
            try:
                try:
                    resp = await self._http.request(call.method, url, content=content, headers=hdrs)
                except httpx.TransportError as e:
                    raise self._transport_error(e, call.method, url, self.timeout) from e
                status, request_id = resp.status_code, resp.headers.get("X-Request-ID")
                result = self._answer(call, status, resp.content, resp.headers)
            except Retry as r:
                wait = self._next_wait(r, idempotent, call.content is not None, attempt)
                self._report(call.method, url, status, attempt, started, request_id, r.error, wait)
                if wait is None:
                    raise r.error from None
                await self._sleep(wait)
                attempt += 1
                continue
            except PermissionMongoError as e:
                self._report(call.method, url, status, attempt, started, request_id, e, None)
                raise
            self._report(call.method, url, status, attempt, started, request_id, None, None)
            return result

    async def find(
        self,
        collection: str,
        filter: Optional[Mapping[str, Any]] = None,
        *,
        limit: Optional[int] = None,
        sort: Optional[Sequence[str]] = None,
        cursor: Optional[str] = None,
        fields: Optional[Sequence[str]] = None,
        page_size: Optional[int] = 100,
        max_docs: Optional[int] = None,
        headers: Headers = None,
    ) -> Any:
        """Query documents.

        With ``limit`` or ``cursor``: one page, the server's ``{"data",
        "pagination"}`` (as in the sync client). Without them: an
        :class:`AsyncCursor` over every matching document (``async for``),
        ``page_size`` per request, at most ``max_docs``.
        """
        if limit is None and cursor is None:
            return await AsyncCursor(self, collection, filter, sort, fields, page_size, max_docs, headers)._first()
        return await self.find_page(collection, filter, limit=limit, sort=sort, cursor=cursor, fields=fields,
                                    headers=headers)

    def iter_find(
        self,
        collection: str,
        filter: Optional[Mapping[str, Any]] = None,
        *,
        sort: Optional[Sequence[str]] = None,
        fields: Optional[Sequence[str]] = None,
        page_size: Optional[int] = 100,
        max_docs: Optional[int] = None,
        headers: Headers = None,
    ) -> AsyncIterator[Dict[str, Any]]:
        """``async for doc in client.iter_find(...)``: every matching
        document, lazily (no ``await`` before the loop)."""

        async def gen() -> AsyncIterator[Dict[str, Any]]:
            cur = await AsyncCursor(self, collection, filter, sort, fields, page_size, max_docs, headers)._first()
            async for d in cur:
                yield d

        return gen()

    async def find_all(
        self,
        collection: str,
        filter: Optional[Mapping[str, Any]] = None,
        *,
        sort: Optional[Sequence[str]] = None,
        fields: Optional[Sequence[str]] = None,
        page_size: Optional[int] = 100,
        max_docs: Optional[int] = None,
        headers: Headers = None,
    ) -> List[Dict[str, Any]]:
        """Every matching document (at most ``max_docs``), as a list."""
        cur = await AsyncCursor(self, collection, filter, sort, fields, page_size, max_docs, headers)._first()
        return await cur.to_list()

    def iter_audit(self, *, page_size: int = 100, **query: Any) -> AsyncIterator[Dict[str, Any]]:
        """``async for entry in client.iter_audit(...)``: every audit entry
        matching ``query``, newest first."""

        async def gen() -> AsyncIterator[Dict[str, Any]]:
            cursor = None
            while True:
                page = await self.audit(limit=page_size, cursor=cursor, **query)
                for e in page.get("data") or []:
                    yield e
                pag = page.get("pagination") or {}
                cursor = pag.get("cursor")
                if not pag.get("has_more") or not cursor:
                    return

        return gen()

    async def import_documents(
        self,
        collection: str,
        source: Any,
        *,
        progress: Optional[Callable[[int, int], None]] = None,
        headers: Headers = None,
    ) -> Dict[str, Any]:
        """Stream documents as NDJSON (see :meth:`PermissionMongo.import_documents`).
        ``source`` may also be an async iterable of documents or lines."""
        prog = Progress(progress)

        async def body() -> AsyncIterator[bytes]:
            async for c in _async_chunks(source):
                yield prog.sent(c)

        return await self._run(Call("POST", self._coll(collection) + "/import", content=body(),
                                    content_type="application/x-ndjson", headers=headers, idempotent=False))


async def _async_chunks(source: Any) -> AsyncIterator[bytes]:
    if hasattr(source, "__aiter__"):
        buf: List[bytes] = []
        size = 0
        async for item in source:
            b = _line(item)
            buf.append(b)
            size += len(b)
            if size >= IMPORT_CHUNK:
                yield b"".join(buf)
                buf, size = [], 0
        if buf:
            yield b"".join(buf)
        return
    # Files and plain iterables: read in chunks; a local file read blocks
    # the loop only for one chunk at a time.
    for c in sync_chunks(source):
        yield c
