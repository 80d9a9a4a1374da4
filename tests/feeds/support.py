"""Test support for the feed service: a loopback HTTP feed server with ETag / Last-Modified /
304 support, a settable clock, the shared real feed files, and the console script."""

from __future__ import annotations

import email.utils
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import Database

FEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "feeds"
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
EXE = shutil.which("minewatch", path=str(Path(sys.executable).parent)) or "minewatch"


def feeds_dir() -> Path:
    if not FEEDS.is_dir():
        pytest.skip(f"SKIPPED LOUDLY: shared feed files not found at {FEEDS}")
    return FEEDS


def minewatch(*args: str, db: Database | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real console script (with `$MINEWATCH_DB` set to `db`, or unset)."""
    env = {k: v for k, v in os.environ.items() if k != "MINEWATCH_DB"}
    if db is not None:
        env["MINEWATCH_DB"] = db.url
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


class Clock:
    """A settable UTC clock for services (`now()`) and providers (`time()`)."""

    def __init__(self, start: datetime = datetime(2024, 5, 1, tzinfo=UTC)) -> None:
        self.t = start

    def now(self) -> datetime:
        return self.t

    def time(self) -> float:
        return self.t.timestamp()

    def advance(self, **kw: float) -> datetime:
        self.t += timedelta(**kw)
        return self.t


# -- a loopback feed server ---------------------------------------------------------------------


@dataclass
class Route:
    """One served path. `script` holds statuses to answer before serving normally (500, 404 …);
    `delay` sleeps before answering; `no_length` sends no Content-Length."""

    body: bytes = b""
    etag: str | None = None
    last_modified: datetime | None = None
    script: list[int] = field(default_factory=list)
    delay: float = 0.0
    no_length: bool = False


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    status: int


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._answer(self)

            def send_response(self, code: int, message: str | None = None) -> None:
                # recorded before the client can see the answer, so the list is in the order
                # the client made its requests (recording after the body raced the retry)
                with server._lock:
                    server.requests.append(Seen(self.path, dict(self.headers), code))
                super().send_response(code, message)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Quiet(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients that gave up (timeout tests) close their end early

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def _answer(self, h: BaseHTTPRequestHandler) -> int:
        route = self.routes.get(h.path)
        if route is None:
            return self._plain(h, 404, b"not found")
        if route.delay:
            time.sleep(route.delay)
        with self._lock:
            scripted = route.script.pop(0) if route.script else None
        if scripted is not None and scripted != 200:
            return self._plain(h, scripted, f"scripted {scripted}".encode())
        inm, ims = h.headers.get("If-None-Match"), h.headers.get("If-Modified-Since")
        if route.etag is not None and inm is not None:
            if route.etag in [t.strip() for t in inm.split(",")]:
                return self._not_modified(h, route)
        elif route.last_modified is not None and ims is not None:
            since = email.utils.parsedate_to_datetime(ims)
            if route.last_modified.replace(microsecond=0) <= since:
                return self._not_modified(h, route)
        h.send_response(200)
        self._validators(h, route)
        if route.no_length:  # HTTP/1.0: the body ends when the connection closes
            h.end_headers()
            h.wfile.write(route.body)
        else:
            h.send_header("Content-Length", str(len(route.body)))
            h.end_headers()
            h.wfile.write(route.body)
        return 200

    def _validators(self, h: BaseHTTPRequestHandler, route: Route) -> None:
        if route.etag is not None:
            h.send_header("ETag", route.etag)
        if route.last_modified is not None:
            h.send_header("Last-Modified", email.utils.format_datetime(route.last_modified, True))

    def _not_modified(self, h: BaseHTTPRequestHandler, route: Route) -> int:
        h.send_response(304)
        self._validators(h, route)
        h.end_headers()
        return 304

    def _plain(self, h: BaseHTTPRequestHandler, status: int, body: bytes) -> int:
        h.send_response(status)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
        return status
