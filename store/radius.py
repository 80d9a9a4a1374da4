"""RADIUS accounting records (RFC 2866) from a FreeRADIUS `detail` file or a CSV of the same
attributes: text in, `AcctRecord`s out, streamed one block or line at a time.

Pure, like `store.attribution_csv`: every bad line or record is a counted problem with its line
number (STYLE 10); only a CSV that cannot be used at all (no header, required columns missing)
raises `AttributionError`. Pairing the records into sessions is `store.radius_pair`.

A `detail` block as FreeRADIUS 3 writes it (`header = "%t"`, strings quoted with `\\"`, `\\\\`
and `\\ooo` escapes, dates in the server's zone, `Timestamp` = when the server logged it):

    Fri Mar  1 16:00:00 2024
    \tAcct-Status-Type = Start
    \tUser-Name = "alice"
    \tFramed-IP-Address = 10.0.0.5
    \tEvent-Timestamp = "Mar  1 2024 16:00:00 CST"
    \tTimestamp = 1709280000
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from store.attribution_csv import (
    SESSION_COLUMNS,
    AttributionError,
    ImportReport,
    checked_text,
    first_cell,
    parse_time,
    read_header,
)
from store.attribution_net import Net, parse_net
from store.subscribermodels import ACCOUNT_MAX

Status = Literal["start", "interim", "stop", "nas-on", "nas-off"]
_STATUS: dict[str, Status] = {
    "start": "start", "1": "start", "stop": "stop", "2": "stop",
    "interim-update": "interim", "alive": "interim", "3": "interim",
    "accounting-on": "nas-on", "7": "nas-on", "accounting-off": "nas-off", "8": "nas-off",
}  # fmt: skip
_OTHER_STATUS = {"failed", "tunnel-start", "tunnel-stop", "tunnel-reject", "tunnel-link-start",
                 "tunnel-link-stop", "tunnel-link-reject"}  # fmt: skip
# field → attribute names (folded: lower case, '_' as '-'); the first filled one counts
_FIELDS: dict[str, tuple[str, ...]] = {
    "status": ("acct-status-type",),
    "event": ("event-timestamp",),
    "timestamp": ("timestamp",),
    "delay": ("acct-delay-time",),
    "session-id": ("acct-session-id",),
    "nas": ("nas-ip-address", "nas-ipv6-address", "nas-identifier"),
    "session-time": ("acct-session-time",),
    "account": ("user-name",),
}
_ADDRESSES = ("framed-ip-address", "framed-ipv6-address", "framed-ipv6-prefix",
              "delegated-ipv6-prefix")  # fmt: skip
_NO_ADDRESS = {"0.0.0.0", "255.255.255.254", "255.255.255.255"}  # "not assigned" (RFC 2865 5.8)
TEXT_MAX = 253  # a RADIUS attribute's longest value
MAX_ATTRIBUTES = 1000  # per detail block; more is not a record


@dataclass
class RadiusReport(ImportReport):
    """An import report with the counters of record pairing."""

    duplicates: int = 0  # retransmits and stale records, ignored
    ignored: int = 0  # other status types (Failed, tunnel records, …)
    open: int = 0  # sessions imported without a stop (still online at the end of the file)
    by_restart: int = 0  # sessions closed by an Accounting-On/Off of their NAS
    continued: int = 0  # sessions whose Start was in an earlier import

    def line(self) -> str:
        return (
            f"{self.source}: {self.read} records read, {self.imported} sessions imported "
            f"({self.open} still open, {self.by_restart} closed by a NAS restart, "
            f"{self.continued} continuing stored sessions), {self.duplicates} duplicate or "
            f"stale records, {self.ignored} other records, {self.skipped} skipped"
        )


@dataclass(frozen=True, slots=True)
class AcctRecord:
    line: int
    status: Status
    time: datetime | None  # Event-Timestamp, else Timestamp − Acct-Delay-Time; None: Stop only
    nas: str
    session_id: str
    nets: tuple[Net, ...]
    account: str
    session_time: int | None  # Acct-Session-Time, seconds


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_DATE = re.compile(  # "Mar  1 2024 16:00:00 CST", the form FreeRADIUS prints dates in
    r"([A-Za-z]{3})\s+(\d{1,2})\s+(\d{4})\s+(\d{1,2}):(\d{2}):(\d{2})(?:\s+([A-Za-z]{1,10}|"
    r"[+-]\d{2}(?::?\d{2})?))?"
)
_HEADER = re.compile(
    r"[A-Za-z]{3}\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+(\d{4})"
)
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})?")


def parse_event_time(value: str, tz: tzinfo = UTC, local: timedelta | None = None) -> datetime:
    """A date as FreeRADIUS prints it (`Mar  1 2024 16:00:00 CST`), ISO 8601 or unix seconds,
    as aware UTC. A zone abbreviation is UTC/GMT, `tz`'s name at that time, or else the
    server's offset `local` when known (a detail block's header minus its Timestamp)."""
    m = _DATE.fullmatch(value.strip())
    if m is None:
        return parse_time(value, tz)
    try:
        naive = datetime(int(m[3]), _MONTHS.get(m[1].lower(), 0), int(m[2]), int(m[4]),
                         int(m[5]), int(m[6]))  # fmt: skip
        zone = m[7]
        if zone is None:
            return naive.replace(tzinfo=tz).astimezone(UTC)
        if zone.upper() in ("UTC", "GMT", "UT", "Z"):
            return naive.replace(tzinfo=UTC)
        if o := _OFFSET.fullmatch(zone):
            off = timedelta(hours=int(o[2]), minutes=int(o[3] or 0))
            return (naive - off if o[1] == "+" else naive + off).replace(tzinfo=UTC)
        for fold in (0, 1):
            aware = naive.replace(tzinfo=tz, fold=fold)
            if aware.tzname() == zone:
                return aware.astimezone(UTC)
        if local is not None:
            return (naive - local).replace(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"bad time {value[:40]!r}") from exc
    raise ValueError(
        f"time zone {zone!r} of {value.strip()[:40]!r} is neither UTC nor that of --timezone "
        f"{tz} (pass the server's zone, e.g. --timezone Asia/Shanghai)"
    )


def _int(value: str, what: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 10 or int(value) >= 2**32:
        raise ValueError(f"bad {what} {value[:40]!r} (want seconds, 0 to 2^32-1)")
    return int(value)


def _record(
    line: int, get: Callable[[str], str], addresses: Iterable[str], tz: tzinfo,
    local: timedelta | None = None,
) -> AcctRecord | None:  # fmt: skip
    """One record from its fields (`get(field)`, '' when absent); ValueError when unusable,
    None for a status type that says nothing about sessions."""
    raw = get("status")
    if not raw:
        raise ValueError("no Acct-Status-Type")
    status = _STATUS.get(raw.lower())
    if status is None:
        if raw.lower() in _OTHER_STATUS or (raw.isascii() and raw.isdigit()):
            return None
        raise ValueError(f"unknown Acct-Status-Type {raw[:40]!r}")
    session_time = _int(t, "Acct-Session-Time") if (t := get("session-time")) else None
    time: datetime | None = None
    if event := get("event"):
        time = parse_event_time(event, tz, local)
    elif stamp := get("timestamp"):
        delay = _int(d, "Acct-Delay-Time") if (d := get("delay")) else 0
        try:
            time = parse_time(stamp, tz) - timedelta(seconds=delay)
        except OverflowError as exc:
            raise ValueError(f"time out of range: {stamp[:40]!r}") from exc
    elif status != "stop" or session_time is None:
        raise ValueError("no Event-Timestamp or Timestamp")
    nas = checked_text(get("nas"), "NAS-IP-Address", TEXT_MAX)
    if status in ("nas-on", "nas-off"):
        if not nas:
            raise ValueError(f"{raw} without NAS-IP-Address or NAS-Identifier")
        return AcctRecord(line, status, time, nas, "", (), "", None)
    session_id = checked_text(get("session-id"), "Acct-Session-Id", TEXT_MAX)
    account = checked_text(get("account"), "User-Name", ACCOUNT_MAX)
    nets: list[Net] = []
    for a in (a.strip() for a in addresses):
        if a and a not in _NO_ADDRESS and (net := parse_net(a)) not in nets:
            nets.append(net)
    if not session_id and not (nets and account):
        raise ValueError("no Acct-Session-Id, and no address and User-Name to pair on")
    return AcctRecord(line, status, time, nas, session_id, tuple(nets), account, session_time)


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9}


def unquote(value: str) -> str:
    """A detail value: a quoted string with its escapes undone (bytes that are not UTF-8 come
    back as surrogates, which `checked_text` reports), or the bare text."""
    if not value.startswith('"'):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    out = bytearray()
    i, n = 1, len(raw)
    while i < n:
        c = raw[i]
        if c == 0x22:  # the closing quote
            if raw[i + 1 :].strip():
                raise ValueError("text after the closing quote")
            return out.decode("utf-8", "surrogateescape")
        if c == 0x5C and i + 1 < n:
            octal = raw[i + 1 : i + 4]
            if len(octal) == 3 and all(0x30 <= b <= 0x37 for b in octal) and octal[0] <= 0x33:
                out.append(int(octal, 8))
                i += 4
                continue
            out.append(_ESCAPES.get(raw[i + 1], raw[i + 1]))
            i += 2
            continue
        out.append(c)
        i += 1
    raise ValueError("unterminated quoted string")


_ATTR = re.compile(r"[ \t]+([A-Za-z0-9][\w.:-]{0,99})[ \t]*(?:=|:=|\+=|==)[ \t]*(.*)")


def _local_offset(header: str, stamp: str) -> timedelta | None:
    """The server's UTC offset: its header (ctime, local) minus its Timestamp (unix)."""
    m = _HEADER.fullmatch(header.strip())
    if m is None or not stamp.isascii() or not stamp.isdigit() or len(stamp) > 11:
        return None
    try:
        local = datetime(int(m[6]), _MONTHS.get(m[1].lower(), 0), int(m[2]), int(m[3]),
                         int(m[4]), int(m[5]))  # fmt: skip
        offset = local - datetime.fromtimestamp(int(stamp), UTC).replace(tzinfo=None)
    except (ValueError, OverflowError, OSError):
        return None
    minutes = round(offset.total_seconds() / 60)
    return timedelta(minutes=minutes) if abs(minutes) <= 18 * 60 else None


