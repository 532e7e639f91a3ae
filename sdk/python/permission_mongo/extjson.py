"""MongoDB Extended JSON v2 (relaxed) <-> Python values, standard library only.

Decoding (server -> Python):

======================================  ==============================
``{"$oid": "..."}``                      :class:`ObjectId` (a ``str`` subclass)
``{"$date": "ISO-8601"}`` / ``{"$date": {"$numberLong": ms}}``  timezone-aware UTC ``datetime``
``{"$numberLong": "..."}`` / ``{"$numberInt": "..."}``  ``int``
``{"$numberDouble": "..."}``             ``float`` (also NaN / Infinity)
``{"$numberDecimal": "..."}``            ``decimal.Decimal``
``{"$binary": {subType "00"}}``          ``bytes``
``{"$binary": {subType "04"}}``          ``uuid.UUID``
anything else (``$regularExpression``, ``$timestamp``, ...)  left as the plain ``dict``
======================================  ==============================

Encoding (Python -> server) is the reverse: :class:`ObjectId`, ``datetime``
(naive values are taken as UTC, like PyMongo does; precision is milliseconds),
``Decimal``, ``bytes``, ``UUID`` and non-finite floats. A plain ``str`` stays a
string: wrap a 24-hex string in :class:`ObjectId` to query an ObjectId.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import json
import math
import re
import uuid
from typing import Any

__all__ = ["ObjectId", "encode", "decode", "dumps", "loads"]

_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_HEX24 = re.compile(r"^[0-9a-fA-F]{24}$")
_ISO = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?"
    r"(Z|z|[+-]\d\d:?\d\d)?$"
)


class ObjectId(str):
    """A MongoDB ObjectId: its 24-hex string, marked so that it is sent back
    as ``{"$oid": ...}``. It compares equal to the plain string."""

    __slots__ = ()

    def __new__(cls, value: str) -> "ObjectId":
        value = str(value)
        if not _HEX24.match(value):
            raise ValueError(f"not an ObjectId (24 hex digits): {value!r}")
        return super().__new__(cls, value.lower())

    def __repr__(self) -> str:
        return f"ObjectId({str.__repr__(self)})"

    @property
    def generation_time(self) -> _dt.datetime:
        """The creation time embedded in the id (seconds precision)."""
        return _dt.datetime.fromtimestamp(int(self[:8], 16), _UTC)


def _parse_date(v: Any) -> Any:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return _EPOCH + _dt.timedelta(milliseconds=v)
    if not isinstance(v, str):
        return None
    m = _ISO.match(v)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    tzinfo = _UTC
    if tz and tz not in ("Z", "z"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        tzinfo = _dt.timezone(sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    out = _dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), micro, tzinfo)
    return out.astimezone(_UTC)


def _hook(d: dict) -> Any:
    """json object_hook: called bottom-up on every JSON object."""
    if len(d) == 1:
        (k, v), = d.items()
        if not k.startswith("$"):
            return d
        if k == "$oid" and isinstance(v, str) and _HEX24.match(v):
            return ObjectId(v)
        if k == "$date":
            t = _parse_date(v)
            if t is not None:
                return t
        elif k in ("$numberLong", "$numberInt") and isinstance(v, str):
            try:
                return int(v)
            except ValueError:
                return d
        elif k == "$numberDouble" and isinstance(v, str):
            try:
                return float(v)
            except ValueError:
                return d
        elif k == "$numberDecimal" and isinstance(v, str):
            try:
                return decimal.Decimal(v)
            except decimal.InvalidOperation:
                return d
        elif k == "$binary" and isinstance(v, dict) and set(v) == {"base64", "subType"}:
            try:
                raw = base64.b64decode(v["base64"])
            except (ValueError, TypeError):
                return d
            sub = str(v["subType"]).lower().zfill(2)
            if sub == "00":
                return raw
            if sub == "04" and len(raw) == 16:
                return uuid.UUID(bytes=raw)
    return d


def _format_date(t: _dt.datetime) -> Any:
    if t.tzinfo is None:
        t = t.replace(tzinfo=_UTC)
    t = t.astimezone(_UTC)
    if 1970 <= t.year <= 9999:
        return {"$date": t.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (t.microsecond // 1000)}
    delta = t - _EPOCH
    ms = (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return {"$date": {"$numberLong": str(ms)}}


def encode(value: Any) -> Any:
    """Turn Python values into JSON-ready relaxed Extended JSON structures."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, ObjectId):
        return {"$oid": str(value)}
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$numberDouble": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"document keys must be strings, not {type(k).__name__}: {k!r}")
            out[k] = encode(v)
        return out
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, _dt.datetime):
        return _format_date(value)
    if isinstance(value, decimal.Decimal):
        return {"$numberDecimal": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$binary": {"base64": base64.b64encode(bytes(value)).decode("ascii"), "subType": "00"}}
    if isinstance(value, uuid.UUID):
        return {"$binary": {"base64": base64.b64encode(value.bytes).decode("ascii"), "subType": "04"}}
    raise TypeError(f"cannot encode {type(value).__name__} as Extended JSON: {value!r}")


def decode(value: Any) -> Any:
    """Convert already-parsed JSON (dicts, lists) holding Extended JSON."""
    if isinstance(value, dict):
        return _hook({k: decode(v) for k, v in value.items()})
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Python value -> relaxed Extended JSON text."""
    return json.dumps(encode(value), allow_nan=False, separators=(",", ":"))


def loads(text: Any) -> Any:
    """Extended JSON text (str or bytes) -> Python values."""
    return json.loads(text, object_hook=_hook)
