"""Webhooks against a real HTTP server on loopback: signature, retry on 5xx, no retry on 4xx,
and a dead receiver that neither blocks the sender nor grows memory."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.exporters.base import open_target
from pipelines.exporters.events import CASE_OPENED, LIST_CHANGED, Event
from pipelines.exporters.webhook import WebhookTarget, sign, verify

SECRET = "s3cret-for-tests"


class Receiver:
    """Answers with the next status of `script` (then 200) and records every request."""

    def __init__(self, script: list[int]) -> None:
        self.script = list(script)
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        self.lock = threading.Lock()


@contextmanager
def receiver(script: list[int]) -> Iterator[tuple[str, Receiver]]:
    rec = Receiver(script)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with rec.lock:
                status = rec.script.pop(0) if rec.script else 200
                rec.requests.append(({k.lower(): v for k, v in self.headers.items()}, body,
                                     status))  # fmt: skip
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", rec
    finally:
        server.shutdown()
        server.server_close()


def events(n: int) -> list[Event]:
    at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    return [Event(CASE_OPENED, at, {"id": i, "subscriber_ip": "100.64.0.7", "account": "ACC-1",
                                    "pool_ip": "203.0.113.7", "pool_port": 3333,
                                    "first_seen": at, "last_seen": at, "note": "ünïcødé ✓"})
            for i in range(n)]  # fmt: skip


def test_signed_batches_are_retried_after_a_5xx_and_verify() -> None:
    with receiver([500]) as (url, rec):
        target = open_target(url, secret=SECRET)
        assert isinstance(target, WebhookTarget)
        target.backoff = 0.05
        target.send(events(3))
        assert target.flush(10)
        target.close()
    assert [s for _, _, s in rec.requests] == [500, 200]
    (h1, b1, _), (h2, b2, _) = rec.requests
    assert b1 == b2 and h1["x-minewatch-delivery"] == h2["x-minewatch-delivery"]
    for headers, body, _ in rec.requests:
        ts = headers["x-minewatch-timestamp"]
        mac = hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        assert headers["x-minewatch-signature"] == f"sha256={mac}"
        assert abs(time.time() - int(ts)) < 60
        assert headers["content-type"] == "application/json"
    doc = json.loads(b2)
    assert [e["data"]["id"] for e in doc["events"]] == [0, 1, 2]
    first = doc["events"][0]
    assert first["type"] == "case.opened" and first["at"] == "2024-05-01T12:00:00.000000Z"
    # what a notification gateway needs is all there
    assert first["data"]["subscriber_ip"] == "100.64.0.7" and first["data"]["account"] == "ACC-1"
    assert first["data"]["first_seen"] == "2024-05-01T12:00:00.000000Z"
    assert first["data"]["note"] == "ünïcødé ✓"
    assert target.stats["sent"] == 3 and target.stats["retries"] == 1
    assert target.stats["failed"] == 0 and target.stats["dropped"] == 0


def test_a_4xx_is_final_and_not_retried() -> None:
    with receiver([401, 200]) as (url, rec):
        target = WebhookTarget(url, secret=SECRET, backoff=0.05)
        target.send(events(2))
        assert target.flush(10)
        target.close()
    assert [s for _, _, s in rec.requests] == [401]
    assert target.stats["failed"] == 2 and target.stats["retries"] == 0
    assert "401" in (target.last_error or "")


def test_a_dead_receiver_blocks_nothing_and_counts_drops() -> None:
    with socket.socket() as s:  # a loopback port that nobody listens on any more
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = WebhookTarget(f"http://127.0.0.1:{port}/hook", secret=SECRET, queue_size=20,
                           batch=5, retries=50, backoff=0.2)  # fmt: skip
    t0 = time.monotonic()
    for e in events(200):
        target.send([e])
    assert time.monotonic() - t0 < 0.5  # send never waits for the network
    assert target.stats["dropped"] >= 200 - 20 - 5
    assert target.stats["queued"] + target.stats["dropped"] == 200
    t0 = time.monotonic()
    target.close(timeout=1.0)
    assert time.monotonic() - t0 < 3.0  # close gives up on retries
    assert target.stats["sent"] == 0
    assert target.stats["failed"] + target.stats["dropped"] == 200
    assert "ConnectError" in (target.last_error or "") or "closing" in (target.last_error or "")


def test_verify_recipe_rejects_forgeries_and_replays() -> None:
    body = b'{"events":[]}'
    sig = sign(SECRET, "1700000000", body)
    assert verify(SECRET, "1700000000", body, sig, now=1700000100)
    assert not verify(SECRET, "1700000000", body + b" ", sig, now=1700000100)
    assert not verify("other", "1700000000", body, sig, now=1700000100)
    assert not verify(SECRET, "1700000000", body, sig, now=1700009999)  # too old
    assert not verify(SECRET, "not-a-time", body, sig)


@pytest.mark.parametrize("url", ["ftp://x/", "gopher://h", "http:///nohost", "nonsense"])
def test_bad_target_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        open_target(url, secret=SECRET)


def test_a_webhook_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        open_target("https://siem.example.net/hook")


def test_list_changed_events_encode() -> None:
    with receiver([]) as (url, rec):
        target = WebhookTarget(url, secret=SECRET)
        target.send([Event(LIST_CHANGED, datetime(2024, 5, 1, tzinfo=UTC),
                           {"version": 7, "added": 2, "removed": {"a", "b"}})])  # fmt: skip
        target.close()
    doc = json.loads(rec.requests[0][1])
    assert doc["events"][0]["data"] == {"version": 7, "added": 2, "removed": ["a", "b"]}
