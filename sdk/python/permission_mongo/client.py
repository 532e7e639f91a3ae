"""Synchronous client for the Permission Mongo HTTP API (httpx, pooled)."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import httpx

from ._core import (
    Api,
    Call,
    Headers,
    Progress,
    RequestEvent,
    Retry,
    RetryConfig,
    Transport,
    sync_chunks,
)
from ._version import __version__
from .exceptions import BadRequestError, PermissionMongoError

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
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            verify=verify_ssl,
            follow_redirects=False,  # a redirect would resend the credential elsewhere
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self._sleep = time.sleep  # replaced in tests

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
        url, hdrs, content, idempotent = self._prepare(call)
        attempt = 0
        while True:
            started = time.monotonic()
            status: Optional[int] = None
            request_id: Optional[str] = None
            try:
                try:
                    resp = self._http.request(call.method, url, content=content, headers=hdrs)
                except httpx.TransportError as e:
                    raise self._transport_error(e, call.method, url, self.timeout) from e
                status, request_id = resp.status_code, resp.headers.get("X-Request-ID")
                result = self._answer(call, status, resp.content, resp.headers)
            except Retry as r:
                wait = self._next_wait(r, idempotent, call.content is not None, attempt)
                self._report(call.method, url, status, attempt, started, request_id, r.error, wait)
                if wait is None:
                    raise r.error from None
                self._sleep(wait)
                attempt += 1
                continue
            except PermissionMongoError as e:
                self._report(call.method, url, status, attempt, started, request_id, e, None)
                raise
            self._report(call.method, url, status, attempt, started, request_id, None, None)
            return result

    # -- queries -------------------------------------------------------------

    def find(
        self,
        collection: str,
        filter: Optional[Mapping[str, Any]] = None,
        *,
        limit: Optional[int] = None,
        sort: Optional[Sequence[str]] = None,
        cursor: Optional[str] = None,
        fields: Optional[Sequence[str]] = None,
        page_size: Optional[int] = 100,
        headers: Headers = None,
    ) -> Any:
        """Query documents.

        With ``limit`` or ``cursor``: one page, exactly the server's
        ``{"data": [...], "pagination": {"cursor": ..., "has_more": ...}}``;
        pass ``pagination["cursor"]`` back (with the same filter and sort)
        for the next page.

        Without them: a ``list`` of **every** matching document, fetched
        ``page_size`` at a time (see :meth:`iter_find` to stream instead).
        """
        if limit is None and cursor is None:
            return self.find_all(collection, filter, sort=sort, fields=fields, page_size=page_size, headers=headers)
        return self.find_page(collection, filter, limit=limit, sort=sort, cursor=cursor, fields=fields,
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
    ) -> Iterator[Dict[str, Any]]:
        """Yield every matching document once (at most ``max_docs``),
        following the server's cursor lazily, ``page_size`` documents per
        request. ``page_size=None`` uses the server's default; one above the
        server's maximum is lowered to it."""
        cursor: Optional[str] = None
        left = max_docs
        while left is None or left > 0:
            size = page_size if left is None or page_size is None else min(page_size, left)
            try:
                page = self.find_page(collection, filter, limit=size, sort=sort, cursor=cursor, fields=fields,
                                      headers=headers)
            except BadRequestError as e:
                page_size = _lowered(e, page_size, cursor)
                continue
            for doc in page.get("data") or []:
                if left is not None:
                    if left <= 0:
                        return
                    left -= 1
                yield doc
            pag = page.get("pagination") or {}
            cursor = pag.get("cursor")
            if not pag.get("has_more") or not cursor:
                return

    def find_all(
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
        return list(self.iter_find(collection, filter, sort=sort, fields=fields, page_size=page_size,
                                   max_docs=max_docs, headers=headers))

    def iter_audit(self, *, page_size: int = 100, **query: Any) -> Iterator[Dict[str, Any]]:
        """Every audit entry matching ``query`` (the keywords of
        :meth:`audit`), newest first, following the cursor."""
        cursor = None
        while True:
            page = self.audit(limit=page_size, cursor=cursor, **query)
            yield from page.get("data") or []
            pag = page.get("pagination") or {}
            cursor = pag.get("cursor")
            if not pag.get("has_more") or not cursor:
                return

    # -- import --------------------------------------------------------------

    def import_documents(
        self,
        collection: str,
        source: Any,
        *,
        progress: Optional[Callable[[int, int], None]] = None,
        headers: Headers = None,
    ) -> Dict[str, Any]:
        """Stream documents into ``collection`` as NDJSON, in one request.

        ``source``: a path to an NDJSON file, a file object (binary or
        text), or an iterable of documents (dicts, sent as Extended JSON) or
        of NDJSON lines. Only one chunk is held in memory whatever the size.
        ``progress(lines_sent, bytes_sent)`` is called after each chunk.

        Returns ``{"import_id", "inserted", "failed": [{"line", "error"}],
        "failed_count", "audit_id"}``. Never retried (a stream is sent once).
        """
        prog = Progress(progress)
        body = (prog.sent(c) for c in sync_chunks(source))
        return self._run(Call("POST", self._coll(collection) + "/import", content=body,
                              content_type="application/x-ndjson", headers=headers, idempotent=False))


def _lowered(e: BadRequestError, page_size: Optional[int], cursor: Optional[str]) -> int:
    """The server's max_limit when page_size was above it (first page only),
    else re-raise."""
    mx = e.details.get("max_limit") if cursor is None else None
    if not isinstance(mx, int) or page_size is None or mx <= 0 or page_size <= mx:
        raise e
    return mx
