"""Events as RFC 5424 syslog messages over UDP, TCP (RFC 6587 octet counting) or a local socket.

One message per event:

    <PRI>1 2024-05-01T12:00:00.000000Z host minewatch 4242 case.opened
      [minewatch@32473 type="case.opened" id="17" status="new"] {"type":"case.opened",…}

- PRI = facility × 8 + severity; the facility is the URL's `facility=` (default `local0`), the
  severity follows the event type (`EVENT_SEVERITY`: a new or reopened case is `warning`, a
  status change `notice`, a list change `info`).
- MSGID is the event type; the structured data element `minewatch@PEN` repeats the type and
  a few short routing fields (`SD_PARAMS`, values cut to 32 characters) so a SIEM can filter
  without parsing the MSG; PEN defaults to 32473 (RFC 5612's documentation number: set your
  organisation's with `pen=`). MSG is the event's full JSON (ASCII-only, `\\u` escapes),
  shrunk by `events.fit` — never cut — to stay within `max=` bytes (default 2048 for UDP,
  RFC 5426's safe size; 65536 for TCP and local sockets).
- Subscriber data (`events.SUBSCRIBER_KEYS`) is personal data in clear text on the wire:
  `syslog+udp` never carries it (spoofable, lossy, unencrypted), `syslog+tcp` only with
  `subscriber=1`, `syslog+unix` (the local daemon, which may forward over TLS) carries it.
  A notification gateway should use a webhook (HTTPS, signed) or a local relay.
"""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pipelines.exporters.base import QueuedTarget
from pipelines.exporters.events import (
    CASE_OPENED,
    CASE_REOPENED,
    CASE_STATUS,
    LIST_CHANGED,
    Event,
    as_dict,
    fit,
    redact,
)

_NAMES = "kern user mail daemon auth syslog lpr news uucp cron authpriv ftp ntp audit alert clock"
FACILITIES = {n: c for c, n in enumerate([*_NAMES.split(" "), *(f"local{i}" for i in range(8))])}
WARNING, NOTICE, INFO = 4, 5, 6
EVENT_SEVERITY = {CASE_OPENED: WARNING, CASE_REOPENED: WARNING, CASE_STATUS: NOTICE,
                  LIST_CHANGED: INFO}  # fmt: skip
SD_PARAMS = ("id", "status", "previous", "sector", "region", "cls", "version", "added",
             "removed")  # fmt: skip
DOC_PEN = 32473
APP = "minewatch"
MIN_MESSAGE = 1024


def _printusascii(text: str, width: int) -> str:
    """RFC 5424 header fields: 1..width printable US-ASCII characters, else `-`."""
    clean = "".join(c for c in text if 33 <= ord(c) <= 126)[:width]
    return clean or "-"


def _sd_value(value: Any) -> str:
    text = str(value)[:32]
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def format_message(
    event: Event, *, facility: int = FACILITIES["local0"], hostname: str | None = None,
    procid: int | None = None, pen: int = DOC_PEN, limit: int = 2048, subscriber: bool = False,
) -> bytes:  # fmt: skip
    """One RFC 5424 message (no framing) of at most `limit` bytes (at least `MIN_MESSAGE`)."""
    limit = max(limit, MIN_MESSAGE)
    pri = facility * 8 + EVENT_SEVERITY.get(event.type, INFO)
    ts = as_dict(event)["at"]
    host = _printusascii(hostname if hostname is not None else socket.gethostname(), 64)
    msgid = _printusascii(event.type, 32)
    header = f"<{pri}>1 {ts} {host} {APP} {procid or os.getpid()} {msgid} "
    obj = as_dict(event)
    if not subscriber:
        obj["data"] = redact(obj["data"])
    params = [("type", event.type)]
    params += [(k, obj["data"][k]) for k in SD_PARAMS
               if isinstance(obj["data"].get(k), str | int | float)]  # fmt: skip
    sd = f"[{APP}@{pen} " + " ".join(f'{k}="{_sd_value(v)}"' for k, v in params) + "]"
    room = limit - len(header.encode()) - len(sd.encode()) - 1
    msg = fit(obj, room, ascii_only=True)
    return f"{header}{sd} {msg}".encode()


