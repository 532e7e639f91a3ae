"""Asynchronous client: the same calls as :class:`PermissionMongo`, awaited.

    async with AsyncPermissionMongo(url="http://localhost:8080", api_key=key) as client:
        users = await client.find("users", {"status": "active"})
        async for user in users:      # follows the server's cursor page by page
            print(user["name"])
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Dict, List, Union

import httpx

from ._core import (
    Api,
    Call,
    LineBatcher,
    Pages,
    Progress,
    Send,
    Transport,
    sync_chunks,
)
from .exceptions import BadRequestError

__all__ = ["AsyncPermissionMongo", "AsyncCursor"]


class AsyncCursor:
    """The documents of an async ``find`` without ``limit``/``cursor``.

    ``await client.find(...)`` fetches the first page (so a bad filter or a
    missing permission raises there); ``async for`` then yields every
    document, fetching the next pages as it goes (at most ``max_docs``).
    ``await cursor.to_list()`` collects them. A cursor is iterated once.
    """

    def __init__(self, pages: Pages) -> None:
        self._pages = pages
        self._page: List[Dict[str, Any]] = []
        self._started = False

    async def _fetch(self) -> None:
        while True:
            try:
                page = await self._pages.fetch()
                break
            except BadRequestError as e:
                self._pages.refused(e)
        self._page = self._pages.take(page)

    async def _first(self) -> "AsyncCursor":
        if self._pages.more:
            await self._fetch()
        return self

    def __aiter__(self) -> AsyncIterator[Dict[str, Any]]:
        if self._started:
            raise RuntimeError("an AsyncCursor is iterated once; call find() again")
        self._started = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Dict[str, Any]]:
        while True:
            while self._page:
                yield self._page.pop(0)
            if not self._pages.more:
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

    _http_class = httpx.AsyncClient
    _wait = staticmethod(asyncio.sleep)

    async def __aenter__(self) -> "AsyncPermissionMongo":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    close = aclose

    async def _run(self, call: Call) -> Any:
        attempts = self._attempts(call)
        reply: Any = None
        try:
            while True:
                reply = await self._perform(attempts.send(reply))
        except StopIteration as done:
            return done.value

    async def _perform(self, step: Union[Send, float]) -> Any:
        if not isinstance(step, Send):
            return await self._sleep(step)
        try:
            return await self._http.request(step.method, step.url, content=step.content, headers=step.headers)
        except httpx.TransportError as e:
            return e  # the retry loop decides what it means

    def _follow(self, pages: Pages) -> AsyncIterator[Dict[str, Any]]:
        async def gen() -> AsyncIterator[Dict[str, Any]]:
            async for d in await AsyncCursor(pages)._first():
                yield d

        return gen()

    async def _collect(self, pages: Pages) -> List[Dict[str, Any]]:
        return await (await AsyncCursor(pages)._first()).to_list()

    def _every(self, pages: Pages) -> Any:
        return AsyncCursor(pages)._first()

    @staticmethod
    async def _import_body(source: Any, progress: Progress) -> AsyncIterator[bytes]:
        async for c in _async_chunks(source):
            yield progress.sent(c)


async def _async_chunks(source: Any) -> AsyncIterator[bytes]:
    if hasattr(source, "__aiter__"):
        batch = LineBatcher()
        async for item in source:
            if batch.add(item):
                yield batch.take()
        if batch.pending:
            yield batch.take()
        return
    # Files and plain iterables: read in chunks; a local file read blocks
    # the loop only for one chunk at a time.
    for c in sync_chunks(source):
        yield c
