"""Python SDK for Permission Mongo (httpx; sync and async clients).

    from permission_mongo import PermissionMongo

    client = PermissionMongo(url="http://localhost:8080", api_key="pm_...")
    note = client.insert("notes", {"text": "hello"})
"""

from ._core import RequestEvent, RetryConfig
from ._version import __version__
from .aio import AsyncCursor, AsyncPermissionMongo
from .client import PermissionMongo
from .exceptions import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InvalidCursorError,
    NetworkError,
    NotFoundError,
    NotSupportedError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PermissionMongoError,
    PreconditionFailedError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    ValidationError,
)
from .extjson import ObjectId

__all__ = [
    "PermissionMongo",
    "AsyncPermissionMongo",
    "AsyncCursor",
    "RetryConfig",
    "RequestEvent",
    "ObjectId",
    "PermissionMongoError",
    "BadRequestError",
    "InvalidCursorError",
    "AuthenticationError",
    "PermissionDeniedError",
    "ForbiddenError",
    "NotFoundError",
    "ConflictError",
    "PreconditionFailedError",
    "PayloadTooLargeError",
    "ValidationError",
    "RateLimitError",
    "ServerError",
    "NotSupportedError",
    "ServiceUnavailableError",
    "NetworkError",
    "RequestTimeoutError",
    "__version__",
]
