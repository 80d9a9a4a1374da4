"""`minewatch serve --workers N`: N uvicorn processes, each with its OWN listening socket.

uvicorn's own multi-worker mode binds one socket and shares it: every worker waits on the same
accept queue, and the first to wake takes the connection. A client holding 32 keep-alive
connections then often ends up almost wholly on one worker, which saturates while the other
idles (the verification-list benchmark's p99 went from 33 ms to 400 ms between runs). Here each
worker binds the address with SO_REUSEPORT, and the kernel (Linux) spreads new connections over
the listening sockets by a hash of the connection's addresses and ports.

The supervisor (this module, in the `serve` process) first checks that the address is free with
a plain bind (so a port in use — even by another SO_REUSEPORT server, such as a second
`minewatch serve` — is a clear error, not silently shared), learns the port when 0 was asked
for, and keeps a bound, never-listening SO_REUSEPORT socket that holds the port while workers
come and go. Workers are `python -m api.workers` processes that read every setting from the
`MINEWATCH_*` variables the supervisor sets (`settings_env`) and build the app with
`create_app`; each reports on a pipe once uvicorn has started. The workers keep their metrics
in prometheus-client's multi-process files ($PROMETHEUS_MULTIPROC_DIR if set, else a temporary
directory removed at exit; the supervisor holds a lock on it, so one left by a killed supervisor
is recognised and removed by the next), so /metrics sums them all. SIGTERM/SIGINT are forwarded
(SIGTERM: graceful; a second signal forces). A worker that dies after starting is replaced, with a
doubling delay; one that fails before it has ever started — or a replacement that fails to start
`MAX_START_FAILURES` times in a row — stops the service with exit status 3.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import fcntl
import logging
import logging.config
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import uvicorn
from prometheus_client.multiprocess import mark_process_dead
from uvicorn.config import LOGGING_CONFIG

from api.app import open_engine
from api.config import Settings, load_settings, settings_env
from api.routes.metrics import MULTIPROC_ENV

STARTUP_FAILURE = 3  # uvicorn's exit status for a server that could not start
MAX_START_FAILURES = 5  # replacements failing to start in a row before the service gives up
BACKOFF = (0.5, 30.0)  # restart delay: first, maximum (doubling per consecutive crash)
STABLE_SECONDS = 60.0  # a worker up this long resets its crash count
GRACE_SECONDS = 30.0  # after SIGTERM, then SIGKILL
log = logging.getLogger("uvicorn.error")


class ServeError(Exception):
    """The workers cannot be started at all: address in use or not bindable, not Linux."""


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound (not listening) to host:port with SO_REUSEPORT."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT of a previous run
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def reserve(host: str, port: int) -> socket.socket:
    """Check host:port is free with a plain bind (port 0: pick one), then hold it with a bound,
    never-listening SO_REUSEPORT socket that the workers' sockets join; ServeError if taken."""
    try:
        with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            port = int(probe.getsockname()[1])
        return reuseport_socket(host, port)  # OSError: taken between the probe and now
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"{host}:{port} is already in use (another server running?)") from None
        raise ServeError(f"cannot bind {host}:{port}: {exc.strerror or exc}") from None


@dataclass
class _Worker:
    slot: int
    proc: subprocess.Popen[bytes] | None = None
    ready_fd: int = -1  # read end: b"1" once uvicorn has started, EOF when the process ends
    ready: bool = False  # this process has started
    ever_ready: bool = False  # some process of this slot has
    started: float = 0.0
    crashes: int = 0  # exits in a row (sets the restart delay)
    start_failures: int = 0  # exits before starting, in a row
    restart_at: float | None = None


METRICS_PREFIX = "minewatch-metrics-"
_LOCK = ".supervisor.lock"
_UNLOCKED_GRACE = 60.0  # seconds a directory may lack its lock file (just being created)


