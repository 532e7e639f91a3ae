"""Synchronous client for the Permission Mongo HTTP API (httpx, pooled)."""

from __future__ import annotations

import time
from typing import Any, Dict, Iterator, List, Union

import httpx

from ._core import (
    Api,
    Call,
    Pages,
    Progress,
    RequestEvent,
    RetryConfig,
    Send,
    Transport,
    sync_chunks,
)
from ._version import __version__
from .exceptions import BadRequestError

__all__ = ["PermissionMongo", "RetryConfig", "RequestEvent", "__version__"]


class PermissionMongo(Api, Transport):
    """Client of a Permission Mongo server.

    Args:
        url: base URL of the server, e.g. ``"http://localhost:8080"``.
        api_key: API key (``pm_<id>_<secret>``) or a JWT; sent as
            ``Authorization: Bearer ...``.
        timeout: seconds for each HTTP attempt (connect, read, write, pool).
        max_retries: retries of idempotent requests (see :class:`RetryConfig`).
        verify_ssl: ``True`` (default CA store), ``False`` (no verification),
            or a path to a CA bundle file.
        headers: extra headers sent with every request.
        retry_config: a :class:`RetryConfig`; overrides ``max_retries``.
        log_hook: called with a :class:`RequestEvent` after every HTTP
            attempt (status, timing, request id, error, retry wait).
        max_connections: size of the connection pool.

    The client keeps a pool of keep-alive connections (httpx): create one
    and reuse it; ``close()`` (or ``with``) releases the connections. It is
    safe to share between threads as long as :meth:`set_headers` is not
    called concurrently.
    """

    _http_class = httpx.Client
    _wait = staticmethod(time.sleep)

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> "PermissionMongo":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    # -- transport -----------------------------------------------------------

    def _run(self, call: Call) -> Any:
        attempts = self._attempts(call)
        reply: Any = None
        try:
            while True:
                reply = self._perform(attempts.send(reply))
        except StopIteration as done:
            return done.value

    def _perform(self, step: Union[Send, float]) -> Any:
        if not isinstance(step, Send):
            return self._sleep(step)
        try:
            return self._http.request(step.method, step.url, content=step.content, headers=step.headers)
        except httpx.TransportError as e:
            return e  # the retry loop decides what it means

    # -- queries -------------------------------------------------------------

    def _follow(self, pages: Pages) -> Iterator[Dict[str, Any]]:
        while pages.more:
            try:
                page = pages.fetch()
            except BadRequestError as e:
                pages.refused(e)
                continue
            yield from pages.take(page)

    def _collect(self, pages: Pages) -> List[Dict[str, Any]]:
        return list(self._follow(pages))

    _every = _collect

    # -- import --------------------------------------------------------------

    @staticmethod
    def _import_body(source: Any, progress: Progress) -> Iterator[bytes]:
        return (progress.sent(c) for c in sync_chunks(source))
