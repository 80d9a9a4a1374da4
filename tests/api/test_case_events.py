"""A case moved through the API is announced to the configured webhook (`case.status`, with
the previous status and the actor), signed; the receiver is a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.api.conftest import start_live

SECRET = "hook-secret-for-tests"


def test_patch_sends_case_status_event(tmp_path: Path) -> None:
    got: list[dict] = []
    bad: list[str] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ts = self.headers.get("X-Minewatch-Timestamp", "")
            want = hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256)
            sig = self.headers.get("X-Minewatch-Signature", "").removeprefix("sha256=")
            if not hmac.compare_digest(sig, want.hexdigest()):
                bad.append(sig)
            got.extend(json.loads(body)["events"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        live_iter = start_live(f"sqlite:///{tmp_path / 'e.db'}", tmp_path,
                               event_targets=[f"http://127.0.0.1:{srv.server_port}/h"],
                               webhook_secret=SECRET)  # fmt: skip
        live = next(live_iter)
        try:
            with live.client("analyst") as c:
                case_id = c.get("/v1/cases").json()["items"][0]["id"]
                assert c.patch(f"/v1/cases/{case_id}", json={"status": "verifying",
                               "note": "calling the school"}).status_code == 200  # fmt: skip
                assert c.patch(f"/v1/cases/{case_id}",
                               json={"status": "blocked"}).status_code == 409  # fmt: skip
            deadline = time.monotonic() + 10
            while not got and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            live_iter.close()
    finally:
        srv.shutdown()
        srv.server_close()
    assert not bad
    assert [(e["type"], e["data"]["id"], e["data"]["status"], e["data"]["previous"],
             e["data"]["actor"]) for e in got] == [
        ("case.status", case_id, "verifying", "new", "analyst-tester")]  # fmt: skip