def frame_octet_counted(message: bytes) -> bytes:
    """RFC 6587 §3.4.1: `MSG-LEN SP SYSLOG-MSG`."""
    return b"%d " % len(message) + message


class SyslogTarget(QueuedTarget):
    """Sends each event as one RFC 5424 message (see the module docstring)."""

    def __init__(
        self, transport: str, address: str | tuple[str, int], *, facility: int = 16,
        pen: int = DOC_PEN, limit: int | None = None, subscriber: bool | None = None,
        timeout: float = 5.0, retries: int = 2, queue_size: int = 10_000,
    ) -> None:  # fmt: skip
        if transport not in ("udp", "tcp", "unix"):
            raise ValueError(f"syslog transport must be udp, tcp or unix, not {transport!r}")
        if (transport == "unix") != isinstance(address, str):
            raise ValueError(f"syslog+{transport} address mismatch: {address!r}")
        if subscriber and transport == "udp":
            raise ValueError("syslog+udp never carries subscriber data: use syslog+tcp with "
                             "subscriber=1, a local syslog+unix relay, or a webhook")  # fmt: skip
        self.transport, self.address = transport, address
        self.facility, self.pen, self.timeout, self.retries = facility, pen, timeout, retries
        self.limit = limit or (2048 if transport == "udp" else 65536)
        self.subscriber = (transport == "unix") if subscriber is None else subscriber
        self.hostname = socket.gethostname()
        self._sock: socket.socket | None = None
        super().__init__(queue_size=queue_size, batch=50, name="syslog")

    @classmethod
    def from_url(cls, url: str) -> SyslogTarget:
        """`syslog+udp://host:514?facility=local3&max=1400`, `syslog+tcp://host:6514?
        subscriber=1&pen=NNNN`, `syslog+unix:///dev/log`."""
        parts = urlsplit(url)
        transport = parts.scheme.partition("+")[2]
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"facility", "max", "subscriber", "pen"}
        if unknown:
            raise ValueError(f"unknown syslog URL option(s): {', '.join(sorted(unknown))}")
        fac = query.get("facility", "local0")
        if fac not in FACILITIES:
            raise ValueError(f"unknown syslog facility {fac!r}")
        address: str | tuple[str, int]
        if transport == "unix":
            address = unquote(parts.path)
            if not address:
                raise ValueError(f"syslog+unix needs a socket path: {url!r}")
        else:
            if not parts.hostname:
                raise ValueError(f"syslog URL without a host: {url!r}")
            address = (parts.hostname, parts.port or (514 if transport == "udp" else 6514))
        sub = query.get("subscriber")
        return cls(transport, address, facility=FACILITIES[fac], pen=int(query.get("pen", DOC_PEN)),
                   limit=int(query["max"]) if "max" in query else None,
                   subscriber=None if sub is None else sub in ("1", "true", "yes"))  # fmt: skip

    def message(self, event: Event) -> bytes:
        return format_message(event, facility=self.facility, hostname=self.hostname,
                              pen=self.pen, limit=self.limit,
                              subscriber=self.subscriber)  # fmt: skip

    def _connect(self) -> socket.socket:
        if self._sock is None:
            if isinstance(self.address, str):  # unix
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.settimeout(self.timeout)
                sock.connect(self.address)
            elif self.transport == "udp":
                host, port = self.address
                found = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
                family, kind, proto, _, addr = found[0]
                sock = socket.socket(family, kind, proto)
                sock.connect(addr)
            else:
                sock = socket.create_connection(self.address, timeout=self.timeout)
            self._sock = sock
        return self._sock

    def deliver(self, batch: list[Event]) -> None:
        messages = [self.message(e) for e in batch]
        # a lost datagram is not noticed, a refused one would be sent twice: UDP tries once
        tries = 1 if self.transport == "udp" else self.retries + 1
        for attempt in range(tries):
            if attempt:
                self.count("retries")
                if self.stopping.wait(0.2 * 2**attempt):
                    raise TimeoutError("closing: retries cut short")
            try:
                sock = self._connect()
                if self.transport == "tcp":
                    sock.sendall(b"".join(frame_octet_counted(m) for m in messages))
                else:
                    for m in messages:
                        sock.send(m)
                return
            except OSError as exc:
                error = exc
                self.shutdown()
        raise error

    def shutdown(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
