"""The detail and radius-csv parsers on real FreeRADIUS output and on hand-made edge cases."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from minewatch.cli_subscribers import SESSION_FORMATS
from store.attribution_csv import AttributionError
from store.radius import (
    AcctRecord,
    RadiusReport,
    parse_detail,
    parse_event_time,
    parse_radius_csv,
    unquote,
)
from store.radius_import import FORMATS
from store.radius_pair import pair

from .test_radius_server import FIXTURE, T0

SHANGHAI = ZoneInfo("Asia/Shanghai")


def detail(text: str, tz=UTC) -> tuple[list[AcctRecord], RadiusReport]:
    rep = RadiusReport("t")
    return list(parse_detail(io.StringIO(text, newline=""), rep, tz)), rep


def radius_csv(text: str, tz=UTC) -> tuple[list[AcctRecord], RadiusReport]:
    rep = RadiusReport("t")
    return list(parse_radius_csv(io.StringIO(text, newline=""), rep, tz)), rep


def test_format_table_matches_the_cli() -> None:
    assert ("csv", *FORMATS) == SESSION_FORMATS


def test_real_freeradius_detail_file() -> None:
    """Written by FreeRADIUS 3.2 in Asia/Shanghai (test_radius_server, UPDATE_GOLDEN=1)."""
    rep = RadiusReport("t")
    with FIXTURE.open(newline="") as fh:
        records = list(parse_detail(fh, rep))  # zone from each block's header - Timestamp
    assert rep.read == 14 and rep.ignored == 1 and rep.skipped == 0, rep.problems
    first = records[0]
    assert first == AcctRecord(1, "start", datetime.fromtimestamp(T0, UTC), "192.0.2.1", "A-1",
                               first.nets, "alice", None)  # fmt: skip
    assert [n.text for n in first.nets] == ["100.64.0.10", "2001:db8:a00::/56"]
    with FIXTURE.open(newline="") as fh:
        same = list(parse_detail(fh, RadiusReport("t"), SHANGHAI))  # or from --timezone
    assert same == records
    with FIXTURE.open(newline="") as fh:
        sessions = list(pair(parse_detail(fh, rep), rep))
    assert len(sessions) == 7 and rep.duplicates == 2  # with frank's: start unknown


BLOCK = """\
Fri Mar  1 16:00:00 2024
\tAcct-Status-Type = Start
\tUser-Name = "al\\"ice\\\\\\101é"
\tFramed-IP-Address = 10.0.0.5
\tAcct-Session-Id = "s1"
\tNAS-IP-Address = 192.0.2.1
\tEvent-Timestamp = "Mar  1 2024 16:00:00 CST"
\tClass = 0x0102
\tTimestamp = 1709280000

