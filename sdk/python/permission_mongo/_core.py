"""What the sync and the async client share: the description of every API
call, how a request is built, how an answer becomes data or an exception,
and the retry policy. The two clients differ only in how they send (httpx's
Client or AsyncClient) and how they wait between attempts."""

from __future__ import annotations

import datetime as _dt
import email.utils
import json
import logging
import os
import random
import time
import urllib.parse
from typing import Any, Callable, Dict, Generator, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Union

from . import extjson
from ._version import __version__
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

log = logging.getLogger("permission_mongo")

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

Headers = Optional[Mapping[str, str]]


class RetryConfig:
    """When and how a failed request is tried again.

    Only *idempotent* requests are retried after the server may have seen
    them: GET, PUT, DELETE, and the read-only POSTs (``find``, ``count``,
    ``aggregate``, ``explain``). ``insert``, ``update`` (PATCH), the batch
    calls, ``import_documents``, ``restore_version``, ``create_api_key`` and
    ``create_grant`` / ``renew_grant`` are sent once: a retry after a lost
    answer could apply them twice. Any request (except a streamed import) is
    retried when the connection could not even be opened, since then the
    server saw nothing.

    A request is retried on connection failures and timeouts and on the
    statuses in ``retry_on_status`` (429, 502, 503, 504 by default); never on
    another 4xx. The wait before retry ``n`` (0-based) is the server's
    ``Retry-After`` when given, otherwise ``backoff_factor * 2 ** n`` seconds
    (capped at ``max_backoff``) with up to 10 % jitter. A ``Retry-After``
    longer than ``max_retry_after`` is not waited for: the error is raised.
    """

    def __init__(
        self,
        max_retries: int = 3,
        backoff_factor: float = 0.5,
        retry_on_status: Iterable[int] = (429, 502, 503, 504),
        max_backoff: float = 30.0,
        max_retry_after: float = 120.0,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.max_retries = int(max_retries)
        self.backoff_factor = float(backoff_factor)
        self.retry_on_status = frozenset(int(s) for s in retry_on_status)
        self.max_backoff = float(max_backoff)
        self.max_retry_after = float(max_retry_after)

    def backoff(self, attempt: int) -> float:
        d = min(self.backoff_factor * (2 ** attempt), self.max_backoff)
        return d + random.uniform(0, d * 0.1)

    def __repr__(self) -> str:
        return (f"RetryConfig(max_retries={self.max_retries}, backoff_factor={self.backoff_factor}, "
                f"retry_on_status={sorted(self.retry_on_status)}, max_backoff={self.max_backoff})")


class RequestEvent(NamedTuple):
    """What the ``log_hook`` is told after every HTTP attempt.

    ``status`` is ``None`` when no answer came (``error`` says why);
    ``attempt`` counts from 0; ``retry_in`` is the wait before the next
    attempt, ``None`` when there is none."""

    method: str
    url: str
    status: Optional[int]
    attempt: int
    elapsed: float
    request_id: Optional[str]
    error: Optional[PermissionMongoError]
    retry_in: Optional[float]


class Call(NamedTuple):
    """One API call, described independently of how it is sent."""

    method: str
    path: str
    body: Any = None
    query: Optional[Mapping[str, Any]] = None
    headers: Headers = None
    idempotent: Optional[bool] = None
    envelope: bool = False  # return {"data", "pagination"} instead of data
    none_on_404: bool = False
    transform: Optional[Callable[[Any], Any]] = None
    content: Any = None  # a streamed body (import); never retried
    content_type: Optional[str] = None
    with_etag: bool = False  # return (data, ETag header or None)


class Retry(Exception):
    """An attempt failed in a way the retry policy may retry."""

    def __init__(self, error: PermissionMongoError, wait: Optional[float] = None, unsent: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait
        self.unsent = unsent  # the server cannot have seen the request


def parse_retry_after(value: Optional[str]) -> Optional[float]:
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


def error_from(status: int, raw: bytes, headers: Any) -> PermissionMongoError:
    """The exception for an error answer (any status >= 300)."""
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
        ra = parse_retry_after(headers.get("Retry-After") if headers is not None else None)
        if ra is None and "retry_after" in details:
            try:
                ra = float(details["retry_after"])
            except (TypeError, ValueError):
                ra = None
        kwargs["retry_after"] = ra
    return cls(message, **kwargs)


def _rfc3339(v: Union[str, _dt.datetime, None]) -> Optional[str]:
    if v is None or isinstance(v, str):
        return v
    if not isinstance(v, _dt.datetime):
        raise TypeError(f"expected a datetime or an RFC 3339 string, got {v!r}")
    if v.tzinfo is None:
        v = v.replace(tzinfo=_dt.timezone.utc)
    return v.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def selection(ids: Optional[Sequence[str]], filter: Optional[Mapping[str, Any]], what: str) -> Dict[str, Any]:
    if ids is None and filter is None:
        raise ValueError(f"{what} needs ids= or filter= (filter={{}} selects everything)")
    body: Dict[str, Any] = {}
    if ids is not None:
        if isinstance(ids, (str, bytes)):
            raise TypeError("ids must be a list of ids, not a string")
        body["ids"] = [str(i) if not isinstance(i, extjson.ObjectId) else i for i in ids]
    if filter is not None:
        body["filter"] = dict(filter)
    return body


def str_list(v: Union[str, Sequence[str]], what: str) -> List[str]:
    if isinstance(v, str):
        return [s for s in (p.strip() for p in v.split(",")) if s]
    out = list(v)
    for s in out:
        if not isinstance(s, str):
            raise TypeError(f"{what} entries must be strings, got {s!r}")
    return out


def _with_if_match(headers: Headers, if_match: Optional[str]) -> Headers:
    if if_match is None:
        return headers
    out = dict(headers or {})
    out["If-Match"] = if_match
    return out


class Api:
    """Every API call but the streaming ones, written once.

    Each method describes its call and hands it to ``self._run``: the sync
    client returns the result, the async client returns a coroutine, so the
    same method is ``client.get(...)`` on one and ``await client.get(...)``
    on the other.
    """

    url: str

    def _run(self, call: Call) -> Any:  # pragma: no cover - provided by the clients
        raise NotImplementedError

    # -- paths ---------------------------------------------------------------

    @staticmethod
    def _coll(collection: str) -> str:
        if not collection or not isinstance(collection, str):
            raise ValueError("collection must be a non-empty string")
        return "/collections/" + urllib.parse.quote(collection, safe="")

    def _doc(self, collection: str, id: Any, *rest: Any) -> str:
        if id is None or str(id) == "":
            raise ValueError("id must be a non-empty string")
        p = self._coll(collection) + "/" + urllib.parse.quote(str(id), safe="")
        for r in rest:
            p += "/" + urllib.parse.quote(str(r), safe="")
        return p

    # -- documents -----------------------------------------------------------

    def insert(self, collection: str, document: Mapping[str, Any], *, headers: Headers = None) -> Any:
        """Create one document; returns it as the caller may read it (with
        ``_id``, presets and server stamps). Never retried."""
        return self._run(Call("POST", self._coll(collection), body=document, idempotent=False, headers=headers))

    def get(self, collection: str, id: Any, *, fields: Optional[Sequence[str]] = None, headers: Headers = None) -> Any:
        """The document with this id, or ``None`` when there is none or the
        caller may not see it (the server never tells these apart)."""
        query = {"fields": ",".join(str_list(fields, "fields"))} if fields else None
        return self._run(Call("GET", self._doc(collection, id), query=query, headers=headers, none_on_404=True))

    def get_with_etag(self, collection: str, id: Any, *, fields: Optional[Sequence[str]] = None,
                      headers: Headers = None) -> Any:
        """``(document, etag)``: the document (or ``None``, as :meth:`get`)
        and the server's ``ETag`` for it (``None`` when the server sends
        none). Pass the etag as ``if_match=`` to update, replace, delete or
        restore only if nobody changed the document since."""
        query = {"fields": ",".join(str_list(fields, "fields"))} if fields else None
        return self._run(Call("GET", self._doc(collection, id), query=query, headers=headers, none_on_404=True,
                              with_etag=True))

    def update(self, collection: str, id: Any, updates: Mapping[str, Any], *, if_match: Optional[str] = None,
               headers: Headers = None) -> Any:
        """PATCH a document: a partial document (merged; dotted paths
        allowed) or update operators (``{"$set": ..., "$inc": ...}``).
        Returns the document after the update. Never retried."""
        return self._run(Call("PATCH", self._doc(collection, id), body=updates, idempotent=False,
                              headers=_with_if_match(headers, if_match)))

    def replace(self, collection: str, id: Any, document: Mapping[str, Any], *, if_match: Optional[str] = None,
                headers: Headers = None) -> Any:
        """PUT: replace the whole document; returns it. Retried (idempotent)."""
        return self._run(Call("PUT", self._doc(collection, id), body=document,
                              headers=_with_if_match(headers, if_match)))

    def delete(self, collection: str, id: Any, *, if_match: Optional[str] = None, headers: Headers = None) -> Any:
        """Delete a document; returns ``{"deleted": True, "id": id}``.
        Raises :class:`NotFoundError` when there is no such (visible) document."""
        return self._run(Call("DELETE", self._doc(collection, id), headers=_with_if_match(headers, if_match)))

    # -- queries -------------------------------------------------------------

    def _find_call(self, collection: str, filter: Optional[Mapping[str, Any]], limit: Optional[int],
                   sort: Optional[Sequence[str]], cursor: Optional[str], fields: Optional[Sequence[str]],
                   headers: Headers) -> Call:
        body: Dict[str, Any] = {"filter": dict(filter or {})}
        if sort:
            body["sort"] = str_list(sort, "sort")
        if limit is not None:
            body["limit"] = int(limit)
        if cursor:
            body["cursor"] = cursor
        if fields is not None:
            body["fields"] = str_list(fields, "fields")
        return Call("POST", self._coll(collection) + "/find", body=body, headers=headers, envelope=True,
                    idempotent=True)

    def find_page(self, collection: str, filter: Optional[Mapping[str, Any]] = None, *, limit: Optional[int] = None,
                  sort: Optional[Sequence[str]] = None, cursor: Optional[str] = None,
                  fields: Optional[Sequence[str]] = None, headers: Headers = None) -> Any:
        """One page: ``{"data": [...], "pagination": {"cursor", "has_more"}}``."""
        return self._run(self._find_call(collection, filter, limit, sort, cursor, fields, headers))

    def _find_pages(self, collection: str, filter: Optional[Mapping[str, Any]], sort: Optional[Sequence[str]],
                    fields: Optional[Sequence[str]], page_size: Optional[int], max_docs: Optional[int],
                    headers: Headers) -> "Pages":
        def fetch(limit: Optional[int], cursor: Optional[str]) -> Any:
            return self.find_page(collection, filter, limit=limit, sort=sort, cursor=cursor, fields=fields,
                                  headers=headers)

        return Pages(fetch, page_size, max_docs, adapt_limit=True)

    def find(self, collection: str, filter: Optional[Mapping[str, Any]] = None, *, limit: Optional[int] = None,
             sort: Optional[Sequence[str]] = None, cursor: Optional[str] = None,
             fields: Optional[Sequence[str]] = None, page_size: Optional[int] = 100, max_docs: Optional[int] = None,
             headers: Headers = None) -> Any:
        """Query documents.

        With ``limit`` or ``cursor``: one page, exactly the server's
        ``{"data": [...], "pagination": {"cursor": ..., "has_more": ...}}``;
        pass ``pagination["cursor"]`` back (with the same filter and sort)
        for the next page.

        Without them, every matching document (at most ``max_docs``),
        fetched ``page_size`` at a time: the sync client returns a ``list``
        (see :meth:`iter_find` to stream instead); the async one an
        ``AsyncCursor`` to ``async for`` over.
        """
        if limit is None and cursor is None:
            return self._every(self._find_pages(collection, filter, sort, fields, page_size, max_docs, headers))
        return self.find_page(collection, filter, limit=limit, sort=sort, cursor=cursor, fields=fields,
                              headers=headers)

    def iter_find(self, collection: str, filter: Optional[Mapping[str, Any]] = None, *,
                  sort: Optional[Sequence[str]] = None, fields: Optional[Sequence[str]] = None,
                  page_size: Optional[int] = 100, max_docs: Optional[int] = None, headers: Headers = None) -> Any:
        """Every matching document once (at most ``max_docs``), following
        the server's cursor lazily, ``page_size`` documents per request
        (``for`` on the sync client, ``async for`` on the async one, with no
        ``await`` before the loop). ``page_size=None`` uses the server's
        default; one above the server's maximum is lowered to it."""
        return self._follow(self._find_pages(collection, filter, sort, fields, page_size, max_docs, headers))

    def find_all(self, collection: str, filter: Optional[Mapping[str, Any]] = None, *,
                 sort: Optional[Sequence[str]] = None, fields: Optional[Sequence[str]] = None,
                 page_size: Optional[int] = 100, max_docs: Optional[int] = None, headers: Headers = None) -> Any:
        """Every matching document (at most ``max_docs``), as a list."""
        return self._collect(self._find_pages(collection, filter, sort, fields, page_size, max_docs, headers))

    # How each client walks Pages: the sync one with plain calls, the async
    # one awaiting each page.
    def _follow(self, pages: "Pages") -> Any:  # pragma: no cover - provided by the clients
        raise NotImplementedError

    def _collect(self, pages: "Pages") -> Any:  # pragma: no cover - provided by the clients
        raise NotImplementedError

    def _every(self, pages: "Pages") -> Any:  # pragma: no cover - provided by the clients
        raise NotImplementedError

    def count(self, collection: str, filter: Optional[Mapping[str, Any]] = None, *, headers: Headers = None) -> Any:
        """Number of documents matching ``filter`` that the caller may read."""
        return self._run(Call("POST", self._coll(collection) + "/count", body={"filter": dict(filter or {})},
                              headers=headers, idempotent=True, transform=lambda d: int(d["count"])))

    def aggregate(self, collection: str, pipeline: Sequence[Mapping[str, Any]], *, headers: Headers = None) -> Any:
        """Run an aggregation pipeline (the server prepends the permission
        filter; writing stages are refused). Returns the result documents."""
        if isinstance(pipeline, Mapping):
            raise TypeError("pipeline must be a list of stages")
        return self._run(Call("POST", self._coll(collection) + "/aggregate", body={"pipeline": list(pipeline)},
                              headers=headers, idempotent=True))

    # -- batches -------------------------------------------------------------

    def batch_create(self, collection: str, documents: Sequence[Mapping[str, Any]], *, headers: Headers = None) -> Any:
        """Create several documents; each is checked on its own. Returns
        ``{"created": [ids], "failed": [{"index", "error": {"code", "message"}}]}``.
        Never retried."""
        return self._run(Call("POST", self._coll(collection) + "/batch", body={"documents": list(documents)},
                              idempotent=False, headers=headers))

    def batch_insert(self, collection: str, documents: Sequence[Mapping[str, Any]], *, headers: Headers = None) -> Any:
        """Alias of :meth:`batch_create`."""
        return self.batch_create(collection, documents, headers=headers)

    def batch_update(self, collection: str, ids: Optional[Sequence[str]] = None,
                     filter: Optional[Mapping[str, Any]] = None, update: Optional[Mapping[str, Any]] = None, *,
                     headers: Headers = None) -> Any:
        """Update the documents with these ``ids`` or matching ``filter``
        (``filter={}`` means all). Documents the caller may not touch are
        skipped. Returns ``{"matched", "modified"}``. Never retried."""
        if update is None:
            raise ValueError("batch_update needs update=")
        body = selection(ids, filter, "batch_update")
        body["update"] = update
        return self._run(Call("PATCH", self._coll(collection) + "/batch", body=body, idempotent=False,
                              headers=headers))

    def batch_delete(self, collection: str, ids: Optional[Sequence[str]] = None,
                     filter: Optional[Mapping[str, Any]] = None, *, headers: Headers = None) -> Any:
        """Delete the documents with these ``ids`` or matching ``filter``
        (``filter={}`` means all the caller may delete). Returns
        ``{"deleted": n}``. Never retried."""
        body = selection(ids, filter, "batch_delete")
        return self._run(Call("POST", self._coll(collection) + "/batch/delete", body=body, idempotent=False,
                              headers=headers))

    # -- versions ------------------------------------------------------------

    def versions(self, collection: str, id: Any, *, headers: Headers = None) -> Any:
        """The versions of a document, newest first:
        ``[{"version", "updated_by", "updated_at"}, ...]``."""
        return self._run(Call("GET", self._doc(collection, id, "versions"), headers=headers))

    def get_version(self, collection: str, id: Any, version: int, *, fields: Optional[Sequence[str]] = None,
                    headers: Headers = None) -> Any:
        """The document as of ``version`` (read rules applied)."""
        query = {"fields": ",".join(str_list(fields, "fields"))} if fields else None
        return self._run(Call("GET", self._doc(collection, id, "versions", int(version)), query=query,
                              headers=headers))

    def restore_version(self, collection: str, id: Any, version: int, *, if_match: Optional[str] = None,
                        headers: Headers = None) -> Any:
        """Make ``version`` the current document again (needs the
        ``restore`` action); returns the document. Never retried."""
        return self._run(Call("POST", self._doc(collection, id, "versions", int(version), "restore"),
                              idempotent=False, headers=_with_if_match(headers, if_match)))

    # -- audit ---------------------------------------------------------------

    @staticmethod
    def _audit_query(collection: Optional[str], actor: Optional[str], action: Optional[str],
                     outcome: Optional[str], doc_id: Optional[str], from_: Any, to: Any,
                     limit: Optional[int], cursor: Optional[str]) -> Dict[str, str]:
        q: Dict[str, str] = {}
        for k, v in (("collection", collection), ("actor", actor), ("action", action), ("outcome", outcome),
                     ("doc_id", doc_id), ("from", _rfc3339(from_)), ("to", _rfc3339(to)), ("cursor", cursor)):
            if v:
                q[k] = str(v)
        if limit is not None:
            q["limit"] = str(int(limit))
        return q

    def audit(self, *, collection: Optional[str] = None, actor: Optional[str] = None, action: Optional[str] = None,
              outcome: Optional[str] = None, doc_id: Optional[str] = None,
              from_: Union[str, _dt.datetime, None] = None, to: Union[str, _dt.datetime, None] = None,
              limit: Optional[int] = None, cursor: Optional[str] = None, headers: Headers = None) -> Any:
        """One page of audit entries, newest first (needs ``audit.read``):
        ``{"data": [entry, ...], "pagination": {"cursor", "has_more"}}``.
        ``from_`` / ``to`` take datetimes (naive = UTC) or RFC 3339 text."""
        q = self._audit_query(collection, actor, action, outcome, doc_id, from_, to, limit, cursor)
        return self._run(Call("GET", "/audit", query=q, envelope=True, headers=headers))

    def iter_audit(self, *, page_size: int = 100, **query: Any) -> Any:
        """Every audit entry matching ``query`` (the keywords of
        :meth:`audit`), newest first, following the cursor (``for`` on the
        sync client, ``async for`` on the async one)."""
        return self._follow(Pages(lambda limit, cursor: self.audit(limit=limit, cursor=cursor, **query), page_size))

    def verify_audit(self, *, from_: Union[str, _dt.datetime, None] = None,
                     to: Union[str, _dt.datetime, None] = None, headers: Headers = None) -> Any:
        """Check the audit hash chain: ``{"ok", "checked", "first_bad_id"?}``."""
        q = {k: v for k, v in (("from", _rfc3339(from_)), ("to", _rfc3339(to))) if v}
        return self._run(Call("GET", "/audit/verify", query=q or None, headers=headers))

    # -- API keys ------------------------------------------------------------

    def create_api_key(self, name: str, principal: Mapping[str, Any], *,
                       expires_in: Union[str, int, None] = None, headers: Headers = None) -> Any:
        """Create an API key (needs ``api_keys.manage``). ``principal`` is
        ``{"id", "tenant_id", "roles", "claims"?}``; ``expires_in`` a duration
        (``"720h"``) or seconds. The answer's ``key`` is shown only this once.
        Never retried."""
        body: Dict[str, Any] = {"name": name, "principal": dict(principal)}
        if expires_in is not None:
            body["expires_in"] = expires_in
        return self._run(Call("POST", "/admin/api-keys", body=body, idempotent=False, headers=headers))

    def list_api_keys(self, *, headers: Headers = None) -> Any:
        """The API keys of the caller's tenant (never their secrets)."""
        return self._run(Call("GET", "/admin/api-keys", headers=headers))

    def revoke_api_key(self, id: str, *, headers: Headers = None) -> Any:
        """Revoke a key: ``{"revoked": True, "id"}``; idempotent."""
        return self._run(Call("DELETE", "/admin/api-keys/" + urllib.parse.quote(str(id), safe=""),
                              headers=headers))

    # -- credential grants ---------------------------------------------------

    def create_grant(self, database: str, collections: Sequence[str], *, ttl: str,
                     actions: Optional[Sequence[str]] = None, role: Optional[str] = None,
                     client_source: Optional[Sequence[str]] = None, headers: Headers = None) -> Any:
        """Ask for short-lived MongoDB credentials: ``{"grant_id", "username",
        "password", "auth_source", "uri", "expires_at", "privileges"}``.
        Give ``actions`` (``["find", ...]``) or ``role`` (``"read"`` /
        ``"readWrite"``). Never retried."""
        body: Dict[str, Any] = {"database": database, "collections": str_list(collections, "collections"),
                                "ttl": ttl}
        if actions is not None:
            body["actions"] = str_list(actions, "actions")
        if role is not None:
            body["role"] = role
        if client_source is not None:
            body["client_source"] = str_list(client_source, "client_source")
        return self._run(Call("POST", "/grants", body=body, idempotent=False, headers=headers))

    def list_grants(self, *, headers: Headers = None) -> Any:
        """Grants visible to the caller (never a password)."""
        return self._run(Call("GET", "/grants", headers=headers))

    def get_grant(self, grant_id: str, *, headers: Headers = None) -> Any:
        """One grant, or ``None`` when there is none the caller may see."""
        return self._run(Call("GET", "/grants/" + urllib.parse.quote(str(grant_id), safe=""), headers=headers,
                              none_on_404=True))

    def renew_grant(self, grant_id: str, ttl: str, *, headers: Headers = None) -> Any:
        """Extend a grant: ``{"expires_at"}``. Never retried."""
        return self._run(Call("POST", "/grants/" + urllib.parse.quote(str(grant_id), safe="") + "/renew",
                              body={"ttl": ttl}, idempotent=False, headers=headers))

    def revoke_grant(self, grant_id: str, *, headers: Headers = None) -> Any:
        """Revoke a grant: ``{"revoked": True}``; idempotent."""
        return self._run(Call("DELETE", "/grants/" + urllib.parse.quote(str(grant_id), safe=""), headers=headers))

    # -- import --------------------------------------------------------------

    def import_documents(self, collection: str, source: Any, *,
                         progress: Optional[Callable[[int, int], None]] = None, headers: Headers = None) -> Any:
        """Stream documents into ``collection`` as NDJSON, in one request.

        ``source``: a path to an NDJSON file, a file object (binary or
        text), or an iterable of documents (dicts, sent as Extended JSON) or
        of NDJSON lines; on the async client also an async iterable of
        them. Only one chunk is held in memory whatever the size.
        ``progress(lines_sent, bytes_sent)`` is called after each chunk.

        Returns ``{"import_id", "inserted", "failed": [{"line", "error"}],
        "failed_count", "audit_id"}``. Never retried (a stream is sent once).
        """
        return self._run(Call("POST", self._coll(collection) + "/import",
                              content=self._import_body(source, Progress(progress)),
                              content_type="application/x-ndjson", headers=headers, idempotent=False))

    def _import_body(self, source: Any, progress: "Progress") -> Any:  # pragma: no cover - provided by the clients
        raise NotImplementedError

    # -- operations ----------------------------------------------------------

    def explain(self, collection: str, action: str = "read", *, headers: Headers = None) -> Any:
        """The compiled policy for the caller: ``{"allowed", "filter",
        "fields"}`` — why a query comes back empty."""
        return self._run(Call("POST", "/explain", body={"collection": collection, "action": action},
                              idempotent=True, headers=headers))

    def request(self, method: str, path: str, *, body: Any = None, query: Optional[Mapping[str, str]] = None,
                headers: Headers = None, idempotent: Optional[bool] = None) -> Any:
        """Low-level call: returns the decoded ``data`` of the response.
        ``idempotent`` defaults to the HTTP method's semantics."""
        return self._run(Call(method.upper(), path, body=body, query=query, headers=headers, idempotent=idempotent))


class Send(NamedTuple):
    """One HTTP attempt the retry loop asks its client to make."""

    method: str
    url: str
    content: Any
    headers: Dict[str, str]


class Transport:
    """Request building, answer handling and the retry loop, shared by both
    clients. A client names its httpx class (``_http_class``) and how it
    waits (``_wait``); its ``_run`` only performs what :meth:`_attempts`
    asks for."""

    _http_class: Any = None  # httpx.Client or httpx.AsyncClient

    @staticmethod
    def _wait(seconds: float) -> Any:  # pragma: no cover - provided by the clients
        raise NotImplementedError

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
        self.log_hook = log_hook
        import httpx  # the clients import it first; kept local to keep _core importable alone

        self._http = self._http_class(
            timeout=httpx.Timeout(timeout),
            verify=verify_ssl,
            follow_redirects=False,  # a redirect would resend the credential elsewhere
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self._sleep = self._wait  # replaced in tests

    def set_headers(self, headers: Mapping[str, str]) -> None:
        """Add (or replace) headers sent with every request."""
        self.headers.update(headers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    def _prepare(self, call: Call):
        url = self.url + call.path
        if call.query:
            url += "?" + urllib.parse.urlencode(call.query)
        hdrs = {"Accept": "application/json", "User-Agent": f"permission-mongo-python/{__version__}"}
        hdrs.update(self.headers)
        if call.headers:
            hdrs.update(call.headers)
        hdrs["Authorization"] = "Bearer " + self._api_key
        content: Any = None
        if call.content is not None:
            content = call.content
            hdrs["Content-Type"] = call.content_type or "application/octet-stream"
        elif call.body is not None:
            content = extjson.dumps(call.body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        idempotent = call.idempotent
        if idempotent is None:
            idempotent = call.method.upper() in _IDEMPOTENT_METHODS
        if call.content is not None:
            idempotent = False  # a stream cannot be sent twice
        return url, hdrs, content, idempotent

    def _attempts(self, call: Call) -> Generator[Union[Send, float], Any, Any]:
        """The retry loop of one call, without its I/O, so that the sync and
        the async client run the same one. It yields a :class:`Send` (the
        client sends it back the httpx response, or the httpx transport error
        it raised) or a float (seconds the client must sleep before the next
        attempt), and returns the call's result or raises its error."""
        url, hdrs, content, idempotent = self._prepare(call)
        attempt = 0
        while True:
            started = time.monotonic()
            status: Optional[int] = None
            request_id: Optional[str] = None
            try:
                resp = yield Send(call.method, url, content, hdrs)
                if isinstance(resp, Exception):
                    raise self._transport_error(resp, call.method, url, self.timeout) from resp
                status, request_id = resp.status_code, resp.headers.get("X-Request-ID")
                result = self._answer(call, status, resp.content, resp.headers)
            except Retry as r:
                wait = self._next_wait(r, idempotent, call.content is not None, attempt)
                self._report(call.method, url, status, attempt, started, request_id, r.error, wait)
                if wait is None:
                    raise r.error from None
                yield wait
                attempt += 1
                continue
            except PermissionMongoError as e:
                self._report(call.method, url, status, attempt, started, request_id, e, None)
                raise
            self._report(call.method, url, status, attempt, started, request_id, None, None)
            return result

    def _answer(self, call: Call, status: int, raw: bytes, headers: Any) -> Any:
        """Data of a success, or raises the error (``Retry`` when retryable)."""
        if 200 <= status < 300:
            if not raw:
                return None
            try:
                payload = extjson.loads(raw)
            except ValueError as e:
                raise ServerError(f"response is not JSON: {raw[:200]!r}", status_code=status,
                                  request_id=headers.get("X-Request-ID")) from e
            if not call.envelope and isinstance(payload, dict) and "data" in payload:
                payload = payload["data"]
            out = call.transform(payload) if call.transform else payload
            return (out, headers.get("ETag")) if call.with_etag else out
        err = error_from(status, raw, headers)
        if call.none_on_404 and isinstance(err, NotFoundError):
            return (None, None) if call.with_etag else None
        rc = self.retry_config
        if status in rc.retry_on_status:
            wait = err.retry_after if isinstance(err, RateLimitError) else None
            if wait is None and status in (429, 503):
                wait = parse_retry_after(headers.get("Retry-After"))
            raise Retry(err, wait)
        raise err

    @staticmethod
    def _transport_error(exc: Exception, method: str, url: str, timeout: float) -> Retry:
        import httpx

        unsent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
        if isinstance(exc, httpx.TimeoutException):
            return Retry(RequestTimeoutError(f"{method} {url}: timed out after {timeout}s"), unsent=unsent)
        return Retry(NetworkError(f"{method} {url}: {exc}"), unsent=unsent)

    def _next_wait(self, r: Retry, idempotent: bool, streamed: bool, attempt: int) -> Optional[float]:
        """Seconds to wait before trying again, or None to give up."""
        rc = self.retry_config
        if streamed or attempt >= rc.max_retries or not (idempotent or r.unsent):
            return None
        if r.wait is not None:
            return r.wait if r.wait <= rc.max_retry_after else None
        return rc.backoff(attempt)

    def _report(self, method: str, url: str, status: Optional[int], attempt: int, started: float,
                request_id: Optional[str], error: Optional[PermissionMongoError], retry_in: Optional[float]) -> None:
        elapsed = time.monotonic() - started
        if error is None:
            log.debug("%s %s -> %s in %.3fs", method, url, status, elapsed)
        elif retry_in is not None:
            log.debug("%s %s failed (%s); retry %d in %.2fs", method, url, error, attempt + 1, retry_in)
        else:
            log.debug("%s %s failed: %s", method, url, error)
        if self.log_hook is not None:
            self.log_hook(RequestEvent(method, url, status, attempt, elapsed, request_id, error, retry_in))


# -- following a cursor -----------------------------------------------------------


def next_cursor(page: Mapping[str, Any]) -> Optional[str]:
    """The cursor of the page after this one, or None on the last page."""
    pag = page.get("pagination") or {}
    cursor = pag.get("cursor")
    return cursor if pag.get("has_more") and cursor else None


class Pages:
    """Where a walk over a paginated listing stands, without I/O: what to ask
    for next and which documents of an answer to hand out (at most
    ``max_docs``). ``fetch(limit, cursor)`` asks for one page (a coroutine
    on the async client). With ``adapt_limit``, a first page refused for a
    ``page_size`` above the server's maximum is asked again at that maximum."""

    def __init__(self, fetch: Callable[[Optional[int], Optional[str]], Any], page_size: Optional[int],
                 max_docs: Optional[int] = None, adapt_limit: bool = False) -> None:
        self._fetch = fetch
        self.page_size = page_size
        self.left = max_docs
        self.adapt_limit = adapt_limit
        self.cursor: Optional[str] = None
        self.more = max_docs is None or max_docs > 0

    def fetch(self) -> Any:
        size = self.page_size if self.left is None or self.page_size is None else min(self.page_size, self.left)
        return self._fetch(size, self.cursor)

    def refused(self, e: BadRequestError) -> None:
        """After a 400: lower page_size to the server's max_limit when the
        first page asked for more, else re-raise."""
        mx = e.details.get("max_limit") if self.adapt_limit and self.cursor is None else None
        if not isinstance(mx, int) or self.page_size is None or mx <= 0 or self.page_size <= mx:
            raise e
        self.page_size = mx

    def take(self, page: Mapping[str, Any]) -> List[Dict[str, Any]]:
        docs = list(page.get("data") or [])
        if self.left is not None:
            docs = docs[: self.left]
            self.left -= len(docs)
        self.cursor = next_cursor(page)
        self.more = self.cursor is not None and (self.left is None or self.left > 0)
        return docs


# -- import sources -------------------------------------------------------------

IMPORT_CHUNK = 64 << 10


def _line(item: Any) -> bytes:
    if isinstance(item, bytes):
        b = item
    elif isinstance(item, str):
        b = item.encode("utf-8")
    elif isinstance(item, Mapping):
        return extjson.dumps(item).encode("utf-8") + b"\n"
    else:
        raise TypeError(f"import items must be documents (dict), str or bytes lines, got {type(item).__name__}")
    return b if b.endswith(b"\n") else b + b"\n"


class LineBatcher:
    """Gathers NDJSON lines into chunks of about IMPORT_CHUNK bytes, so that
    an import holds one chunk in memory (sync and async sources alike)."""

    def __init__(self) -> None:
        self._buf: List[bytes] = []
        self._size = 0

    def add(self, item: Any) -> bool:
        """Adds one document or line; True when a chunk is full."""
        b = _line(item)
        self._buf.append(b)
        self._size += len(b)
        return self._size >= IMPORT_CHUNK

    @property
    def pending(self) -> bool:
        return bool(self._buf)

    def take(self) -> bytes:
        """The gathered lines as one chunk; starts the next."""
        out = b"".join(self._buf)
        self._buf, self._size = [], 0
        return out


class Progress:
    """Counts what an import has sent and tells the callback."""

    def __init__(self, callback: Optional[Callable[[int, int], None]]) -> None:
        self.callback = callback
        self.lines = 0
        self.bytes = 0

    def sent(self, chunk: bytes) -> bytes:
        self.lines += chunk.count(b"\n")
        self.bytes += len(chunk)
        if self.callback is not None:
            self.callback(self.lines, self.bytes)
        return chunk


def sync_chunks(source: Any) -> Iterable[bytes]:
    """NDJSON chunks from a path, a file object, or an iterable of
    documents / lines; one chunk (about IMPORT_CHUNK bytes) in memory."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            yield from sync_chunks(f)
        return
    if hasattr(source, "read"):
        while True:
            b = source.read(IMPORT_CHUNK)
            if not b:
                return
            yield b.encode("utf-8") if isinstance(b, str) else b
    if isinstance(source, (bytes, bytearray, Mapping)):
        raise TypeError("import source must be a path, a file object or an iterable of documents / lines")
    batch = LineBatcher()
    for item in source:
        if batch.add(item):
            yield batch.take()
    if batch.pending:
        yield batch.take()
