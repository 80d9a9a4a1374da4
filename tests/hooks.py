"""A real webhook receiver on loopback for the event tests: checks minewatch's HMAC signature
(`X-Minewatch-Signature` over `timestamp + "." + body`) and keeps the events it got."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HookServer:
    """`with HookServer(secret) as hook:` — `hook.url`, `hook.events`, `hook.bad` (signatures
    that did not verify); `wait(n)` polls for n events against a deadline."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.events: list[dict[str, Any]] = []
        self.bad: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.receive(body, self.headers.get("X-Minewatch-Timestamp", ""),
                              self.headers.get("X-Minewatch-Signature", ""))  # fmt: skip
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def receive(self, body: bytes, ts: str, sig: str) -> None:
        want = hmac.new(self.secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig.removeprefix("sha256="), want):
            self.bad.append(sig)
        self.events.extend(json.loads(body)["events"])

    def wait(self, n: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events) < n and time.monotonic() < deadline:
            time.sleep(0.05)

    def __enter__(self) -> HookServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
