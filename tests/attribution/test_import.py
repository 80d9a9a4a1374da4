"""Registry and session imports with lookups, on SQLite and the real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from store.attribution import (
    AttributionError,
    Attributor,
    Subscriber,
    import_registry,
    import_sessions,
)
from store.attribution_csv import SECTORS
from store.subscribermodels import SubscriberRow, SubscriberSessionRow
from tests.conftest import SAMPLES

from .conftest import Database

REG_HEADER = "network,account,name,sector,region\n"
SES_HEADER = "ip,start,stop,account\n"


def ts(iso: str) -> float:
    return datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()


def count(db: Database, table: type) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_samples_cover_every_hit_of_the_sample_captures(db: Database) -> None:
    rep = import_registry(db.engine, SAMPLES / "subscribers" / "registry.csv")
    assert rep.skipped == 0 and rep.imported == rep.read > 10
    rep = import_sessions(db.engine, SAMPLES / "subscribers" / "sessions.csv")
    assert rep.skipped == 0 and rep.imported == rep.read
    att = Attributor.load(db.engine)
    hits = [
        json.loads(line)
        for p in sorted((SAMPLES / "golden").glob("*.jsonl"))
        for line in p.read_text().splitlines()
        if line.strip()
    ]
    clients = {(h["client_ip"], h["first_ts"]) for h in hits if "client_ip" in h}
    assert len(clients) > 20
    for ip, first in clients:
        when = datetime.fromisoformat(first.replace("Z", "+00:00")).timestamp()
        sub = att.lookup(ip, when)
        assert sub is not None and sub.sector in SECTORS, (ip, first, sub)
    # the pair_cache client changes hands between its two hits (00:00 and 00:02)
    assert att.lookup("10.20.55.6", ts("2024-05-01T00:00:00")) == Subscriber(
        "H-5501", "张三", "residential", "杭州"
    )
    assert att.lookup("10.20.55.6", ts("2024-05-01T00:02:00")).account == "H-5502"  # type: ignore[union-attr]


def test_ip_reassigned_between_accounts(db: Database, write) -> None:
    import_registry(
        db.engine,
        write("r.csv", REG_HEADER + ",A,Alice,residential,north\n,B,Bob,enterprise,south\n"),
    )
    rep = import_sessions(
        db.engine,
        write(
            "s.csv",
            SES_HEADER + "192.0.2.7,2024-05-01T00:00:00Z,2024-05-01T01:00:00Z,A\n"
            "192.0.2.7,2024-05-01T01:00:00Z,,B\n",
        ),
    )
    assert rep.imported == 2 and rep.skipped == 0
    att = Attributor.load(db.engine)
    assert att.lookup("192.0.2.7", ts("2024-04-30T23:59:59")) is None
    assert att.lookup("192.0.2.7", ts("2024-05-01T00:30:00")) == Subscriber(
        "A", "Alice", "residential", "north"
    )
    # stop is exclusive: at 01:00 the address is B's
    assert att.lookup("192.0.2.7", ts("2024-05-01T01:00:00")).account == "B"  # type: ignore[union-attr]
    assert att.lookup("192.0.2.7", ts("2030-01-01T00:00:00")).sector == "enterprise"  # type: ignore[union-attr]
    assert att.lookup("192.0.2.8", ts("2024-05-01T00:30:00")) is None


def test_session_before_registry_and_unknown_account(db: Database, write) -> None:
    import_registry(db.engine, write("r.csv", REG_HEADER + "198.51.100.0/24,POOL,Pool,other,x\n"))
    import_sessions(db.engine, write("s.csv", SES_HEADER + "198.51.100.9,1714521600,,NEW-1\n"))
    att = Attributor.load(db.engine)
    assert att.lookup("198.51.100.9", 1714521600.0) == Subscriber("NEW-1", "", "", "")
    assert att.lookup("198.51.100.9", 1714521599.9).account == "POOL"  # type: ignore[union-attr]
    assert att.lookup("198.51.100.10", 1714521600.0).account == "POOL"  # type: ignore[union-attr]


def test_longest_prefix_wins(db: Database, write) -> None:
    rows = [
        "10.0.0.0/8,A8,a,other,r",
        "10.1.0.0/16,A16,b,other,r",
        "10.1.2.0/24,A24,c,other,r",
        "10.1.2.3,A32,d,other,r",
        "10.1.2.128/25,A25,e,other,r",
        "2001:db8::/32,V32,f,other,r",
        "2001:db8:1::/48,V48,g,other,r",
        "::/0,V0,h,other,r",
    ]
    import_registry(db.engine, write("r.csv", REG_HEADER + "\n".join(rows) + "\n"))
    att = Attributor.load(db.engine)
    expect = {
        "10.1.2.3": "A32", "10.1.2.4": "A24", "10.1.2.200": "A25", "10.1.3.1": "A16",
        "10.200.0.1": "A8", "10.255.255.255": "A8", "11.0.0.0": None, "9.255.255.255": None,
        "::ffff:10.1.2.3": "A32", "2001:db8:1::5": "V48", "2001:db8:2::5": "V32",
        "2001:db9::": "V0", "0.0.0.0": None,
    }  # fmt: skip
    for ip, account in expect.items():
        sub = att.lookup(ip, 0.0)
        assert (sub.account if sub else None) == account, ip


def test_internal_networks_decide_the_subscriber_side(db: Database) -> None:
    att = Attributor.load(db.engine, internal=["10.0.0.0/8", "2001:db8:20::/48"])
    # initiated from outside to an internal host: the subscriber is the server
    s = att.sides("203.0.113.5", 50000, "10.1.2.3", 3333)
    assert (s.subscriber_ip, s.subscriber_port, s.remote_ip, s.remote_port) == (
        "10.1.2.3", 3333, "203.0.113.5", 50000,
    )  # fmt: skip
    assert att.sides("10.1.2.3", 50000, "203.0.113.5", 3333).subscriber_ip == "10.1.2.3"
    assert att.sides("10.1.2.3", 1, "10.9.9.9", 2).subscriber_ip == "10.1.2.3"  # both: client
    assert att.sides("198.51.100.1", 1, "203.0.113.5", 2).subscriber_ip == "198.51.100.1"
    assert att.sides("2001:db8:99::1", 1, "2001:db8:20::17", 2).subscriber_ip == "2001:db8:20::17"
    plain = Attributor.load(db.engine)
    assert plain.sides("203.0.113.5", 50000, "10.1.2.3", 3333).subscriber_ip == "203.0.113.5"
    with pytest.raises(AttributionError):
        Attributor(db.engine, internal=["10.0.0.1/8"])


def test_chinese_aliases_and_names_round_trip(db: Database, write) -> None:
    aliases = {
        "学校": "school", "国企": "state-owned-enterprise", "国有企业": "state-owned-enterprise",
        "网吧": "internet-cafe", "政府": "government", "政府机关": "government",
        "企业": "enterprise", "住宅": "residential", "家庭宽带": "residential",
        "Internet Café": "internet-cafe", "STATE_OWNED_ENTERPRISE": "state-owned-enterprise",
        " state owned  enterprise ": "state-owned-enterprise", "ＳＣＨＯＯＬ": "school",
    }  # fmt: skip
    lines = [
        f"10.9.{i}.0/24,账号{i},名称「{i}」·测试,{alias},浙江省杭州市"
        for i, alias in enumerate(aliases)
    ]
    path = write("r.csv", "网段,账号,名称,行业,地区\n" + "\n".join(lines) + "\n", bom=True)
    rep = import_registry(db.engine, path)
    assert rep.skipped == 0 and rep.imported == len(aliases)
    att = Attributor.load(db.engine)
    for i, sector in enumerate(aliases.values()):
        assert att.lookup(f"10.9.{i}.77", 0.0) == Subscriber(
            f"账号{i}", f"名称「{i}」·测试", sector, "浙江省杭州市"
        )
    with db.engine.connect() as conn:
        names = conn.execute(select(SubscriberRow.name).order_by(SubscriberRow.lo)).scalars().all()
    assert names[0] == "名称「0」·测试"


def test_problems_are_reported_with_line_numbers(db: Database, write) -> None:
    reg = REG_HEADER + (
        "10.0.0.0/24,A,a,school,r\n"  # 2 ok
        "10.0.0.300,B,b,school,r\n"  # 3 malformed
        "10.0.0.5/24,C,c,school,r\n"  # 4 host bits
        "10.0.1.0/24,D,d,brewery,r\n"  # 5 unknown sector
        "10.0.2.0/24,,d,school,r\n"  # 6 no account
        "10.0.0.0/24,E,e,school,r\n"  # 7 duplicate of line 2
        "\n# comment\n"
        "10.0.3.0/24,F,f,other,r\n"  # 10 ok
    )
    rep = import_registry(db.engine, write("r.csv", reg))
    assert (rep.read, rep.imported, rep.skipped) == (7, 2, 5)
    assert [line for line, _ in rep.problems] == [3, 4, 5, 6, 7]
    assert "unknown sector 'brewery'" in rep.problems[2][1]
    assert "did you mean 10.0.0.0/24" in rep.problems[1][1]
    ses = SES_HEADER + (
        "10.0.0.1,2024-05-01T00:00:00Z,,A\n"  # 2 ok
        "10.0.0.x,2024-05-01T00:00:00Z,,A\n"  # 3 malformed ip
        "10.0.0.1,yesterday,,A\n"  # 4 bad time
        "10.0.0.1,2024-05-01T02:00:00Z,2024-05-01T01:00:00Z,A\n"  # 5 stop < start
        "10.0.0.2,1714521600,1714525200,B\n"  # 6 ok
    )
    rep = import_sessions(db.engine, write("s.csv", ses))
    assert (rep.read, rep.imported, rep.skipped) == (5, 2, 3)
    assert [line for line, _ in rep.problems] == [3, 4, 5]
    assert "before start" in rep.problems[2][1]
    assert count(db, SubscriberSessionRow) == 2


def test_unusable_files_change_nothing(db: Database, write, tmp_path: Path) -> None:
    import_registry(db.engine, write("r.csv", REG_HEADER + "10.0.0.0/24,A,a,school,r\n"))
    with pytest.raises(AttributionError, match="lacks column"):
        import_registry(db.engine, write("bad.csv", "addr,who\n10.0.0.0/24,A\n"), replace=True)
    with pytest.raises(AttributionError, match="empty"):
        import_sessions(db.engine, write("empty.csv", ""))
    with pytest.raises(AttributionError, match="cannot read"):
        import_sessions(db.engine, tmp_path / "missing.csv")
    assert count(db, SubscriberRow) == 1


def _boom_trigger(db: Database) -> None:
    """A real database failure on the row of account BOOM."""
    with db.engine.begin() as conn:
        if db.backend == "sqlite":
            conn.execute(text(
                "CREATE TRIGGER boom BEFORE INSERT ON subscriber_sessions "
                "WHEN NEW.account = 'BOOM' BEGIN SELECT RAISE(ABORT, 'boom'); END"
            ))  # fmt: skip
        else:
            conn.execute(text(
                "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN "
                "IF NEW.account = 'BOOM' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END "
                "$$ LANGUAGE plpgsql"
            ))  # fmt: skip
            conn.execute(text(
                "CREATE TRIGGER boom BEFORE INSERT ON subscriber_sessions "
                "FOR EACH ROW EXECUTE FUNCTION boom()"
            ))  # fmt: skip


def test_session_import_is_one_transaction(db: Database, write) -> None:
    from sqlalchemy.exc import DBAPIError

    import_sessions(db.engine, write("s0.csv", SES_HEADER + "10.0.0.1,1714521600,,KEEP\n"))
    _boom_trigger(db)
    lines = [f"10.1.{i // 250}.{i % 250},1714521600,,U{i}" for i in range(12000)]
    lines.append("10.2.0.1,1714521600,,BOOM")  # after two full batches were written
    with pytest.raises(DBAPIError, match="boom"):
        import_sessions(db.engine, write("s.csv", SES_HEADER + "\n".join(lines) + "\n"))
    assert count(db, SubscriberSessionRow) == 1


def test_reimport_updates_sessions_and_replace_drops_registry(db: Database, write) -> None:
    open_ = write("s1.csv", SES_HEADER + "10.0.0.1,2024-05-01T00:00:00Z,,A\n")
    closed = write("s2.csv", SES_HEADER + "10.0.0.1,2024-05-01T00:00:00Z,2024-05-01T05:00:00Z,A\n")
    import_sessions(db.engine, open_)
    att = Attributor.load(db.engine)
    assert att.lookup("10.0.0.1", ts("2024-05-01T06:00:00")).account == "A"  # type: ignore[union-attr]
    import_sessions(db.engine, closed)
    assert count(db, SubscriberSessionRow) == 1
    att.reload()
    assert att.lookup("10.0.0.1", ts("2024-05-01T06:00:00")) is None
    assert att.lookup("10.0.0.1", ts("2024-05-01T04:00:00")).account == "A"  # type: ignore[union-attr]

    import_registry(db.engine, write("r1.csv", REG_HEADER + "10.5.0.0/16,X,x,school,r\n"))
    import_registry(db.engine, write("r2.csv", REG_HEADER + "10.5.0.0/16,Y,y,government,r\n"))
    att.reload()
    assert att.lookup("10.5.1.1", 0.0) == Subscriber("Y", "y", "government", "r")
    import_registry(
        db.engine, write("r3.csv", REG_HEADER + "10.6.0.0/16,Z,z,school,r\n"), replace=True
    )
    att.reload()
    assert att.lookup("10.5.1.1", 0.0) is None and att.lookup("10.6.0.1", 0.0) is not None
    assert att.counts == (1, 1)


def test_reload_is_cheap_when_nothing_changed(db: Database, write) -> None:
    import_registry(db.engine, write("r.csv", REG_HEADER + "10.0.0.0/24,A,a,school,r\n"))
    att = Attributor.load(db.engine)
    before = att._state
    att.reload()
    assert att._state is before
    import_sessions(db.engine, write("s.csv", SES_HEADER + "10.0.0.1,1714521600,,B\n"))
    att.reload()
    assert att._state is not before and att.lookup("10.0.0.1", 1714521601.0).account == "B"  # type: ignore[union-attr]


def test_freeradius_headers_and_delegated_ipv6_prefixes(db: Database, write) -> None:
    csv_text = (
        "User-Name,Framed-IP-Address,Delegated-IPv6-Prefix,Acct-Start-Time,Acct-Stop-Time\n"
        "alice,100.64.1.2,2001:db8:aa00::/56,2024-05-01 08:00:00,2024-05-01 20:00:00\n"
        "bob,,2001:db8:bb00::/56,2024-05-01 08:00:00,\n"
        "carol,100.64.1.3,,2024-05-01 08:00:00,\n"
    )
    from zoneinfo import ZoneInfo

    rep = import_sessions(db.engine, write("radius.csv", csv_text), tz=ZoneInfo("Asia/Shanghai"))
    assert (rep.read, rep.imported, rep.skipped) == (3, 4, 0)
    att = Attributor.load(db.engine)
    t = ts("2024-05-01T00:30:00")  # 08:30 in Shanghai
    assert att.lookup("100.64.1.2", t).account == "alice"  # type: ignore[union-attr]
    assert att.lookup("2001:db8:aa00:ff::1", t).account == "alice"  # type: ignore[union-attr]
    assert att.lookup("2001:db8:bb00::1234", t).account == "bob"  # type: ignore[union-attr]
    assert att.lookup("2001:db8:bb01::1", t) is None
    assert att.lookup("100.64.1.2", ts("2024-04-30T23:59:59")) is None  # before 08:00 +08
    assert att.lookup("100.64.1.3", t).account == "carol"  # type: ignore[union-attr]


def test_overlapping_sessions_latest_start_wins(db: Database, write) -> None:
    """A session whose Stop was lost ends where the next holder of its address begins: after
    that holder's session nobody known holds the address (not the lost-Stop subscriber, whom
    the address had left). The last session of an address, open, still covers any later time."""
    csv_text = SES_HEADER + (
        "10.0.0.1,2024-05-01T00:00:00Z,,LOST-STOP\n"  # never closed (lost accounting stop)
        "10.0.0.1,2024-05-01T02:00:00Z,2024-05-01T03:00:00Z,LATER\n"
        "10.0.0.2,2024-05-01T00:00:00Z,,ONLINE\n"
    )
    import_sessions(db.engine, write("s.csv", csv_text))
    att = Attributor.load(db.engine)
    assert att.lookup("10.0.0.1", ts("2024-05-01T01:00:00")).account == "LOST-STOP"  # type: ignore[union-attr]
    assert att.lookup("10.0.0.1", ts("2024-05-01T02:30:00")).account == "LATER"  # type: ignore[union-attr]
    assert att.lookup("10.0.0.1", ts("2024-05-01T04:00:00")) is None
    assert att.lookup("10.0.0.2", ts("2024-05-09T04:00:00")).account == "ONLINE"  # type: ignore[union-attr]
