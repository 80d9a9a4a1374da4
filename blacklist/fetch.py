"""Fetching feed files: HTTP(S) with conditional requests and an on-disk cache, or local files.

- Conditional requests: the cache keeps the body plus `ETag` and `Last-Modified`; the next fetch
  sends `If-None-Match` / `If-Modified-Since`, and a `304` returns the cached body
  (`not_modified=True`). Validators are only sent while the cached body is intact (SHA-256
  recorded next to it) and came from the same URL.
- Retries: transport errors, timeouts, 408/425/429/5xx are retried with exponential backoff
  (`backoff`, 2×, 4×, … ; a numeric `Retry-After` is honoured) until `retries` extra attempts
  or the `total` time budget are used up. Other 4xx (404, 403, …) fail at once.
- Bounds: `timeout` per request, `total` for everything (also a server dripping bytes slowly),
  `max_bytes` for the decoded body (Content-Length is checked first, then the stream).
- Local `path`s and `file://` URLs are read directly (same size cap, no cache).
- `unpack` opens `tar`/`tar.gz` members (UT1 ships categories as tarballs) and gzip bodies.

The HTTP client is injected (`httpx.Client`), so tests drive a real local server; nothing here
touches global state. Cache entries are written atomically (body first, then the metadata that
names its SHA-256), so a crash leaves the previous entry or none, never a torn one.
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_KEY = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    timeout: float = 30.0  # seconds per request (connect, read, write, pool)
    total: float = 120.0  # seconds for all attempts and waits together
    retries: int = 3  # extra attempts after the first
    backoff: float = 1.0  # first wait; doubles each retry
    max_bytes: int = 64 << 20


@dataclass(frozen=True, slots=True)
class Fetched:
    body: bytes
    status: int | None  # HTTP status of the answer used (200, 304); None for local files
    not_modified: bool
    etag: str | None
    last_modified: str | None
    fetched_at: datetime
    attempts: int
    location: str


class FetchError(Exception):
    """The feed could not be fetched; `status` is the last HTTP status seen, if any."""

    def __init__(self, message: str, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class _Retry(Exception):
    def __init__(self, message: str, status: int | None, wait: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.wait = wait


class Fetcher:
    """Fetches one location per call; `key` (the source name) names its cache entry."""

    def __init__(
        self,
        cache_dir: Path | None,
        client: httpx.Client | None = None,
        policy: FetchPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache_dir = cache_dir
        self.policy = policy or FetchPolicy()
        self._own_client = client is None
        self.client = client or httpx.Client(
            follow_redirects=True, headers={"User-Agent": "minewatch-feeds/0.1"}
        )
        self.sleep = sleep
        self.clock = clock

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, key: str, location: str) -> Fetched:
        if not _KEY.match(key):
            raise ValueError(f"bad cache key {key!r}")
        scheme = urlparse(location).scheme.lower()
        if scheme in ("http", "https"):
            return self._fetch_http(key, location)
        if scheme == "file":
            return self._read_local(Path(unquote(urlparse(location).path)), location)
        return self._read_local(Path(location).expanduser(), location)

    # -- local ----------------------------------------------------------------------------------

    def _read_local(self, path: Path, location: str) -> Fetched:
        try:
            size = path.stat().st_size
            if size > self.policy.max_bytes:
                raise FetchError(f"{path}: {size} bytes exceed the {self.policy.max_bytes} cap")
            body = path.read_bytes()
        except OSError as exc:
            raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from exc
        return Fetched(body, None, False, None, None, datetime.now(UTC), 1, location)

    # -- HTTP -----------------------------------------------------------------------------------

    def _fetch_http(self, key: str, url: str) -> Fetched:
        pol = self.policy
        deadline = self.clock() + pol.total
        cached = self._cache_read(key, url)
        attempt = 0
        last: _Retry | None = None
        while True:
            attempt += 1
            try:
                return self._attempt(key, url, cached, deadline, attempt)
            except _Retry as exc:
                last = exc
            delay = max(pol.backoff * 2 ** (attempt - 1), last.wait)
            if attempt > pol.retries or self.clock() + delay >= deadline:
                why = "retries exhausted" if attempt > pol.retries else "time budget exhausted"
                raise FetchError(
                    f"{url}: {last} ({why} after {attempt} attempts)", last.status, attempt
                )
            self.sleep(delay)

    def _attempt(
        self, key: str, url: str, cached: _Cached | None, deadline: float, attempt: int
    ) -> Fetched:
        pol = self.policy
        headers: dict[str, str] = {}
        if cached is not None and cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached is not None and cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
        remaining = deadline - self.clock()
        if remaining <= 0:
            raise _Retry("time budget exhausted", None)
        timeout = httpx.Timeout(min(pol.timeout, remaining))
        try:
            with self.client.stream("GET", url, headers=headers, timeout=timeout) as resp:
                status = resp.status_code
                if status == 304:
                    if cached is None:  # validators are only sent with a verified cached body
                        raise FetchError(
                            f"{url}: HTTP 304 to an unconditional request", 304, attempt
                        )
                    now = datetime.now(UTC)
                    self._cache_touch(key, cached, now)
                    return Fetched(
                        cached.body, 304, True, cached.etag, cached.last_modified, now, attempt, url
                    )
                if status in RETRY_STATUS:
                    raise _Retry(
                        f"HTTP {status}", status, retry_after(resp.headers.get("Retry-After"))
                    )
                if status != 200:
                    raise FetchError(f"{url}: HTTP {status} {resp.reason_phrase}", status, attempt)
                length = resp.headers.get("Content-Length", "")
                if length.isdigit() and int(length) > pol.max_bytes:
                    raise FetchError(
                        f"{url}: Content-Length {length} exceeds the {pol.max_bytes}-byte cap",
                        status,
                        attempt,
                    )
                body = self._read_body(resp, url, deadline, attempt)
                etag = resp.headers.get("ETag")
                modified = resp.headers.get("Last-Modified")
        except httpx.TimeoutException as exc:
            raise _Retry(f"timeout ({type(exc).__name__})", None) from exc
        except httpx.TransportError as exc:
            raise _Retry(f"transport error: {exc}", None) from exc
        now = datetime.now(UTC)
        self._cache_write(key, url, body, etag, modified, now)
        return Fetched(body, 200, False, etag, modified, now, attempt, url)

    def _read_body(self, resp: httpx.Response, url: str, deadline: float, attempt: int) -> bytes:
        buf = bytearray()
        for chunk in resp.iter_bytes():
            buf += chunk
            if len(buf) > self.policy.max_bytes:
                raise FetchError(
                    f"{url}: body exceeds the {self.policy.max_bytes}-byte cap",
                    resp.status_code,
                    attempt,
                )
            if self.clock() > deadline:
                raise _Retry("time budget exhausted while reading the body", resp.status_code)
        return bytes(buf)

    # -- cache ----------------------------------------------------------------------------------

    def _paths(self, key: str) -> tuple[Path, Path] | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{key}.body", self.cache_dir / f"{key}.json"

    def _cache_read(self, key: str, url: str) -> _Cached | None:
        paths = self._paths(key)
        if paths is None:
            return None
        try:
            meta = json.loads(paths[1].read_text(encoding="utf-8"))
            body = paths[0].read_bytes()
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("url") != url:
            return None  # the source moved: its old validators mean nothing here
        if hashlib.sha256(body).hexdigest() != meta.get("sha256"):
            return None
        return _Cached(body, meta.get("etag"), meta.get("last_modified"), meta)

    def _cache_write(
        self,
        key: str,
        url: str,
        body: bytes,
        etag: str | None,
        modified: str | None,
        now: datetime,
    ) -> None:
        paths = self._paths(key)
        if paths is None:
            return
        meta = {
            "url": url,
            "etag": etag,
            "last_modified": modified,
            "fetched_at": now.isoformat(),
            "checked_at": now.isoformat(),
            "sha256": hashlib.sha256(body).hexdigest(),
            "size": len(body),
        }
        _atomic_write(paths[0], body)
        _atomic_write(paths[1], json.dumps(meta, indent=1).encode())

    def _cache_touch(self, key: str, cached: _Cached, now: datetime) -> None:
        paths = self._paths(key)
        if paths is not None:
            meta = dict(cached.meta, checked_at=now.isoformat())
            _atomic_write(paths[1], json.dumps(meta, indent=1).encode())


@dataclass(frozen=True, slots=True)
class _Cached:
    body: bytes
    etag: str | None
    last_modified: str | None
    meta: dict[str, object]


def retry_after(value: str | None) -> float:
    """Seconds a `Retry-After` header asks to wait (delta-seconds or an HTTP date); 0 if absent
    or malformed."""
    value = (value or "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return 0.0
    if when is None or when.tzinfo is None:
        return 0.0
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def unpack(body: bytes, member: str | None, max_bytes: int) -> bytes:
    """The feed text inside a fetched body: a tar member (exact name or `…/member`), a gunzipped
    body, or the body itself. Bounded by `max_bytes` after decompression."""
    if member is not None:
        try:
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
                for info in tar:
                    if info.isfile() and (info.name == member or info.name.endswith("/" + member)):
                        if info.size > max_bytes:
                            raise FetchError(
                                f"archive member {info.name}: {info.size} bytes "
                                f"exceed the {max_bytes}-byte cap"
                            )
                        fh = tar.extractfile(info)
                        assert fh is not None
                        return fh.read()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise FetchError(f"not a readable tar archive: {exc}") from exc
        raise FetchError(f"archive has no member {member!r}")
    if body[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(body)) as gz:
                out = gz.read(max_bytes + 1)
        except (OSError, EOFError) as exc:
            raise FetchError(f"corrupt gzip body: {exc}") from exc
        if len(out) > max_bytes:
            raise FetchError(f"gunzipped body exceeds the {max_bytes}-byte cap")
        return out
    return body
