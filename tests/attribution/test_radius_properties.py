"""Hypothesis: the detail and radius-csv parsers never raise on any text except the one error
type (`AttributionError`, for a CSV header that cannot be used) and never hang; good records
survive garbage around them; pairing ignores retransmits and the order of records."""

from __future__ import annotations

import csv
import io
import ipaddress
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.attribution_csv import AttributionError
from store.radius import AcctRecord, RadiusReport, parse_detail, parse_radius_csv
from store.radius_pair import pair

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T0 = datetime(2024, 3, 1, 8, tzinfo=UTC)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
FRAGMENTS = ["\n", "\n\n", "\t", " = ", '"', "\\", "\\101", "\r\n", "Fri Mar  1 16:00:00 2024",
             "Acct-Status-Type", "Start", "Stop", "Interim-Update", "Accounting-On", "User-Name",
             "Framed-IP-Address", "10.0.0.1", "2001:db8::/56", "Event-Timestamp",
             "Mar  1 2024 16:00:00 CST", "Timestamp", "1709280000", "Acct-Session-Time",
             "4294967296", "Acct-Session-Id", "NAS-IP-Address", ",", "\ufeff", "\x00",
             "\udcff"]  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=5)), max_size=60).map("".join),
)
LINE = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
               max_size=40)  # fmt: skip