def own_metrics_dir() -> tuple[str, int]:
    """A new metrics directory and the descriptor of the lock held on it while we live.

    Directories of earlier supervisors whose lock nobody holds any more (killed by SIGKILL or
    the OOM killer, so their `finally` never ran) are removed first."""
    base = Path(tempfile.gettempdir())
    for old in base.glob(METRICS_PREFIX + "*"):
        _remove_if_abandoned(old)
    path = tempfile.mkdtemp(prefix=METRICS_PREFIX)
    fd = os.open(Path(path) / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return path, fd


def _remove_if_abandoned(path: Path) -> None:
    try:
        fd = os.open(path / _LOCK, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:  # made by a version without the lock, or being made right now
        try:
            if time.time() - path.stat().st_mtime > _UNLOCKED_GRACE:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass
        return
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # a live supervisor holds it
    finally:
        os.close(fd)  # closing drops our lock too
    shutil.rmtree(path, ignore_errors=True)
    log.info("removed %s, left by a supervisor that did not stop cleanly", path)


def _describe(code: int) -> str:
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"


class Supervisor:
    """Starts, watches, replaces and stops the workers; `run()` returns the exit status."""

    def __init__(self, settings: Settings, anchor: socket.socket) -> None:
        self.port = int(anchor.getsockname()[1])
        self.settings = settings.model_copy(update={"port": self.port})  # port 0: the one picked
        self.anchor = anchor
        # prometheus-client multi-process mode: each worker writes its metrics to files here
        # and a scrape, whichever worker answers it, sums them (`api.routes.metrics`)
        inherited = os.environ.get(MULTIPROC_ENV)
        self.own_dir = not inherited
        self._dir_lock = -1
        if inherited:
            self.metrics_dir = inherited
        else:
            self.metrics_dir, self._dir_lock = own_metrics_dir()
        for stale in Path(self.metrics_dir).glob("*.db"):  # a previous run's
            stale.unlink()
        self.env = {**os.environ, **settings_env(self.settings), MULTIPROC_ENV: self.metrics_dir}
        self.workers = [_Worker(i + 1) for i in range(settings.workers)]
        self.selector = selectors.DefaultSelector()
        self.signals: list[int] = []  # received, in order
        self.stop_at: float | None = None  # once stopping: when to SIGKILL
        self.status = 0
        self.restarts = 0

    def run(self) -> int:
        wake_r, wake_w = socket.socketpair()
        for sock in (wake_r, wake_w):
            sock.setblocking(False)
        self.selector.register(wake_r, selectors.EVENT_READ, None)
        old_fd = signal.set_wakeup_fd(wake_w.fileno())
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            log.info("serving http://%s:%d with %d workers (SO_REUSEPORT) [%d]",
                     self.settings.host, self.port, len(self.workers), os.getpid())  # fmt: skip
            for w in self.workers:
                self._spawn(w)
            self._loop(wake_r)
            return self.status
        finally:
            for w in self.workers:  # only after an unexpected error: _loop waits for them all
                if w.proc is not None and w.proc.poll() is None:
                    w.proc.kill()
                    w.proc.wait()
            for s, handler in old.items():
                signal.signal(s, handler)
            signal.set_wakeup_fd(old_fd)
            self.selector.close()
            wake_r.close()
            wake_w.close()
            self.anchor.close()
            if self.own_dir:
                shutil.rmtree(self.metrics_dir, ignore_errors=True)
                os.close(self._dir_lock)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)

    def _loop(self, wake: socket.socket) -> None:
        handled = 0
        while True:
            due = [w.restart_at for w in self.workers if w.restart_at is not None]
            timeout = max(0.0, min([*due, time.monotonic() + 1.0]) - time.monotonic())
            for key, _ in self.selector.select(timeout):
                if key.data is None:
                    wake.recv(512)
                else:
                    self._read_ready(key.data)
            if len(self.signals) > handled:  # the first signal stops gracefully, a second forces
                self._stop(f"stopping on {signal.Signals(self.signals[handled]).name}",
                           signal.SIGTERM if handled == 0 else signal.SIGINT)  # fmt: skip
                handled = len(self.signals)
            for w in self.workers:
                if w.proc is not None and (code := w.proc.poll()) is not None:
                    self._exited(w, code)
            if self.stop_at is not None:
                if all(w.proc is None for w in self.workers):
                    return
                if time.monotonic() > self.stop_at:
                    log.error("workers still running %.0f s after SIGTERM: killing them",
                              GRACE_SECONDS)  # fmt: skip
                    self._send(signal.SIGKILL)
                    self.status = self.status or 1
                continue
            for w in self.workers:
                if w.restart_at is not None and w.restart_at <= time.monotonic():
                    self._spawn(w)

    def _spawn(self, w: _Worker) -> None:
        r, wfd = os.pipe()
        cmd = [sys.executable, "-m", "api.workers", "--slot", str(w.slot), "--ready-fd", str(wfd),
               "--parent", str(os.getpid())]  # fmt: skip
        try:
            w.proc = subprocess.Popen(cmd, env=self.env, pass_fds=(wfd,))
        finally:
            os.close(wfd)
        os.set_blocking(r, False)
        w.ready_fd, w.ready, w.started, w.restart_at = r, False, time.monotonic(), None
        self.selector.register(r, selectors.EVENT_READ, w)
        log.info("worker %d started [%d]", w.slot, w.proc.pid)

    def _read_ready(self, w: _Worker, *, close: bool = False) -> None:
        """Note a ready message; close the pipe at EOF (or when told: the process has ended)."""
        try:
            data = os.read(w.ready_fd, 64)
        except BlockingIOError:
            data = None
        if data:
            w.ready = w.ever_ready = True
            w.start_failures = 0
            log.info("worker %d ready [%d]", w.slot, w.proc.pid if w.proc else 0)
        if data == b"" or close:
            self.selector.unregister(w.ready_fd)
            os.close(w.ready_fd)
            w.ready_fd = -1

    def _exited(self, w: _Worker, code: int) -> None:
        """Stopping: note the exit. Else replace the worker after a delay, or stop the service
        if it never started (or keeps failing to)."""
        assert w.proc is not None
        pid, up = w.proc.pid, time.monotonic() - w.started
        if w.ready_fd >= 0:  # a ready message that raced with the exit
            self._read_ready(w, close=True)
        w.proc = None
        # its live gauges go; its counters stay in the sums
        mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]
        if self.stop_at is not None:
            log.info("worker %d stopped [%d] (%s)", w.slot, pid, _describe(code))
            self.status = self.status or (0 if code == 0 else 1)
            return
        w.crashes = 1 if w.ready and up >= STABLE_SECONDS else w.crashes + 1
        if not w.ready:
            w.start_failures += 1
        if not w.ever_ready or w.start_failures >= MAX_START_FAILURES:
            times = f" {w.start_failures} times in a row" if w.ever_ready else ""
            log.error("worker %d [%d] failed to start%s (%s)", w.slot, pid, times, _describe(code))
            self.status = STARTUP_FAILURE
            self._stop("stopping", signal.SIGTERM)
            return
        delay = min(BACKOFF[1], BACKOFF[0] * 2 ** (w.crashes - 1))
        self.restarts += 1
        log.warning("worker %d [%d] exited unexpectedly (%s) after %.1f s; restart %d in %.1f s",
                    w.slot, pid, _describe(code), up, self.restarts, delay)  # fmt: skip
        w.restart_at = time.monotonic() + delay

    def _stop(self, why: str, sig: int) -> None:
        if self.stop_at is None:
            log.info("%s %d workers", why, sum(w.proc is not None for w in self.workers))
            self.stop_at = time.monotonic() + GRACE_SECONDS
        self._send(sig)

    def _send(self, sig: int) -> None:
        for w in self.workers:
            w.restart_at = None
            if w.proc is not None and w.proc.poll() is None:
                w.proc.send_signal(sig)


