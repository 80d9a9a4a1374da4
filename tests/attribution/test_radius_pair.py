"""Pairing accounting records into sessions: the documented rules, one case each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from store.attribution_net import parse_net
from store.radius import AcctRecord, RadiusReport, Status
from store.radius_pair import PairedSession, Pairing, pair

T0 = datetime(2024, 3, 1, 8, tzinfo=UTC)


def rec(
    status: Status, t: int | None, sid: str = "s1", *, ip: str = "10.0.0.5", user: str = "alice",
    nas: str = "192.0.2.1", st: int | None = None, line: int = 1,
) -> AcctRecord:  # fmt: skip
    nets = tuple(parse_net(a) for a in ip.split()) if ip else ()
    when = None if t is None else T0 + timedelta(seconds=t)
    return AcctRecord(line, status, when, nas, sid, nets, user, st)


def at(t: int) -> datetime:
    return T0 + timedelta(seconds=t)


def sessions(*records: AcctRecord) -> tuple[set[tuple[str, datetime | None, datetime | None,
                                                      str, str]], RadiusReport]:  # fmt: skip
    rep = RadiusReport("t")
    out = {(n.text, s.start, s.stop, s.account, s.start_from) for s in pair(records, rep)
           for n in s.nets}  # fmt: skip
    return out, rep


def test_start_interim_stop() -> None:
    got, rep = sessions(rec("start", 0), rec("interim", 600, st=600), rec("stop", 1200, st=1200))
    assert got == {("10.0.0.5", at(0), at(1200), "alice", "exact")}
    assert rep.duplicates == 0 and rep.skipped == 0


def test_retransmits_change_nothing() -> None:
    records = [rec("start", 0), rec("interim", 600, st=600), rec("stop", 1200, st=1200)]
    got, rep = sessions(*[r for r in records for _ in range(2)], records[0], records[1])
    assert got == {("10.0.0.5", at(0), at(1200), "alice", "exact")}
    assert rep.duplicates == 5


def test_lost_start() -> None:
    got, _ = sessions(rec("interim", 600, st=590), rec("stop", 1200, st=1190))
    assert got == {("10.0.0.5", at(10), at(1200), "alice", "derived")}
    got, _ = sessions(rec("interim", 600), rec("interim", 1200))  # no session time
    assert got == {("10.0.0.5", at(600), None, "alice", "seen")}
    got, rep = sessions(rec("stop", 1200, st=200))
    assert got == {("10.0.0.5", at(1000), at(1200), "alice", "derived")}
    got, rep = sessions(rec("stop", 1200))  # the importer looks for a stored open session
    assert got == {("10.0.0.5", None, at(1200), "alice", "unknown")} and rep.skipped == 0
    got, rep = sessions(rec("stop", None, st=100, line=7))  # no time at all: nothing to go on
    assert got == set() and rep.problems == [(7, rep.problems[0][1])]
    assert "without Event-Timestamp" in rep.problems[0][1]


def test_stop_time_from_session_time() -> None:
    got, _ = sessions(rec("start", 0), rec("stop", None, st=300))
    assert got == {("10.0.0.5", at(0), at(300), "alice", "exact")}


def test_out_of_order() -> None:
    expected = {("10.0.0.5", at(0), at(1200), "alice", "exact")}
    assert sessions(rec("stop", 1200, st=1200), rec("start", 0))[0] == expected
    assert sessions(rec("interim", 600, st=600), rec("start", 0), rec("stop", 1200))[0] == expected
    assert sessions(rec("stop", 1200), rec("interim", 600), rec("start", 0))[0] == expected
    assert sessions(rec("start", 0), rec("stop", 1200), rec("interim", 600, st=600))[0] == expected


def test_accounting_on_closes_the_nas_sessions() -> None:
    got, _ = sessions(
        rec("start", 0, "a", ip="10.0.0.1", user="u1"),
        rec("start", 10, "b", ip="10.0.0.2", user="u2", nas="192.0.2.9"),  # another NAS
        rec("start", 20, "c", ip="10.0.0.3", user="u3"),
        rec("interim", 700, "c", ip="10.0.0.3", user="u3", st=680),  # heard of after the restart
        rec("nas-on", 500, "", ip="", user=""),
        rec("start", 30, "d", ip="10.0.0.4", user="u4"),  # a late Start, before the restart
        rec("start", 600, "e", ip="10.0.0.5", user="u5"),  # after it
        rec("nas-on", 500, "", ip="", user=""),  # its retransmit
    )
    assert got == {
        ("10.0.0.1", at(0), at(500), "u1", "exact"),
        ("10.0.0.2", at(10), None, "u2", "exact"),
        ("10.0.0.3", at(20), None, "u3", "exact"),
        ("10.0.0.4", at(30), at(500), "u4", "exact"),
        ("10.0.0.5", at(600), None, "u5", "exact"),
    }
    # a Stop after the restart record, for a session that ended before it, is more precise
    got, _ = sessions(rec("start", 0), rec("nas-off", 500, "", ip="", user=""), rec("stop", 450))
    assert got == {("10.0.0.5", at(0), at(450), "alice", "exact")}


def test_session_id_reused() -> None:
    got, _ = sessions(rec("start", 0, user="u1"), rec("start", 5000, ip="10.0.0.6", user="u2"))
    assert got == {("10.0.0.5", at(0), at(5000), "u1", "exact"),
                   ("10.0.0.6", at(5000), None, "u2", "exact")}  # fmt: skip
    # after a NAS restart, a reused id's Interim (session time from after the restart)
    got, _ = sessions(rec("start", 0), rec("nas-on", 100, "", ip="", user=""),
                      rec("interim", 400, st=200))  # fmt: skip
    assert got == {("10.0.0.5", at(0), at(100), "alice", "exact"),
                   ("10.0.0.5", at(200), None, "alice", "derived")}  # fmt: skip


def test_fallback_key_and_addresses_added_later() -> None:
    got, _ = sessions(rec("start", 0, ""), rec("start", 5, "", ip="10.0.0.9", user="bob"),
                      rec("stop", 100, "", st=100))  # fmt: skip
    assert got == {("10.0.0.5", at(0), at(100), "alice", "exact"),
                   ("10.0.0.9", at(5), None, "bob", "exact")}  # fmt: skip
    got, _ = sessions(rec("start", 0), rec("interim", 60, ip="10.0.0.5 2001:db8:aa00::/56"))
    assert {s[0] for s in got} == {"10.0.0.5", "2001:db8:aa00::/56"}


def test_missing_address_or_account_is_a_problem() -> None:
    got, rep = sessions(rec("start", 0, ip="", line=3), rec("start", 0, "s2", user="", line=9))
    assert got == set()
    assert [p[0] for p in sorted(rep.problems)] == [3, 9]


def test_closed_sessions_leave_memory_after_the_window() -> None:
    state = Pairing(RadiusReport("t"), window=timedelta(minutes=10))
    out: list[PairedSession] = []
    for i in range(100):
        out += state.feed(rec("start", i * 60, f"s{i}"))
        out += state.feed(rec("stop", i * 60 + 30, f"s{i}"))
    assert state.open_sessions <= 12 and len(out) >= 88
    out += state.finish()
    assert len(out) == 100 and {s.stop for s in out} == {at(i * 60 + 30) for i in range(100)}


def test_a_record_far_in_the_future_is_skipped_and_keeps_the_reordering() -> None:
    """A NAS clock years ahead: that record is a problem, and a late Start after it still
    fixes its session's start (had the record moved the records' time, the session would
    have been released before its Start came)."""
    now = T0 + timedelta(days=2)
    state = Pairing(RadiusReport("t"), window=timedelta(minutes=10), now=now)
    far = rec("interim", 10 * 365 * 86400, "zz", ip="10.0.0.9", line=5)
    out = state.feed(rec("stop", 600, st=600))  # its Start comes later
    out += state.feed(far)
    out += state.feed(rec("start", 0))
    out += state.finish()
    assert [(s.start, s.stop, s.start_from) for s in out] == [(at(0), at(600), "exact")]
    assert state.report.problems == [(5, state.report.problems[0][1])]
    assert "in the future" in state.report.problems[0][1]
    # a day ahead of the wall clock is still accepted (clocks differ)
    near = Pairing(RadiusReport("t"), now=at(0))
    assert near.feed(rec("start", 23 * 3600)) == [] and near.open_sessions == 1
