"""Events pushed to SIEMs and to the subscriber-notification gateway, and their JSON form.

One schema for every target: `{"type": …, "at": "2024-05-01T12:00:00.000000Z", "data": {…}}`.
`data` is whatever the producer put in, made JSON-safe (`jsonable`: datetimes as UTC ISO 8601,
addresses and enums as text, NaN/inf as null, unknown objects as their `str`).

Size limits (a UDP syslog datagram, a SIEM's line limit) are met by `fit`, which shrinks the
*content* and never cuts the encoded text, so the result always parses: long strings are cut
to `…`-terminated prefixes first, then the largest `data` keys are dropped and listed under
`"_truncated"`.

Subscriber data (`SUBSCRIBER_KEYS`, at any depth) can be removed with `redact` for targets that
must not carry it (plain-network syslog unless the operator opts in, see `syslog`).
"""

from __future__ import annotations

import contextlib
import enum
import ipaddress
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

CASE_OPENED = "case.opened"
CASE_REOPENED = "case.reopened"
CASE_STATUS = "case.status"
LIST_CHANGED = "list.changed"
EVENT_TYPES = (CASE_OPENED, CASE_REOPENED, CASE_STATUS, LIST_CHANGED)

# who the subscriber is: never on a target that must not carry personal data
SUBSCRIBER_KEYS = frozenset({"subscriber_ip", "subscriber", "account", "name", "msisdn", "phone"})

# what a subscriber-notification gateway (SMS warnings) needs from a case, besides its id
CASE_FIELDS = ("id", "status", "subscriber_ip", "account", "name", "sector", "region",
               "pool_ip", "pool_port", "transport", "pool_domain", "pool_country", "pool_asn",
               "cls", "variant", "first_seen", "last_seen", "hits", "confidence",
               "offences")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Event:
    """Something a receiver should know about now; `type` is one of `EVENT_TYPES`."""

    type: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)


def case_event(kind: str, case: object, *, at: datetime | None = None, **extra: Any) -> Event:
    """An event about a case (`store.cases.CaseView` or anything with those attributes):
    the `CASE_FIELDS` it has, plus `extra` (e.g. `previous="verifying"`, `actor="ana"`)."""
    data = {k: getattr(case, k) for k in CASE_FIELDS if hasattr(case, k)}
    data.update(extra)
    return Event(kind, at or datetime.now(UTC), data)


def jsonable(value: Any, depth: int = 0) -> Any:
    """`value` as plain JSON types (bounded depth: a cycle cannot recurse for ever)."""
    if depth > 20:
        return "…"
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return jsonable(value.value, depth + 1)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [jsonable(v, depth + 1) for v in items]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    return str(value)


def iso(dt: datetime) -> str:
    """UTC, microseconds, `Z`, four-digit year (naive datetimes are taken as UTC)."""
    if dt.tzinfo is not None:
        with contextlib.suppress(OverflowError):  # hours from year 1 or 9999: keep wall time
            dt = dt.astimezone(UTC)
    return dt.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def as_dict(event: Event) -> dict[str, Any]:
    return {"type": event.type, "at": iso(event.at), "data": jsonable(event.data)}


def dumps(obj: Any, *, ascii_only: bool = False) -> str:
    return json.dumps(obj, ensure_ascii=ascii_only, separators=(",", ":"), allow_nan=False)


def encode(event: Event, *, ascii_only: bool = False) -> bytes:
    """One event as compact UTF-8 JSON."""
    return dumps(as_dict(event), ascii_only=ascii_only).encode()


def encode_batch(events: list[Event]) -> bytes:
    """The webhook body: `{"events": [...]}`."""
    return dumps({"events": [as_dict(e) for e in events]}).encode()


def redact(data: Any) -> Any:
    """`data` without `SUBSCRIBER_KEYS` at any depth (JSON-safe input expected)."""
    if isinstance(data, dict):
        return {k: redact(v) for k, v in data.items() if k not in SUBSCRIBER_KEYS}
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data


MIN_FIT = 512  # the envelope with a cut type and a drop count always fits in this


def fit(obj: dict[str, Any], limit: int, *, ascii_only: bool = True) -> str:
    """`obj` (an `as_dict` result) encoded in at most `limit` bytes, still valid JSON."""
    limit = max(limit, MIN_FIT)

    def size(value: Any) -> int:
        return len(dumps(value, ascii_only=ascii_only).encode())

    if size(obj) <= limit:
        return dumps(obj, ascii_only=ascii_only)
    out = {**obj, "type": _cut(str(obj.get("type", "")), 64)}
    data: dict[str, Any] = dict(obj.get("data") or {})
    for width in (1024, 256, 64, 16):
        data = {_cut(k, 64): _shorten(v, width) for k, v in data.items()}
        out["data"] = data
        if size(out) <= limit:
            return dumps(out, ascii_only=ascii_only)
    # drop the largest keys until the estimate fits, then check
    excess = size(out) - limit + 32
    dropped: list[str] = []
    for key in sorted(data, key=lambda k: size({k: data[k]}), reverse=True):
        if excess <= 0:
            break
        excess -= size({key: data[key]}) - size(key) - 1
        dropped.append(key)
    kept = {k: v for k, v in data.items() if k not in set(dropped)}
    out["data"] = {**kept, "_truncated": sorted(dropped)}
    if size(out) <= limit:
        return dumps(out, ascii_only=ascii_only)
    out["type"] = _cut(str(obj.get("type", "")), 24)
    out["data"] = {"_truncated": len(data)}
    return dumps(out, ascii_only=ascii_only)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _shorten(value: Any, width: int) -> Any:
    if isinstance(value, str):
        return _cut(value, width)
    if isinstance(value, dict):
        items = list(value.items())[:width]
        return {_cut(str(k), 64): _shorten(v, width) for k, v in items}
    if isinstance(value, list):
        return [_shorten(v, width) for v in value[:width]]
    return value
