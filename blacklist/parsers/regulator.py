"""The regulator's weekly mining-IP list (schema defined here; see docs/regulator-list.md).

    ip,port,protocol,first_seen,last_seen,coin,note
    192.0.2.10,3333,tcp,2024-04-29,2024-05-05T21:14:00Z,XMR,stratum login seen
    100.64.12.7,,,2024-05-01,2024-05-01,BTC,"CGNAT egress, several subscribers"

UTF-8 (optional BOM), comma-separated, RFC 4180 quoting, one record per line, `#` comment lines
and blank lines allowed. The header is optional; with it, columns are matched by name (order
free, unknown columns ignored), without it the order above applies. Fields:

- `ip` (required): IPv4 or IPv6 address, or a CIDR prefix (host bits clear).
- `port`: empty or 1–65535; `protocol`: empty, `tcp` or `udp` (case-insensitive).
- `first_seen`, `last_seen`: empty or ISO 8601 date/datetime; `last_seen` ≥ `first_seen`.
- `coin`, `note`: free text (quote a note that contains commas).

Semantics: these are mining IPs *seen by the national platform*, very often our own
subscribers' egress addresses (private, CGNAT 100.64/10, public subscriber space), so the
public-space check is off for this parser whatever the source index says. The entry is the
address or prefix alone: the listed IP may be either end of a mining connection, so the port
describes the connection, not a service on that IP, and `ip:port` would match the wrong thing.
Port, protocol, dates, coin and note are validated and stay in the raw line. The category is
always `Category.REGULATOR`: these are addresses to verify, not pool endpoints.

Problems: `bad-ip` (a port or name in the `ip` field), the item grammar's codes (`bad-ipv4`,
`host-bits`, ...), `no-ip`, `too-broad` (shorter than /8 or /16: a data error in any address
space), `bad-port`, `bad-protocol`, `bad-date`, `seen-order`, `extra-fields`, `bad-csv`.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable

from blacklist.entries import Category, Kind
from blacklist.parsers.base import ParseResult, SourceMeta
from blacklist.parsers.common import Collector, numbered
from blacklist.syntax import EntryError

COLUMNS = ("ip", "port", "protocol", "first_seen", "last_seen", "coin", "note")
_MIN_PREFIX = {4: 8, 6: 16}


def parse(lines: Iterable[str], source: SourceMeta) -> ParseResult:
    """Parse the weekly list; a bad record becomes a `Problem` and parsing goes on."""
    col = Collector(source, public_only=False, category=Category.REGULATOR)
    names: tuple[str, ...] = COLUMNS
    first = True
    count = 0
    for count, raw, text in numbered(lines):
        if not text.strip() or text.lstrip().startswith("#"):
            col.skip()
            continue
        try:
            row = [f.strip() for f in next(csv.reader([text]), [])]
        except csv.Error as exc:
            col.problem(count, raw, "bad-csv", f"unreadable record: {exc}")
            continue
        if first and "ip" in (lowered := [f.lower() for f in row]):
            names = tuple(lowered)
            col.skip()
        else:
            _record(col, names, row, raw, count)
        first = False
    return col.result(count)


def _record(col: Collector, names: tuple[str, ...], row: list[str], raw: str, line: int) -> None:
    if len(row) > len(names):
        col.problem(line, raw, "extra-fields", f"{len(row)} fields, header has {len(names)}")
        return
    rec = dict(zip(names, row, strict=False))
    try:
        _check(rec)
        entry = col.item(rec["ip"], raw, line)
    except EntryError as exc:
        col.problem(line, raw, exc.code, exc.reason)
        return
    net = entry.network
    if net is None or entry.kind not in (Kind.IP, Kind.CIDR):
        col.entries.pop()
        col.problem(line, raw, "bad-ip", f"ip must be an address or prefix: {entry.value!r}")
    elif net.prefixlen < _MIN_PREFIX[net.version]:  # a data error, whatever the address space
        col.entries.pop()
        col.problem(line, raw, "too-broad", f"{net} is broader than /{_MIN_PREFIX[net.version]}")


def _check(rec: dict[str, str]) -> None:
    """Validate the non-indicator fields (raises `EntryError`)."""
    if not rec.get("ip"):
        raise EntryError("no-ip", "the ip field is empty")
    port, proto = rec.get("port", ""), rec.get("protocol", "").lower()
    if port and not (
        len(port) <= 5 and port.isascii() and port.isdigit() and 0 < int(port) < 65536
    ):
        raise EntryError("bad-port", f"port must be empty or 1–65535: {port[:20]!r}")
    if proto not in ("", "tcp", "udp"):
        raise EntryError("bad-protocol", f"protocol must be empty, tcp or udp: {proto[:20]!r}")
    first, last = _date(rec.get("first_seen", "")), _date(rec.get("last_seen", ""))
    if first is not None and last is not None and last < first:
        raise EntryError("seen-order", "last_seen is before first_seen")


def _date(text: str) -> dt.datetime | None:
    """An ISO 8601 date/datetime as a comparable UTC datetime, or None when empty."""
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
        return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise EntryError("bad-date", f"not an ISO 8601 date or datetime: {text[:40]!r}") from None