def serve_workers(settings: Settings) -> int:
    """Run `settings.workers` worker processes on host:port until SIGTERM/SIGINT; returns the
    exit status. Raises ServeError before starting anything when the address is taken."""
    if not sys.platform.startswith("linux"):
        raise ServeError("serve --workers N > 1 needs Linux (SO_REUSEPORT balancing)")
    logging.config.dictConfig(LOGGING_CONFIG)  # uvicorn's: our lines look like the workers'
    anchor = reserve(settings.host, settings.port)
    try:
        # migrate once, here: N workers upgrading a new database at the same time collide
        open_engine(settings).dispose()
    except BaseException:
        anchor.close()
        raise
    return Supervisor(settings, anchor).run()


# --- the worker process ---------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """SIGTERM this worker if the supervisor dies (even by SIGKILL): an orphan would keep a
    share of the port's connections."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the supervisor died before prctl
        raise SystemExit(0)


def _quit(signum: int, frame: FrameType | None) -> None:
    # before uvicorn takes over the signals (imports, app start) and after it gives them back
    # (it re-raises the signal that stopped it): leave quietly with status 0
    raise SystemExit(0)


def worker_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m api.workers", description=__doc__)
    ap.add_argument("--slot", type=int, required=True)
    ap.add_argument("--ready-fd", type=int, required=True)
    ap.add_argument("--parent", type=int, required=True)
    args = ap.parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _quit)
    _die_with_parent(args.parent)
    os.set_inheritable(args.ready_fd, False)
    settings = load_settings()  # every field from MINEWATCH_*, set by the supervisor
    sock = reuseport_socket(settings.host, settings.port)  # listens once the app is built
    config = uvicorn.Config("api.app:create_app", factory=True, host=settings.host,
                            port=settings.port, log_level="info",
                            access_log=settings.access_log)  # fmt: skip
    server = _Server(config, args.ready_fd)
    server.run(sockets=[sock])
    return 0 if server.started else STARTUP_FAILURE


class _Server(uvicorn.Server):
    """uvicorn's Server, telling the supervisor on a pipe once it has started."""

    def __init__(self, config: uvicorn.Config, ready_fd: int) -> None:
        super().__init__(config)
        self.ready_fd = ready_fd

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            os.write(self.ready_fd, b"1")


if __name__ == "__main__":
    sys.exit(worker_main())