NAMES = st.text(
    st.characters(whitelist_categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=12
).filter(lambda s: s.strip() == s and s != "")


def _detail(text: str, tz=UTC) -> tuple[list, RadiusReport]:
    rep = RadiusReport("t")
    records = list(parse_detail(io.StringIO(text, newline=""), rep, tz))
    return list(pair(records, rep)), rep


def _csv(text: str) -> tuple[list, RadiusReport]:
    rep = RadiusReport("t")
    try:
        return list(pair(parse_radius_csv(io.StringIO(text, newline=""), rep), rep)), rep
    except AttributionError:
        return [], rep


@SETTINGS
@given(text=TEXT)
def test_any_text_is_records_or_problems(text: str) -> None:
    _detail(text)
    _csv(text)
    _csv("Acct-Status-Type,Event-Timestamp,User-Name,Framed-IP-Address,Acct-Session-Id,"
         "Acct-Session-Time\n" + text)  # fmt: skip


def test_long_lines_do_not_hang() -> None:
    started = time.monotonic()
    for text in ["\t" + "a" * 200_000, "\tA =" + " " * 200_000 + "x", '\tA = "' + "\\" * 200_001,
                 "Mar " * 100_000, "," * 100_000 + "\n"]:  # fmt: skip
        _detail(text)
        _csv("Acct-Status-Type,Event-Timestamp,User-Name,Framed-IP-Address\n" + text)
    assert time.monotonic() - started < 5


@dataclass(frozen=True)
class Gen:
    sid: str
    ip: str
    user: str
    start: int
    duration: int
    kind: str  # full, open, no-start

    def records(self) -> list[tuple[int, str, int | None]]:
        """(time, status, session time)"""
        half, end = self.start + self.duration // 2, self.start + self.duration
        return {
            "full": [(self.start, "Start", None), (half, "Interim-Update", half - self.start),
                     (end, "Stop", self.duration)],
            "open": [(self.start, "Start", None), (end, "Interim-Update", self.duration)],
            "no-start": [(half, "Interim-Update", half - self.start), (end, "Stop", self.duration)],
        }[self.kind]  # fmt: skip

    def expected(self) -> tuple[str, datetime, datetime | None, str]:
        stop = None if self.kind == "open" else at(self.start + self.duration)
        return (self.ip, at(self.start), stop, self.user)


def at(t: int) -> datetime:
    return T0 + timedelta(seconds=t)


def v6_48(n: int) -> str:
    return str(ipaddress.IPv6Network(((0x2001_0DB8 << 96) | (n << 80), 48)))


@st.composite
def gens(draw: st.DrawFn) -> list[Gen]:
    """Sessions over less than an hour (the reorder window): all of them stay pairable."""
    out = []
    for i in range(draw(st.integers(1, 8))):
        ip = draw(st.one_of(st.integers(1, 2**24).map(lambda n: f"10.{n >> 16 & 255}.{n >> 8 & 255}"
                                                      f".{n & 255}"),
                            st.integers(0, 2**16 - 1).map(v6_48)))  # fmt: skip
        kind = draw(st.sampled_from(["full", "open", "no-start"]))
        start, duration = draw(st.integers(0, 1500)), draw(st.integers(1, 1200))
        out.append(Gen(f"s{i}", ip, draw(NAMES), start, duration, kind))
    return out


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _when(t: int, textual: bool) -> str:
    d = at(t)
    if not textual:
        return str(int(d.timestamp()))
    return _quote(f"{MONTHS[d.month - 1]} {d.day:2d} {d.year} {d:%H:%M:%S} UTC")


def detail_blocks(sessions: list[Gen], textual: bool = True) -> list[tuple[int, str]]:
    blocks = []
    for g in sessions:
        for t, status, st_ in g.records():
            attr = "Delegated-IPv6-Prefix" if "/" in g.ip else "Framed-IP-Address"
            lines = [f"Acct-Status-Type = {status}", f"User-Name = {_quote(g.user)}",
                     f"Acct-Session-Id = {_quote(g.sid)}", "NAS-IP-Address = 192.0.2.1",
                     f"{attr} = {g.ip}", f"Event-Timestamp = {_when(t, textual)}"]  # fmt: skip
            if st_ is not None:
                lines.append(f"Acct-Session-Time = {st_}")
            blocks.append((t, "Fri Mar  1 16:00:00 2024\n" + "".join(f"\t{x}\n" for x in lines)))
    return blocks


def csv_rows(sessions: list[Gen]) -> list[tuple[int, str]]:
    rows = []
    for g in sessions:
        for t, status, st_ in g.records():
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerow(
                [status, at(t).isoformat(), g.user, g.ip, g.sid, "" if st_ is None else st_]
            )
            rows.append((t, out.getvalue()))
    return rows


CSV_HEADER = "Acct-Status-Type,Event-Timestamp,User-Name,Framed-IP-Address,Acct-Session-Id,"
CSV_HEADER += "Acct-Session-Time\n"


def _sessions(found: list) -> set[tuple[str, datetime | None, datetime | None, str]]:
    return {(n.text, s.start, s.stop, s.account) for s in found for n in s.nets}


@SETTINGS
@given(sessions=gens(), garbage=st.lists(st.lists(LINE, min_size=1, max_size=4), max_size=8),
       order=st.randoms(use_true_random=False), textual=st.booleans())  # fmt: skip
def test_detail_good_records_survive_garbage(sessions, garbage, order, textual) -> None:
    blocks = [b for _, b in sorted(detail_blocks(sessions, textual), key=lambda b: b[0])]
    expected = {g.expected() for g in sessions}
    assert _sessions(_detail("\n".join(blocks))[0]) == expected
    junk = ["".join(("\t" if order.random() < 0.5 else "") + x + "\n" for x in lines)
            for lines in garbage]  # fmt: skip
    mixed = list(blocks)
    for j in junk:
        mixed.insert(order.randint(0, len(mixed)), j)
    found, rep = _detail("\n".join(mixed))
    assert _sessions(found) == expected
    assert rep.skipped >= sum(1 for j in junk if j.strip())


@SETTINGS
@given(sessions=gens(), garbage=st.lists(LINE, max_size=10),
       order=st.randoms(use_true_random=False))  # fmt: skip
def test_csv_good_records_survive_garbage(sessions, garbage, order) -> None:
    rows = [r for _, r in sorted(csv_rows(sessions), key=lambda r: r[0])]
    expected = {g.expected() for g in sessions}
    assert _sessions(_csv(CSV_HEADER + "".join(rows))[0]) == expected
    for g in garbage:
        rows.insert(order.randint(0, len(rows)), g + "\n")
    found, rep = _csv(CSV_HEADER + "".join(rows))
    assert _sessions(found) == expected
    assert rep.skipped >= sum(1 for g in garbage if g[:1].isascii() and g[:1].isalpha())


def _records(sessions: list[Gen]) -> list[AcctRecord]:
    text = "\n".join(b for _, b in sorted(detail_blocks(sessions), key=lambda b: b[0]))
    rep = RadiusReport("t")
    records = list(parse_detail(io.StringIO(text), rep))
    assert rep.skipped == 0
    return records


@SETTINGS
@given(sessions=gens(), picks=st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99)),
                                       max_size=12))  # fmt: skip
def test_pairing_ignores_retransmits(sessions, picks) -> None:
    records = _records(sessions)
    with_dups = list(records)
    for which, where in picks:
        i = which % len(records)
        pos = with_dups.index(records[i]) + 1  # a retransmit comes after the original
        with_dups.insert(pos + where % (len(with_dups) - pos + 1), records[i])
    rep = RadiusReport("t")
    assert _sessions(list(pair(with_dups, rep))) == {g.expected() for g in sessions}
    assert rep.duplicates >= len(picks) and rep.skipped == 0


@SETTINGS
@given(sessions=gens(), order=st.randoms(use_true_random=False))
def test_pairing_ignores_order(sessions, order) -> None:
    records = _records(sessions)
    order.shuffle(records)
    assert _sessions(list(pair(records, RadiusReport("t")))) == {g.expected() for g in sessions}
