"""API-key authentication and role checks.

`Authorization: Bearer KEY` everywhere; block-list routes (`require(..., basic=True)`) also take
HTTP Basic with the key as the password, for routers and firewalls that can only do that.
Roles are ranked admin > analyst > export. Verification is cached in-process for
`key_cache_seconds` (positive and negative answers), so a hot endpoint costs one sha256 and a dict
lookup per request and a revoke takes effect within that many seconds. `last_used` is written at
most once per `key_touch_seconds` per key.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from store.apikeys import touch_keys, verify_key

log = logging.getLogger("minewatch.api")
REALM = 'realm="minewatch"'


class Role(enum.StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    EXPORT = "export"


RANK = {Role.EXPORT: 1, Role.ANALYST: 2, Role.ADMIN: 3}


@dataclass(frozen=True)
class Principal:
    key_id: int
    name: str
    role: Role


class KeyCache:
    """token sha256 → (Principal or None, expiry); bounded, so random tokens cannot grow it."""

    def __init__(
        self, engine: Engine, ttl: float, touch_every: float, max_entries: int = 10_000
    ) -> None:
        self.engine = engine
        self.ttl = ttl
        self.touch_every = touch_every
        self.max_entries = max_entries
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._touched: dict[int, float] = {}
        self._lock = threading.Lock()

    def cached(self, digest: str) -> tuple[bool, Principal | None]:
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > time.monotonic():
            return True, hit[0]
        return False, None

    def load(self, token: str, digest: str) -> Principal | None:
        """Ask the database (in a worker thread) and remember the answer."""
        info = verify_key(self.engine, token)
        principal = None if info is None else Principal(info.key_id, info.name, Role(info.role))
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
            self._cache[digest] = (principal, time.monotonic() + self.ttl)
        return principal

    def touch_due(self, key_id: int) -> bool:
        now = time.monotonic()
        last = self._touched.get(key_id)
        if last is not None and now - last < self.touch_every:
            return False
        self._touched[key_id] = now
        return True

    def touch(self, key_id: int) -> None:
        try:
            touch_keys(self.engine, {key_id: datetime.now(UTC)})
        except SQLAlchemyError as exc:  # bookkeeping only: never fail the request for it
            log.warning("could not record last_used for key %d: %s", key_id, type(exc).__name__)


def bearer_token(header: str, basic: bool) -> str | None:
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return value
    if basic and scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


Dependency = Callable[[Request], Awaitable[Principal]]


def require(role: Role, *, basic: bool = False) -> Dependency:
    """A FastAPI dependency: the caller's Principal if its key has at least `role`."""
    challenge = f"Bearer {REALM}" + (f", Basic {REALM}" if basic else "")
    unauthorized = {"WWW-Authenticate": challenge}

    async def dependency(request: Request) -> Principal:
        header = request.headers.get("authorization")
        if not header:
            raise ApiError(
                401, "missing API key: send Authorization: Bearer KEY", headers=unauthorized
            )
        token = bearer_token(header, basic)
        if token is None:
            allowed = "Bearer or Basic" if basic else "Bearer"
            raise ApiError(
                401, f"malformed Authorization header ({allowed} expected)", headers=unauthorized
            )
        cache: KeyCache = request.app.state.keys
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        known, principal = cache.cached(digest)
        if not known:
            principal = await run_in_threadpool(cache.load, token, digest)
        if principal is None:
            raise ApiError(401, "invalid or revoked API key", headers=unauthorized)
        if RANK[principal.role] < RANK[role]:
            raise ApiError(
                403, f"this endpoint needs the {role} role (the key has {principal.role})"
            )
        if cache.touch_due(principal.key_id):
            await run_in_threadpool(cache.touch, principal.key_id)
        request.state.principal = principal
        return principal

    # read by the role-matrix tests: every route declares who may call it
    dependency.minewatch_role = role  # type: ignore[attr-defined]
    dependency.minewatch_basic = basic  # type: ignore[attr-defined]
    return dependency
