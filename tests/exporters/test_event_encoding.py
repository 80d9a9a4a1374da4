"""Property tests of the event encoders: any content, any size → valid JSON within the limit,
and syslog messages whose framing and header a strict RFC 5424 reader accepts."""

from __future__ import annotations

import ipaddress
import json
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from blacklist.entries import Kind
from pipelines.exporters.events import (
    MIN_FIT,
    SUBSCRIBER_KEYS,
    Event,
    as_dict,
    case_event,
    encode,
    fit,
    jsonable,
    redact,
)
from pipelines.exporters.syslog import MIN_MESSAGE, format_message, frame_octet_counted

FAST = settings(max_examples=60, deadline=None)

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(),
                    st.datetimes(timezones=st.just(UTC)), st.sampled_from(list(Kind)),
                    st.ip_addresses())  # fmt: skip
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                      | st.dictionaries(st.text(max_size=20), inner, max_size=5),
                      max_leaves=30)  # fmt: skip
datas = st.dictionaries(st.one_of(st.text(max_size=40), st.sampled_from(sorted(SUBSCRIBER_KEYS))),
                        values, max_size=12)  # fmt: skip
events = st.builds(Event, st.one_of(st.sampled_from(["case.opened", "list.changed"]),
                                    st.text(max_size=80)),
                   st.datetimes(datetime(2, 1, 1), datetime(9998, 1, 1),
                                timezones=st.sampled_from([UTC, timezone(timedelta(hours=5))])),
                   datas)  # fmt: skip
big = st.builds(lambda n, c, k: {f"k{i}": c * n for i in range(k)},
                st.integers(0, 5000), st.sampled_from(["a", "ж", "😀", '"', "\\", "\n"]),
                st.integers(0, 40))  # fmt: skip


@FAST
@given(events)
def test_every_event_encodes_to_strict_json(event: Event) -> None:
    doc = json.loads(encode(event))
    assert doc["type"] == event.type
    assert doc["at"].endswith("Z")
    assert datetime.fromisoformat(doc["at"].replace("Z", "+00:00")) == event.at


@given(st.one_of(events, st.builds(Event, st.just("case.opened"), st.datetimes(), big)),
       st.integers(0, 20_000), st.booleans())  # fmt: skip
@settings(max_examples=100, deadline=None)
def test_fit_stays_within_the_limit_and_valid(event: Event, limit: int, ascii_only: bool) -> None:
    obj = as_dict(event)
    text = fit(obj, limit, ascii_only=ascii_only)
    assert len(text.encode()) <= max(limit, MIN_FIT)
    doc = json.loads(text)
    assert set(doc) == {"type", "at", "data"} and doc["at"] == obj["at"]
    if ascii_only:
        assert text.isascii()
    if len(json.dumps(obj, ensure_ascii=ascii_only, separators=(",", ":")).encode()) <= limit:
        assert doc == obj  # nothing is touched when it fits


@FAST
@given(values)
def test_jsonable_gives_plain_json(value: Any) -> None:
    out = jsonable(value)
    json.dumps(out, allow_nan=False)
    if isinstance(value, float) and not math.isfinite(value):
        assert out is None


@FAST
@given(datas)
def test_redact_removes_subscriber_keys_at_any_depth(data: dict[str, Any]) -> None:
    text = json.dumps(redact(jsonable(data)))

    def keys(v: Any) -> set[str]:
        if isinstance(v, dict):
            return set(v) | {k for x in v.values() for k in keys(x)}
        if isinstance(v, list):
            return {k for x in v for k in keys(x)}
        return set()

    assert not keys(json.loads(text)) & SUBSCRIBER_KEYS


HEADER = re.compile(rb"<(\d{1,3})>1 (\S+) ([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,48}) "
                    rb"([\x21-\x7e]{1,128}) ([\x21-\x7e]{1,32}) ")  # fmt: skip
SD = re.compile(r'\[minewatch@\d+( [^\x00-\x20="\]]{1,32}="(?:[^"\\\]]|\\["\\\]])*")+\]')


@given(st.one_of(events, st.builds(Event, st.text(max_size=40), st.datetimes(), big)),
       st.integers(0, 70_000), st.booleans(), st.text(max_size=300))  # fmt: skip
@settings(max_examples=100, deadline=None)
def test_syslog_messages_are_valid_rfc5424(event: Event, limit: int, sub: bool, host: str) -> None:
    msg = format_message(event, limit=limit, subscriber=sub, hostname=host, procid=42)
    assert len(msg) <= max(limit, MIN_MESSAGE)
    m = HEADER.match(msg)
    assert m is not None, msg[:200]
    assert int(m[1]) < 192
    datetime.fromisoformat(m[2].decode().replace("Z", "+00:00"))
    rest = msg[m.end() :].decode()
    sd = SD.match(rest)
    assert sd is not None, rest[:200]
    assert rest[sd.end()] == " "
    doc = json.loads(rest[sd.end() + 1 :])
    assert rest[sd.end() + 1 :].isascii()  # MSG: JSON with \u escapes
    if not sub:
        assert not set(doc["data"]) & SUBSCRIBER_KEYS


@given(st.lists(st.binary(max_size=300), max_size=10))
def test_octet_counted_frames_split_back(messages: list[bytes]) -> None:
    stream = b"".join(frame_octet_counted(m) for m in messages)
    out, i = [], 0
    while i < len(stream):
        sp = stream.index(b" ", i)
        n = int(stream[i:sp])
        out.append(stream[sp + 1 : sp + 1 + n])
        i = sp + 1 + n
    assert out == messages


def test_case_event_takes_what_a_notification_gateway_needs() -> None:
    class View:  # the attributes of store.cases.CaseView that matter here
        id = 4
        subscriber_ip = "100.64.1.2"
        account = "ACC-9"
        pool_ip = "203.0.113.7"
        pool_port = 3333
        first_seen = datetime(2024, 5, 1, tzinfo=UTC)
        last_seen = datetime(2024, 5, 2, tzinfo=UTC)
        status = "new"

    ev = case_event("case.opened", View(), actor="system")
    data = json.loads(encode(ev))["data"]
    assert data == {"id": 4, "status": "new", "subscriber_ip": "100.64.1.2", "account": "ACC-9",
                    "pool_ip": "203.0.113.7", "pool_port": 3333,
                    "first_seen": "2024-05-01T00:00:00.000000Z",
                    "last_seen": "2024-05-02T00:00:00.000000Z", "actor": "system"}  # fmt: skip
    assert ipaddress.ip_address(data["subscriber_ip"])
