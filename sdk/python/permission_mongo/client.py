"""Synchronous client for the Permission Mongo HTTP API (standard library only)."""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import random
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from . import extjson
from .exceptions import (
    BadRequestError,
    NetworkError,
    NotFoundError,
    PermissionMongoError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    error_class,
)

__all__ = ["PermissionMongo", "RetryConfig"]

__version__ = "0.1.0"

log = logging.getLogger("permission_mongo")

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class RetryConfig:
    """When and how a failed request is tried again.

    Only *idempotent* requests are ever retried: GET, PUT, DELETE, and the
    read-only POSTs ``find``, ``count`` and ``aggregate``. ``insert``,
    ``batch_create`` (POST), ``update`` and ``batch_update`` (PATCH) and
    ``batch_delete`` (POST) are sent once: a retry after a lost response
    could apply them twice. A retried ``delete`` whose first attempt did
    succeed ends in :class:`NotFoundError`.

    A request is retried on a connection failure or timeout and on the
    statuses in ``retry_on_status`` (429, 502, 503, 504 by default); never on
    another 4xx. The wait before retry ``n`` (0-based) is the server's
    ``Retry-After`` when given, otherwise ``backoff_factor * 2 ** n`` seconds
    (capped at ``max_backoff``) with up to 10 % jitter.
    """

    def __init__(
        self,
        max_retries: int = 3,
        backoff_factor: float = 0.5,
        retry_on_status: Iterable[int] = (429, 502, 503, 504),
        max_backoff: float = 30.0,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.max_retries = int(max_retries)
        self.backoff_factor = float(backoff_factor)
        self.retry_on_status = frozenset(int(s) for s in retry_on_status)
        self.max_backoff = float(max_backoff)

    def backoff(self, attempt: int) -> float:
        d = min(self.backoff_factor * (2 ** attempt), self.max_backoff)
        return d + random.uniform(0, d * 0.1)

    def __repr__(self) -> str:
        return (f"RetryConfig(max_retries={self.max_retries}, backoff_factor={self.backoff_factor}, "
                f"retry_on_status={sorted(self.retry_on_status)}, max_backoff={self.max_backoff})")


def _parse_retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    value = value.strip().strip('"')
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class _Retryable(Exception):
    """Internal: an attempt failed in a way the retry policy may retry."""

    def __init__(self, error: PermissionMongoError, wait: Optional[float] = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


class PermissionMongo:
    """Client of a Permission Mongo server.

    Args:
        url: base URL of the server, e.g. ``"http://localhost:8080"``.
        api_key: API key (``pm_<id>_<secret>``) or a JWT; sent as
            ``Authorization: Bearer ...``.
        timeout: seconds for each HTTP attempt (connect and read).
        max_retries: retries of idempotent requests (see :class:`RetryConfig`).
        verify_ssl: ``True`` (default CA store), ``False`` (no verification),
            or a path to a CA bundle file.
        headers: extra headers sent with every request.
        retry_config: a :class:`RetryConfig`; overrides ``max_retries``.

    Each request opens its own connection (``urllib``); the client holds no
    sockets, is cheap to keep, and may be shared by threads as long as
    :meth:`set_headers` is not called concurrently.
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
    ) -> None:
        if not url:
            raise ValueError("url is required")
        if not api_key:
            raise ValueError("api_key is required")
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"url must be http(s)://host[:port][/prefix], got {url!r}")
        self.url = url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.retry_config = retry_config if retry_config is not None else RetryConfig(max_retries=max_retries)
        self.headers: Dict[str, str] = dict(headers or {})
        self._ssl_context: Optional[ssl.SSLContext] = None
        if parsed.scheme == "https":
            if verify_ssl is False:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            elif isinstance(verify_ssl, str):
                ctx = ssl.create_default_context(cafile=verify_ssl)
            else:
                ctx = ssl.create_default_context()
            self._ssl_context = ctx
        handlers: List[Any] = [urllib.request.HTTPSHandler(context=self._ssl_context)] if self._ssl_context else []
        self._opener = urllib.request.build_opener(_NoRedirect(), *handlers)
        self._sleep = time.sleep  # replaced in tests

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> "PermissionMongo":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release (no pooled connections); kept for the context manager."""

    def __repr__(self) -> str:
        return f"PermissionMongo(url={self.url!r})"

    def set_headers(self, headers: Mapping[str, str]) -> None:
        """Add (or replace) headers sent with every request."""
        self.headers.update(headers)

    # -- documents -----------------------------------------------------------

    def insert(self, collection: str, document: Mapping[str, Any], *, headers: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
        """Create one document; returns it as the caller may read it (with
        ``_id``, presets and server stamps). Never retried."""
        return self._request("POST", self._coll(collection), body=document, idempotent=False, headers=headers)

    def get(self, collection: str, id: str, *, fields: Optional[Sequence[str]] = None,
            headers: Optional[Mapping[str, str]] = None) -> Optional[Dict[str, Any]]:
        """The document with this id, or ``None`` when there is none or the
        caller may not see it (the server never tells these apart)."""
        query = {"fields": ",".join(fields)} if fields else None
        try:
            return self._request("GET", self._doc(collection, id), query=query, headers=headers)
        except NotFoundError:
            return None

    def update(self, collection: str, id: str, updates: Mapping[str, Any], *,
               headers: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
        """PATCH a document: either a partial document (merged; dotted paths
        allowed) or update operators (``{"$set": {...}, "$inc": {...}}``).
        Returns the document after the update. Never retried."""
        return self._request("PATCH", self._doc(collection, id), body=updates, idempotent=False, headers=headers)

    def replace(self, collection: str, id: str, document: Mapping[str, Any], *,
                headers: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
        """PUT: replace the whole document; returns it."""
        return self._request("PUT", self._doc(collection, id), body=document, headers=headers)

    def delete(self, collection: str, id: str, *, headers: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
        """Delete a document; returns ``{"deleted": True, "id": id}``.
        Raises :class:`NotFoundError` when there is no such (visible) document."""
        return self._request("DELETE", self._doc(collection, id), headers=headers)

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
        headers: Optional[Mapping[str, str]] = None,
    ) -> Any:
        """Query documents.

        With ``limit`` or ``cursor``: one page, exactly the server's
        ``{"data": [...], "pagination": {"cursor": ..., "has_more": ...}}``;
        pass ``pagination["cursor"]`` back (with the same filter and sort)
        for the next page.

        Without them: a ``list`` of **every** matching document, fetched
        page by page (see :meth:`iter_find` to stream instead of loading
        everything in memory).
        """
        if limit is None and cursor is None:
            return self.find_all(collection, filter, sort=sort, fields=fields, headers=headers)
        return self.find_page(collection, filter, limit=limit, sort=sort, cursor=cursor, fields=fields, headers=headers)

    def find_page(
        self,
        collection: str,
        filter: Optional[Mapping[str, Any]] = None,
        *,
        limit: Optional[int] = None,
        sort: Optional[Sequence[str]] = None,
        cursor: Optional[str] = None,
        fields: Optional[Sequence[str]] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Dict[str, Any]:
        """One page: ``{"data": [...], "pagination": {"cursor", "has_more"}}``."""
        body: Dict[str, Any] = {"filter": dict(filter or {})}
        if sort:
            body["sort"] = _str_list(sort, "sort")
        if limit is not None:
            body["limit"] = int(limit)
        if cursor:
            body["cursor"] = cursor
        if fields is not None:
            body["fields"] = _str_list(fields, "fields")
        return self._request("POST", self._coll(collection) + "/find", body=body, headers=headers, envelope=True,
                             idempotent=True)

    def iter_find(
        self,
        collection: str,
        filter: Optional[Mapping[str, Any]] = None,
        *,
        sort: Optional[Sequence[str]] = None,
        fields: Optional[Sequence[str]] = None,
        page_size: Optional[int] = 100,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Iterator[Dict[str, Any]]:
        """Yield every matching document once, following the server's
        cursor lazily, one page (``page_size`` documents) at a time.
        ``page_size=None`` uses the server's default; one above the server's
        maximum is lowered to it."""
        cursor: Optional[str] = None
        while True:
            try:
                page = self.find_page(collection, filter, limit=page_size, sort=sort, cursor=cursor,
                                      fields=fields, headers=headers)
            except BadRequestError as e:
                # page_size above the server's limits.max_limit: use its maximum.
                mx = e.details.get("max_limit") if cursor is None else None
                if not isinstance(mx, int) or page_size is None or mx <= 0 or page_size <= mx:
                    raise
                page_size = mx
                continue
            for doc in page.get("data") or []:
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
        headers: Optional[Mapping[str, str]] = None,
    ) -> List[Dict[str, Any]]:
        """Every matching document, as a list (all pages)."""
        return list(self.iter_find(collection, filter, sort=sort, fields=fields, page_size=page_size, headers=headers))

    def count(self, collection: str, filter: Optional[Mapping[str, Any]] = None, *,
              headers: Optional[Mapping[str, str]] = None) -> int:
        """Number of documents matching ``filter`` that the caller may read."""
        data = self._request("POST", self._coll(collection) + "/count", body={"filter": dict(filter or {})},
                             headers=headers, idempotent=True)
        return int(data["count"])

    def aggregate(self, collection: str, pipeline: Sequence[Mapping[str, Any]], *,
                  headers: Optional[Mapping[str, str]] = None) -> List[Dict[str, Any]]:
        """Run an aggregation pipeline (the server prepends the permission
        filter; writing stages are refused). Returns the result documents."""
        if isinstance(pipeline, Mapping):
            raise TypeError("pipeline must be a list of stages")
        return self._request("POST", self._coll(collection) + "/aggregate", body={"pipeline": list(pipeline)},
                             headers=headers, idempotent=True)

    # -- batches -------------------------------------------------------------

    def batch_create(self, collection: str, documents: Sequence[Mapping[str, Any]], *,
                     headers: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
        """Create several documents; each is checked on its own. Returns
        ``{"created": [ids], "failed": [{"index", "error": {"code", "message"}}]}``.
        Never retried."""
        return self._request("POST", self._coll(collection) + "/batch", body={"documents": list(documents)},
                             idempotent=False, headers=headers)

    #: Alias of :meth:`batch_create`.
    batch_insert = batch_create

    def batch_update(
        self,
        collection: str,
        ids: Optional[Sequence[str]] = None,
        filter: Optional[Mapping[str, Any]] = None,
        update: Optional[Mapping[str, Any]] = None,
        *,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Dict[str, Any]:
        """Update the documents with these ``ids`` or matching ``filter``
        (pass ``filter={}`` to mean all). ``update`` is a partial document or
        update operators. Documents the caller may not touch are skipped.
        Returns ``{"matched", "modified", "failed"}``. Never retried."""
        if update is None:
            raise ValueError("batch_update needs update=")
        body = _selection(ids, filter, "batch_update")
        body["update"] = update
        return self._request("PATCH", self._coll(collection) + "/batch", body=body, idempotent=False, headers=headers)

    def batch_delete(
        self,
        collection: str,
        ids: Optional[Sequence[str]] = None,
        filter: Optional[Mapping[str, Any]] = None,
        *,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Dict[str, Any]:
        """Delete the documents with these ``ids`` or matching ``filter``
        (``filter={}`` means all the caller may delete). Returns
        ``{"deleted": n}``. Never retried."""
        body = _selection(ids, filter, "batch_delete")
        return self._request("POST", self._coll(collection) + "/batch/delete", body=body, idempotent=False,
                             headers=headers)

    # -- HTTP ----------------------------------------------------------------

    def request(self, method: str, path: str, *, body: Any = None, query: Optional[Mapping[str, str]] = None,
                headers: Optional[Mapping[str, str]] = None, idempotent: Optional[bool] = None) -> Any:
        """Low-level call: returns the decoded ``data`` of the response.
        ``idempotent`` defaults to the HTTP method's semantics."""
        return self._request(method, path, body=body, query=query, headers=headers, idempotent=idempotent)

    def _coll(self, collection: str) -> str:
        if not collection or not isinstance(collection, str):
            raise ValueError("collection must be a non-empty string")
        return "/collections/" + urllib.parse.quote(collection, safe="")

    def _doc(self, collection: str, id: Any) -> str:
        if id is None or str(id) == "":
            raise ValueError("id must be a non-empty string")
        return self._coll(collection) + "/" + urllib.parse.quote(str(id), safe="")

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Optional[Mapping[str, str]] = None,
        headers: Optional[Mapping[str, str]] = None,
        idempotent: Optional[bool] = None,
        envelope: bool = False,
    ) -> Any:
        if idempotent is None:
            idempotent = method.upper() in _IDEMPOTENT_METHODS
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = extjson.dumps(body).encode("utf-8") if body is not None else None
        hdrs = {
            "Accept": "application/json",
            "User-Agent": f"permission-mongo-python/{__version__}",
        }
        hdrs.update(self.headers)
        if headers:
            hdrs.update(headers)
        hdrs["Authorization"] = "Bearer " + self._api_key
        if data is not None:
            hdrs["Content-Type"] = "application/json"

        rc = self.retry_config
        attempt = 0
        while True:
            try:
                return self._attempt(method, url, data, hdrs, rc, envelope)
            except _Retryable as r:
                if not idempotent or attempt >= rc.max_retries:
                    raise r.error from None
                wait = r.wait if r.wait is not None else rc.backoff(attempt)
                log.debug("retrying %s %s in %.2fs after: %s", method, url, wait, r.error)
                self._sleep(wait)
                attempt += 1

    def _attempt(self, method: str, url: str, data: Optional[bytes], hdrs: Dict[str, str],
                 rc: RetryConfig, envelope: bool) -> Any:
        req = urllib.request.Request(url, data=data, headers=hdrs, method=method.upper())
        log.debug("%s %s", method, url)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                status = resp.status
                raw = resp.read()
                resp_headers = resp.headers
        except urllib.error.HTTPError as e:
            status = e.code
            try:
                raw = e.read()
            except (OSError, http.client.HTTPException):
                raw = b""
            resp_headers = e.headers
            e.close()
        except (socket.timeout, TimeoutError) as e:
            raise _Retryable(RequestTimeoutError(f"{method} {url}: timed out after {self.timeout}s")) from e
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise _Retryable(RequestTimeoutError(f"{method} {url}: timed out after {self.timeout}s")) from e
            raise _Retryable(NetworkError(f"{method} {url}: {reason}")) from e
        except (OSError, http.client.HTTPException) as e:
            raise _Retryable(NetworkError(f"{method} {url}: {e}")) from e

        log.debug("%s %s -> %d", method, url, status)
        if 200 <= status < 300:
            if not raw:
                return None
            try:
                payload = extjson.loads(raw)
            except ValueError as e:
                raise ServerError(f"response is not JSON: {raw[:200]!r}", status_code=status,
                                  request_id=resp_headers.get("X-Request-ID")) from e
            if envelope or not isinstance(payload, dict) or "data" not in payload:
                return payload
            return payload["data"]

        err = _error_from(status, raw, resp_headers)
        if status in rc.retry_on_status:
            wait = err.retry_after if isinstance(err, RateLimitError) else None
            if wait is None and status in (429, 503):
                wait = _parse_retry_after(resp_headers.get("Retry-After"))
            raise _Retryable(err, wait)
        raise err


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The API never redirects; following one would resend the credential
    to another place, so a 3xx is reported as an error instead."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


def _error_from(status: int, raw: bytes, headers: Any) -> PermissionMongoError:
    code = message = None
    details: Dict[str, Any] = {}
    request_id = headers.get("X-Request-ID") if headers is not None else None
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        e = payload["error"]
        code = e.get("code")
        message = e.get("message")
        if isinstance(e.get("details"), dict):
            details = extjson.decode(e["details"])
        request_id = payload.get("request_id") or request_id
    if not message:
        text = raw[:200].decode("utf-8", "replace").strip() if raw else ""
        message = f"HTTP {status}" + (f": {text}" if text else "")
    cls = error_class(status, code)
    hdrs = dict(headers.items()) if headers is not None else {}
    kwargs: Dict[str, Any] = dict(status_code=status, error_code=code, details=details, request_id=request_id,
                                  headers=hdrs)
    if cls is RateLimitError:
        ra = _parse_retry_after(headers.get("Retry-After") if headers is not None else None)
        if ra is None and "retry_after" in details:
            try:
                ra = float(details["retry_after"])
            except (TypeError, ValueError):
                ra = None
        kwargs["retry_after"] = ra
    return cls(message, **kwargs)


def _selection(ids: Optional[Sequence[str]], filter: Optional[Mapping[str, Any]], what: str) -> Dict[str, Any]:
    if ids is None and filter is None:
        raise ValueError(f"{what} needs ids= or filter= (filter={{}} selects everything)")
    body: Dict[str, Any] = {}
    if ids is not None:
        if isinstance(ids, (str, bytes)):
            raise TypeError("ids must be a list of ids, not a string")
        body["ids"] = [str(i) for i in ids]
    if filter is not None:
        body["filter"] = dict(filter)
    return body


def _str_list(v: Union[str, Sequence[str]], what: str) -> List[str]:
    if isinstance(v, str):
        return [s for s in (p.strip() for p in v.split(",")) if s]
    out = list(v)
    for s in out:
        if not isinstance(s, str):
            raise TypeError(f"{what} entries must be strings, got {s!r}")
    return out
