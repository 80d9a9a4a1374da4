"""Importing accounting records into the sessions table (SQLite and the real PostgreSQL):
sessions across files, imports repeated, the command's options and exit codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from minewatch.cli_subscribers import subscribers
from store.attribution import Attributor
from store.attribution_csv import AttributionError
from store.radius_import import import_radius

from .conftest import Database
from .test_radius_server import stored

T0 = datetime(2024, 3, 1, 8, tzinfo=UTC)
HEADER = "Acct-Status-Type,Event-Timestamp,User-Name,Framed-IP-Address,Acct-Session-Id,"
HEADER += "NAS-IP-Address,Acct-Session-Time\n"


def at(t: int) -> datetime:
    return T0 + timedelta(seconds=t)


def row(status: str, t: int, user: str, ip: str, sid: str = "", st: str = "") -> str:
    return f"{status},{at(t).isoformat()},{user},{ip},{sid},192.0.2.1,{st}\n"


def run(db: Database, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(subscribers, [*args, "--db", db.url])
    return res.exit_code, res.output


def test_sessions_across_files(db: Database, write) -> None:
    day1 = write("day1.csv", HEADER + row("Start", 0, "alice", "10.0.0.5", "a")
                 + row("Start", 10, "bob", "10.0.0.6", "b")
                 + row("Start", 20, "carol", "10.0.0.7", "c"))  # fmt: skip
    day2 = write("day2.csv", HEADER + row("Stop", 900, "alice", "10.0.0.5", "a")  # no time
                 + row("Stop", 1000, "bob", "10.0.0.6", "b", "985")  # 5 s off
                 + row("Interim-Update", 1100, "carol", "10.0.0.7", "c"))  # fmt: skip
    rep = import_radius(db.engine, day1, fmt="radius-csv")
    assert (rep.imported, rep.open, rep.skipped) == (3, 3, 0)
    rep = import_radius(db.engine, day2, fmt="radius-csv")
    assert (rep.imported, rep.open, rep.continued, rep.skipped) == (3, 1, 3, 0), rep.problems
    expected = {("10.0.0.5", at(0), at(900), "alice"), ("10.0.0.6", at(10), at(1000), "bob"),
                ("10.0.0.7", at(20), None, "carol")}  # fmt: skip
    assert stored(db) == expected
    for path in (day2, day1, day2):  # again, and in the wrong order: nothing moves
        rep = import_radius(db.engine, path, fmt="radius-csv")
        assert rep.skipped == 0
        assert stored(db) == expected
    attributor = Attributor.load(db.engine)
    sub = attributor.lookup("10.0.0.6", at(999).timestamp())
    assert sub is not None and sub.account == "bob"
    assert attributor.lookup("10.0.0.6", at(1000).timestamp()) is None


def test_lone_stop_without_stored_session_is_a_problem(db: Database, write) -> None:
    path = write("s.csv", HEADER + row("Stop", 900, "alice", "10.0.0.5", "a")
                 + row("Start", 0, "bob", "10.0.0.6", "b"))  # fmt: skip
    rep = import_radius(db.engine, path, fmt="radius-csv")
    assert rep.problems == [(2, rep.problems[0][1])] and "start unknown" in rep.problems[0][1]
    assert stored(db) == {("10.0.0.6", at(0), None, "bob")}


def test_unusable_file_writes_nothing(db: Database, write) -> None:
    with pytest.raises(AttributionError, match="Event-Timestamp"):
        import_radius(db.engine, write("h.csv", "Acct-Status-Type,Framed-IP-Address,User-Name\n"),
                      fmt="radius-csv")  # fmt: skip
    with pytest.raises(AttributionError, match="unknown format"):
        import_radius(db.engine, write("x.csv", ""), fmt="netflow")
    assert stored(db) == set()


def test_command(db: Database, write) -> None:
    good = write("d", "Fri Mar  1 16:00:00 2024\n\tAcct-Status-Type = Start\n"
                 '\tUser-Name = "alice"\n\tFramed-IP-Address = 10.0.0.5\n'
                 '\tAcct-Session-Id = "1"\n\tTimestamp = 1709280000\n\n')  # fmt: skip
    code, out = run(db, "import-sessions", "--format", "radius-detail", str(good))
    assert code == 0 and "1 records read, 1 sessions imported (1 still open" in out, out
    code, out = run(db, "lookup", "10.0.0.5", "--at", "2024-03-01T08:00:01Z")
    assert code == 0 and "alice" in out
    bad = write("bad", good.read_text() + "oops\n\tAcct-Status-Type = Stop\n")
    code, out = run(db, "import-sessions", "--format", "radius-detail", str(bad))
    assert code == 1 and "line 8: no Event-Timestamp or Timestamp" in out
    code, out = run(db, "import-sessions", "--format", "radius-csv", str(write("h.csv", "a,b\n")))
    assert code == 2 and "lacks column" in out
    code, out = run(db, "import-sessions", "--format", "radius-detail", str(good.with_name("no")))
    assert code == 2 and "cannot read" in out
    code, out = run(db, "import-sessions", "--format", "pcap", str(good))
    assert code == 2 and "Invalid value for '--format'" in out
    code, out = run(db, "import-sessions", str(write("s.csv", "ip,start,account\n"
                                                     "10.0.0.9,1709280000,bob\n")))  # fmt: skip
    assert code == 0 and "1 rows read, 1 imported" in out  # --format csv, as before
