"""Hot reload: compile the live list version into a `Matcher` and notice newer ones cheaply.

`MatcherProvider` compiles the database's latest version (all sources, learned and manual
entries included) plus the built-in list and `--blocklist` file entries into one immutable
`blacklist.matcher.Matcher`. `poll()` costs one indexed read (`list_head.version_id`) and
recompiles only when the version changed or a learned entry expired since the last compile
(expired entries are left out at compile time, before the next version drops them).

A running pipeline swaps without restart through its context's `swap_matcher(matcher, allow)`
(one reference assignment between batches, `detector.context`); the allowlist index
(`blacklist.allow.AllowIndex`, for "a list match inside a CDN range is weak evidence") is
compiled with each matcher and handed over with it. `hook(target)` returns a callback with the
scanner's `progress(nbytes)` signature that polls at most every `every` seconds — the scanner
calls it after each batch, so `Scanner(ctx, sink, provider.hook(ctx))` reloads between batches
without any change to the pipeline. Compiling costs ~20 µs an entry (building `Entry` objects
and prefixes; ~20 s for 1M entries), so long-running pipelines use `hook(..., background=True)`:
the compile runs in a thread and the batch loop only swaps the finished matcher in. A database
that cannot be read keeps the current matcher (`last_error` says why).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from blacklist.allow import AllowIndex, BlockList, active_blocklist
from blacklist.builtin import builtin_entries
from blacklist.entries import Entry
from blacklist.history import matcher_entries
from blacklist.matcher import Matcher
from blacklist.versions import head_version


class Swappable(Protocol):
    """What a running pipeline exposes (`detector.context.DetectContext`)."""

    def swap_matcher(self, matcher: Matcher, allow: AllowIndex | None = None) -> bool: ...


class MatcherProvider:
    """Compiles the live list (+ built-in + file entries) and recompiles when it changes."""

    def __init__(
        self,
        engine: Engine | None,
        extra: Sequence[Entry] = (),
        *,
        builtin: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.extra = tuple(extra)
        self.builtin = builtin
        self.clock = clock
        self.version_id: int | None = None
        self.db_entries = 0
        self._next_expiry: float | None = None
        self._matcher: Matcher | None = None
        self._allow: AllowIndex | None = None
        self.reloads = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._ready: Matcher | None = None
        self._thread: threading.Thread | None = None

    def latest(self) -> int | None:
        """The database's latest version id (cheap)."""
        return head_version(self.engine) if self.engine is not None else None

    def load(self) -> Matcher:
        """Compile the latest version now."""
        vid = self.latest()
        entries: list[Entry] = list(builtin_entries()) if self.builtin else []
        expiry: datetime | None = None
        count = 0
        if vid is not None and self.engine is not None:
            now = datetime.fromtimestamp(self.clock(), UTC)
            stored, expiry = matcher_entries(self.engine, vid, now)
            entries.extend(stored)
            count = len(stored)
        entries.extend(self.extra)
        matcher = Matcher(entries)
        allow = AllowIndex(matcher.entries)  # built here: the compile thread pays for it
        with self._lock:
            self._matcher, self._allow = matcher, allow
        self.version_id, self.db_entries = vid, count
        self._next_expiry = expiry.timestamp() if expiry is not None else None
        self.reloads += 1
        return matcher

    @property
    def matcher(self) -> Matcher:
        return self._matcher if self._matcher is not None else self.load()

    @property
    def allow(self) -> AllowIndex:
        """Allowlist index of the current matcher (for `DetectContext.allow`)."""
        if self._allow is None:
            self._allow = AllowIndex(self.matcher.entries)
        return self._allow

    def allow_for(self, matcher: Matcher) -> AllowIndex:
        """The allowlist index compiled together with `matcher`."""
        with self._lock:
            if matcher is self._matcher and self._allow is not None:
                return self._allow
        return AllowIndex(matcher.entries)

    def stale(self) -> bool:
        """Whether the database has a newer version or a compiled learned entry expired."""
        if self._matcher is None:
            return True
        expired = self._next_expiry is not None and self.clock() >= self._next_expiry
        return expired or self.latest() != self.version_id

    def poll(self) -> Matcher | None:
        """A freshly compiled matcher if the list changed since the last compile, else None.
        A database error keeps the current matcher (and is kept in `last_error`)."""
        try:
            return self.load() if self.stale() else None
        except SQLAlchemyError as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return None

    def hook(
        self, target: Swappable, every: float = 5.0, *, background: bool = False
    ) -> Callable[[int], None]:
        """A `progress(nbytes)` callback that checks at most every `every` seconds and swaps a
        newer matcher into `target`. With `background=True` the compile (seconds for a 1M
        list) runs in a thread and the callback only swaps a finished matcher in."""
        last = [self.clock()]

        def progress(_nbytes: int) -> None:
            now = self.clock()
            if now - last[0] < every:
                return
            last[0] = now
            fresh = self._background_step() if background else self.poll()
            if fresh is not None:
                target.swap_matcher(fresh, self.allow_for(fresh))

        return progress

    def _background_step(self) -> Matcher | None:
        with self._lock:
            ready, self._ready = self._ready, None
            busy = self._thread is not None and self._thread.is_alive()
        if ready is None and not busy:
            self._thread = threading.Thread(target=self._compile, name="matcher-compile",
                                            daemon=True)  # fmt: skip
            self._thread.start()
        return ready

    def close(self, timeout: float | None = None) -> None:
        """Wait for a background compile to finish (before disposing of the engine)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _compile(self) -> None:
        fresh = self.poll()
        if fresh is not None:
            with self._lock:
                self._ready = fresh

    def blocklist(self) -> BlockList:
        """The exportable block list of the current matcher (allowlist-suppressed entries
        listed separately)."""
        return active_blocklist(self.matcher.entries, self.allow)

    def describe(self) -> str:
        if self.version_id is None:
            return "list database: no list version yet"
        return f"list version {self.version_id} from the database: {self.db_entries} entries"