@dataclass(slots=True)
class _Block:
    line: int = 0  # of its header (or first attribute line); 0: no block yet
    header: str = ""
    values: int = 0
    attrs: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return next((v[0].strip() for n in _FIELDS[name] if (v := self.attrs.get(n))), "")


def _detail_record(block: _Block, report: RadiusReport, tz: tzinfo) -> AcctRecord | None:
    report.read += 1
    if not block.attrs:
        report.problem(block.line, "a line outside any record (no attribute lines follow it)")
        return None
    try:
        local = _local_offset(block.header, block.get("timestamp")) if block.header else None
        addresses = [a for n in _ADDRESSES for a in block.attrs.get(n, ())]
        rec = _record(block.line, block.get, addresses, tz, local)
    except ValueError as exc:
        report.problem(block.line, str(exc))
        return None
    if rec is None:
        report.ignored += 1
    return rec


def parse_detail(fh: Iterable[str], report: RadiusReport, tz: tzinfo = UTC) -> Iterator[AcctRecord]:
    """Records of a FreeRADIUS detail file: blocks separated by blank lines, a header line,
    then tab-indented `Attribute = value` lines. A bad line is skipped; a bad block too."""
    block = _Block()
    for number, raw in enumerate(fh, 1):
        text = raw.rstrip("\r\n")
        if not text.strip():
            if block.line and (rec := _detail_record(block, report, tz)):
                yield rec
            block = _Block()
        elif text[0] in " \t":
            m = _ATTR.fullmatch(text)
            if m is None:
                report.problem(number, f"not an 'Attribute = value' line: {text.strip()[:60]!r}")
                continue
            try:
                value = unquote(m[2].rstrip(" \t"))
            except ValueError as exc:
                report.problem(number, f"{m[1]}: {exc}")
                continue
            block.line = block.line or number
            block.values += 1
            if block.values <= MAX_ATTRIBUTES:
                block.attrs.setdefault(m[1].lower().replace("_", "-"), []).append(value)
        elif not block.line or _HEADER.fullmatch(text.strip()):
            # a header: the next record starts (even without a blank line before it)
            if block.line and (rec := _detail_record(block, report, tz)):
                yield rec
            block = _Block(number, text)
        else:
            report.problem(number, f"not an indented attribute line: {text.strip()[:60]!r}")
    if block.line and (rec := _detail_record(block, report, tz)):
        yield rec


