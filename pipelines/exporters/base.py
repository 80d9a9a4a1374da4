"""The event-target interface, the registry of targets by URL scheme, and the shared queue.

A target is opened from a URL (`api.config.Settings.event_targets`):

    https://siem.example.net/hooks/minewatch      JSON batches, HMAC-signed (`webhook`)
    syslog+udp://10.0.0.5:514?facility=local3     RFC 5424 datagrams (`syslog`)
    syslog+tcp://10.0.0.5:6514                    RFC 5424, RFC 6587 octet counting
    syslog+unix:///dev/log                        the local syslog daemon

`send` never blocks and never raises for delivery problems: events go into a bounded queue
that one worker thread drains, so a dead or slow receiver costs memory up to the queue size,
then drops (counted in `stats["dropped"]`), and never stalls detection.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Protocol
from urllib.parse import urlsplit

from pipelines.exporters.events import Event


class EventTarget(Protocol):
    """Where events go. `send` must not block on the network; `close` flushes what it can."""

    def send(self, events: Sequence[Event]) -> None: ...

    def close(self) -> None: ...


class QueuedTarget:
    """A bounded queue and one delivery thread; subclasses implement `deliver(batch)`, which
    raises on failure (after its own retries) and may block (only the worker waits)."""

    def __init__(self, *, queue_size: int = 10_000, batch: int = 100, name: str = "events"):
        self._queue: queue.Queue[Event | None] = queue.Queue(maxsize=max(1, queue_size))
        self.batch = max(1, batch)
        self.name = name  # the transport, a metric label (never the URL: it may hold secrets)
        self.stopping = threading.Event()
        self.stats = {"queued": 0, "sent": 0, "dropped": 0, "failed": 0, "retries": 0}
        self.on_count: Callable[[str, int], None] | None = None  # (stat, n): a metrics hook
        self.last_error: str | None = None
        self._idle = threading.Condition(threading.RLock())
        self._pending = 0  # queued or being delivered
        self._thread = threading.Thread(target=self._run, name=f"{name}-target", daemon=True)
        self._thread.start()

    def deliver(self, batch: list[Event]) -> None:
        raise NotImplementedError

    def count(self, stat: str, n: int = 1) -> None:
        """Add to one of `stats` (and tell `on_count`, e.g. a multi-process metrics counter)."""
        self.stats[stat] += n
        if self.on_count is not None:
            self.on_count(stat, n)

    def send(self, events: Sequence[Event]) -> None:
        for event in events:
            with self._idle:
                self._pending += 1
            try:
                self._queue.put_nowait(event)
            except queue.Full:
                with self._idle:
                    self._pending -= 1
                    self.count("dropped")
            else:
                self.count("queued")

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            outcome = "sent"
            try:
                self.deliver(batch)
            except Exception as exc:  # a delivery failure must never kill the worker
                outcome = "failed"
                self.last_error = f"{type(exc).__name__}: {exc}"
            with self._idle:  # (re-entrant) one step for flush() waiters and metric hooks
                self._pending -= len(batch)
                self.count(outcome, len(batch))
                self._idle.notify_all()
            if stop:
                return

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far was delivered or given up on."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued within `timeout`, then stop (retries are cut short)."""
        self.flush(timeout)
        self.stopping.set()
        while True:  # what is still queued now is dropped, not delivered slowly
            try:
                if self._queue.get_nowait() is not None:
                    with self._idle:
                        self._pending -= 1
                        self.count("dropped")
            except queue.Empty:
                break
        with contextlib.suppress(queue.Full):  # a racing send may have refilled it
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        self.shutdown()

    def shutdown(self) -> None:
        """Release the transport (after the worker stopped)."""

    @property
    def pending(self) -> int:
        """Events queued or being delivered now."""
        with self._idle:
            return self._pending


Factory = Callable[[str, str | None], EventTarget]


def _webhook(url: str, secret: str | None) -> EventTarget:
    from pipelines.exporters.webhook import WebhookTarget

    return WebhookTarget(url, secret=secret)


def _syslog(url: str, _secret: str | None) -> EventTarget:
    from pipelines.exporters.syslog import SyslogTarget

    return SyslogTarget.from_url(url)


# URL scheme → target (one line per transport)
EVENT_TARGETS: dict[str, Factory] = {
    "http": _webhook,
    "https": _webhook,
    "syslog+udp": _syslog,
    "syslog+tcp": _syslog,
    "syslog+unix": _syslog,
}


def open_targets(urls: Sequence[str], secret: str | None, stack: ExitStack) -> list[EventTarget]:
    """A target per URL, each closed (flushed) when `stack` closes — also those opened before
    a later URL turns out bad."""
    targets = []
    for url in urls:
        targets.append(target := open_target(url, secret=secret))
        stack.callback(target.close)
    return targets


def open_target(url: str, *, secret: str | None = None) -> EventTarget:
    """The target for `url` (ValueError for an unknown scheme or a bad URL)."""
    scheme = urlsplit(url).scheme.lower()
    factory = EVENT_TARGETS.get(scheme)
    if factory is None:
        known = ", ".join(sorted(EVENT_TARGETS))
        raise ValueError(f"unknown event target scheme {scheme!r} in {url!r} (known: {known})")
    return factory(url, secret)