"""


def test_quoting_and_zones() -> None:
    (r,), rep = detail(BLOCK)
    assert r.account == 'al"ice\\Aé' and r.time == datetime(2024, 3, 1, 8, tzinfo=UTC)
    assert unquote('"a\\tb\\n"') == "a\tb\n" and unquote("bare") == "bare"
    with pytest.raises(ValueError, match="unterminated"):
        unquote('"open')
    # without header and Timestamp, CST needs --timezone
    no_header = BLOCK.replace("\tTimestamp = 1709280000\n", "").split("\n", 1)[1]
    assert detail(no_header, SHANGHAI)[0][0].time == r.time
    recs, rep = detail(no_header)
    assert recs == [] and "pass the server's zone" in rep.problems[0][1]
    assert parse_event_time("Mar  1 2024 16:00:00 +08") == r.time
    assert parse_event_time("Mar  1 2024 08:00:00 UTC") == r.time
    assert parse_event_time("Jul  1 2024 10:00:00 CEST", ZoneInfo("Europe/Berlin")) == datetime(
        2024, 7, 1, 8, tzinfo=UTC
    )
    assert parse_event_time("1709280000") == parse_event_time("2024-03-01T08:00:00Z") == r.time
    with pytest.raises(ValueError, match="bad time"):
        parse_event_time("Feb 30 2024 10:00:00 UTC")


def test_timestamp_minus_delay_when_no_event_timestamp() -> None:
    text = BLOCK.replace('\tEvent-Timestamp = "Mar  1 2024 16:00:00 CST"\n',
                         "\tAcct-Delay-Time = 30\n")  # fmt: skip
    (r,), _ = detail(text)
    assert r.time == datetime(2024, 3, 1, 8, tzinfo=UTC) - timedelta(seconds=30)


def test_bad_lines_and_blocks_are_counted_good_data_kept() -> None:
    text = (
        "garbage at the top\n\n"
        + BLOCK.replace("\tClass = 0x0102\n", '\tthis is not an attribute\n\tClass = "x\n')
        + 'Fri Mar  1 16:00:00 2024\n\tAcct-Status-Type = Start\n\tUser-Name = "bob"\n\n'
        + "Fri Mar  1 16:00:00 2024\n\tAcct-Status-Type = Failed\n\tTimestamp = 1\n\n"
        + "Fri Mar  1 16:00:00 2024\n\tAcct-Status-Type = Accounting-On\n\tTimestamp = 1\n\n"
        + BLOCK.replace("10.0.0.5", "10.0.0.999")
        + BLOCK.replace("10.0.0.5", "0.0.0.0").replace("s1", "s2")  # no address yet: kept
        + BLOCK.replace("s1", "s3")[:-1]  # the last block needs no blank line after it
    )
    recs, rep = detail(text)
    assert [r.session_id for r in recs] == ["s1", "s2", "s3"] and recs[1].nets == ()
    assert rep.ignored == 1 and rep.read == 8
    assert [line for line, _ in rep.problems] == [1, 10, 11, 14, 22, 26]
    reasons = dict(rep.problems)
    assert "outside any record" in reasons[1] and "not an 'Attribute = value'" in reasons[10]
    assert "unterminated" in reasons[11] and "no Event-Timestamp or Timestamp" in reasons[14]
    assert "without NAS-IP-Address" in reasons[22] and "malformed address" in reasons[26]


def test_radius_csv() -> None:
    text = (
        "\ufeffAcct-Status-Type,Event-Timestamp,User-Name,Framed-IP-Address,"
        "Delegated-IPv6-Prefix,Acct-Session-Id,NAS-IP-Address,Acct-Session-Time\n"
        "Start,2024-03-01 16:00:00,张三,10.0.0.5,2001:db8:aa00::/56,s1,192.0.2.1,\n"
        '# a comment\n\nStop,"oops,2024-03-01 16:00:00,x,10.0.0.6,,s9,192.0.2.1,\n'
        "Stop,1709283600,张三,10.0.0.5,,s1,192.0.2.1,3600\n"
        "Accounting-On,Mar  1 2024 17:00:00 CST,,,,,192.0.2.1,\n"
        "Interim-Update,yesterday,x,10.0.0.7,,s7,192.0.2.1,\n"
        "Start,1709280000,x,10.0.0.8,,,192.0.2.1,-5\n"
    )
    recs, rep = radius_csv(text, SHANGHAI)
    assert [(r.status, r.time) for r in recs] == [
        ("start", datetime(2024, 3, 1, 8, tzinfo=UTC)),
        ("stop", datetime(2024, 3, 1, 9, tzinfo=UTC)),
        ("nas-on", datetime(2024, 3, 1, 9, tzinfo=UTC)),
    ]
    assert [n.text for n in recs[0].nets] == ["10.0.0.5", "2001:db8:aa00::/56"]
    assert recs[0].account == "张三" and recs[1].session_time == 3600
    assert [line for line, _ in rep.problems] == [5, 8, 9] and rep.read == 5
    assert "CSV error" in rep.problems[0][1] and "Acct-Session-Time" in rep.problems[2][1]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "no header row"),
        ("User-Name,Framed-IP-Address,Event-Timestamp\n", "lacks column(s) status"),
        ("Acct-Status-Type,Framed-IP-Address,User-Name\n", "Event-Timestamp"),
        ("Acct-Status-Type,Framed-IP-Address,Event-Timestamp\n", "User-Name and Acct-Session-Id"),
    ],
)
def test_radius_csv_unusable(header: str, message: str) -> None:
    with pytest.raises(AttributionError, match=re.escape(message)):
        radius_csv(header)
