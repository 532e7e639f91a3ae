"""Python SDK for Permission Mongo (standard library only).

    from permission_mongo import PermissionMongo

    client = PermissionMongo(url="http://localhost:8080", api_key="pm_...")
    note = client.insert("notes", {"text": "hello"})
"""

from .client import PermissionMongo, RetryConfig, __version__
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
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    ValidationError,
)
from .extjson import ObjectId

__all__ = [
    "PermissionMongo",
    "RetryConfig",
    "ObjectId",
    "PermissionMongoError",
    "BadRequestError",
    "InvalidCursorError",
    "AuthenticationError",
    "PermissionDeniedError",
    "ForbiddenError",
    "NotFoundError",
    "ConflictError",
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
