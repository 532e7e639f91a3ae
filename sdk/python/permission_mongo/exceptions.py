"""Exceptions raised by the Permission Mongo client.

Every error the server reports has the contract's shape
``{"error": {"code", "message", "details"}, "request_id"}``; it becomes one
of the classes below, chosen by ``code`` (falling back to the HTTP status).
All of them derive from :class:`PermissionMongoError`.
"""

from __future__ import annotations

from typing import Any, Dict, Optional


class PermissionMongoError(Exception):
    """Base class of every error raised by the SDK.

    Attributes:
        status_code: HTTP status (``None`` for network errors).
        error_code: the contract's code, e.g. ``"FORBIDDEN"``.
        message: human readable message from the server.
        details: ``dict`` of details (may be empty).
        request_id: the server's ``X-Request-ID`` / ``request_id``.
    """

    def __init__(
        self,
        message: str,
        status_code: Optional[int] = None,
        error_code: Optional[str] = None,
        details: Optional[Dict[str, Any]] = None,
        request_id: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_code = error_code
        self.details = details or {}
        self.request_id = request_id
        self.headers = headers or {}

    def __str__(self) -> str:
        parts = []
        if self.status_code is not None:
            parts.append(str(self.status_code))
        if self.error_code:
            parts.append(self.error_code)
        head = " ".join(parts)
        text = f"{head}: {self.message}" if head else self.message
        if self.request_id:
            text += f" (request_id={self.request_id})"
        return text


class BadRequestError(PermissionMongoError):
    """400 BAD_REQUEST: malformed JSON, bad id, unknown parameter, operator or stage not allowed."""


class InvalidCursorError(BadRequestError):
    """400 INVALID_CURSOR: cursor tampered with, expired or used with another query."""


class AuthenticationError(PermissionMongoError):
    """401 UNAUTHENTICATED: no credential, or an unknown / revoked / expired key or token."""


class PermissionDeniedError(PermissionMongoError):
    """403 FORBIDDEN: action not granted, hidden field used, deny_write field written, or out of scope."""


#: Alias named after the contract's code.
ForbiddenError = PermissionDeniedError


class NotFoundError(PermissionMongoError):
    """404 NOT_FOUND: no such document, or one the caller may not see."""


class ConflictError(PermissionMongoError):
    """409 CONFLICT: duplicate key or concurrent modification."""


class PreconditionFailedError(PermissionMongoError):
    """412 PRECONDITION_FAILED: ``If-Match`` no longer matches the document's ETag; nothing was written."""


class PayloadTooLargeError(PermissionMongoError):
    """413 PAYLOAD_TOO_LARGE: body, batch or pipeline over the server's limits."""


class ValidationError(PermissionMongoError):
    """422 VALIDATION_FAILED: the document fails the collection's validation rules."""


class RateLimitError(PermissionMongoError):
    """429 RATE_LIMITED. ``retry_after`` is the server's Retry-After in seconds (or ``None``)."""

    def __init__(self, *args: Any, retry_after: Optional[float] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(PermissionMongoError):
    """5xx: INTERNAL, or any server-side failure (including non-JSON proxy errors)."""


class NotSupportedError(ServerError):
    """501 NOT_SUPPORTED: the connected backend lacks a capability."""


class ServiceUnavailableError(ServerError):
    """503 UNAVAILABLE: MongoDB or a required dependency is unreachable."""


class NetworkError(PermissionMongoError):
    """The server could not be reached or the connection failed (no HTTP status)."""


class RequestTimeoutError(NetworkError):
    """The request timed out (see the client's ``timeout``)."""


_BY_CODE = {
    "BAD_REQUEST": BadRequestError,
    "INVALID_CURSOR": InvalidCursorError,
    "UNAUTHENTICATED": AuthenticationError,
    "FORBIDDEN": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
    "CONFLICT": ConflictError,
    "PRECONDITION_FAILED": PreconditionFailedError,
    "PAYLOAD_TOO_LARGE": PayloadTooLargeError,
    "VALIDATION_FAILED": ValidationError,
    "RATE_LIMITED": RateLimitError,
    "INTERNAL": ServerError,
    "NOT_SUPPORTED": NotSupportedError,
    "UNAVAILABLE": ServiceUnavailableError,
}

_BY_STATUS = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    413: PayloadTooLargeError,
    422: ValidationError,
    429: RateLimitError,
    501: NotSupportedError,
    503: ServiceUnavailableError,
}


def error_class(status: int, code: Optional[str]) -> type:
    """The exception class for an HTTP status and contract code."""
    cls = _BY_CODE.get(code or "")
    if cls is not None:
        return cls
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    if status >= 500:
        return ServerError
    return PermissionMongoError