_CSV_FIELDS = {
    **{f: (*names, *_FIELDS[f]) for f, names in {
        "status": ("status-type", "status"), "event": ("event-time", "time"),
        "timestamp": (), "delay": (), "session-id": ("session-id",), "nas": ("nas",),
        "session-time": ("session-time",), "account": SESSION_COLUMNS["account"],
    }.items()},
    "ip": SESSION_COLUMNS["ip"],
}  # fmt: skip


def _csv_rows(fh: Iterable[str], report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    """Rows, one per physical line (a stray quote spoils its own line only); blank lines and
    '#' comments skipped."""
    for number, raw in enumerate(fh, 1):
        raw = raw.removeprefix("\ufeff") if number == 1 else raw  # a BOM the decoder kept
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            row = next(csv.reader([raw], strict=True))
        except csv.Error as exc:
            report.problem(number, f"CSV error: {exc}")
            continue
        if any(c.strip() for c in row):
            yield number, row


def parse_radius_csv(
    fh: Iterable[str], report: RadiusReport, tz: tzinfo = UTC
) -> Iterator[AcctRecord]:
    """Records of a CSV with one accounting record per line, attribute names as the header."""
    rows = _csv_rows(fh, report)
    cols = read_header(rows, _CSV_FIELDS, {"status", "ip"})
    if not cols["event"] and not cols["timestamp"]:
        raise AttributionError("header lacks column Event-Timestamp (or Timestamp)")
    if not cols["account"] and not cols["session-id"]:
        raise AttributionError("header lacks columns User-Name and Acct-Session-Id")
    for line, row in rows:
        report.read += 1

        def get(f: str, row: list[str] = row) -> str:
            return first_cell(row, cols[f])

        try:
            rec = _record(line, get, [row[i] for i in cols["ip"] if i < len(row)], tz)
        except ValueError as exc:
            report.problem(line, str(exc))
            continue
        if rec is None:
            report.ignored += 1
        else:
            yield rec
