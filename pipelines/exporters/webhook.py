"""JSON webhooks: signed batches of events POSTed to a receiver (SIEM, notification gateway).

Body: `{"events": [{"type": …, "at": …, "data": {…}}, …]}` (`events.encode_batch`).
Headers:

- `X-Minewatch-Timestamp`: Unix seconds when this attempt was signed;
- `X-Minewatch-Signature`: `sha256=` + hex HMAC-SHA256(secret, timestamp + "." + body), so a
  receiver can reject forged bodies and, by checking the timestamp, replays;
- `X-Minewatch-Delivery`: one id per batch, the same on every retry (receivers de-duplicate).

Delivery: 2xx is success; 5xx, 408, 429, timeouts and connection errors are retried up to
`retries` times with exponential backoff (capped, with jitter); any other 4xx is the
receiver's final word (retrying cannot help) and the batch counts as failed.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
import uuid
from urllib.parse import urlsplit

import httpx

from minewatch import __version__
from pipelines.exporters.base import QueuedTarget
from pipelines.exporters.events import Event, encode_batch

SIGNATURE = "X-Minewatch-Signature"
TIMESTAMP = "X-Minewatch-Timestamp"
DELIVERY = "X-Minewatch-Delivery"
RETRYABLE = frozenset({408, 429})


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *,
           tolerance: float = 300.0, now: float | None = None) -> bool:  # fmt: skip
    """What a receiver does: constant-time compare, and a timestamp within `tolerance` s."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


class Rejected(Exception):
    """The receiver answered with a final 4xx."""


class WebhookTarget(QueuedTarget):
    """POSTs signed JSON batches from a worker thread (see the module docstring)."""

    def __init__(
        self, url: str, *, secret: str | None, timeout: float = 5.0, retries: int = 3,
        backoff: float = 0.5, max_backoff: float = 30.0, queue_size: int = 10_000,
        batch: int = 100,
    ) -> None:  # fmt: skip
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        if not secret:
            raise ValueError("a webhook needs a signing secret (settings: webhook_secret)")
        self.url, self.secret = url, secret
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self.client = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False,
                                   headers={"User-Agent": f"minewatch/{__version__}"})  # fmt: skip
        super().__init__(queue_size=queue_size, batch=batch, name="webhook")

    def deliver(self, batch: list[Event]) -> None:
        body = encode_batch(batch)
        delivery = uuid.uuid4().hex
        for attempt in range(self.retries + 1):
            if attempt:
                self.count("retries")
                pause = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                if self.stopping.wait(pause * random.uniform(0.8, 1.2)):
                    raise TimeoutError("closing: retries cut short")
            ts = str(int(time.time()))
            headers = {"Content-Type": "application/json", TIMESTAMP: ts, DELIVERY: delivery,
                       SIGNATURE: sign(self.secret, ts, body)}  # fmt: skip
            try:
                resp = self.client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                error: Exception = exc
                continue
            if resp.is_success:
                return
            error = Rejected(f"HTTP {resp.status_code} from {self.url}")
            if resp.status_code < 500 and resp.status_code not in RETRYABLE:
                raise error
        raise error

    def shutdown(self) -> None:
        self.client.close()
