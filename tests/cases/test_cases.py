"""Cases grow from stored hits: one per (subscriber, account, pool endpoint), counters that add
up to the hits, the workflow with its audit trail, clearance and reopening, the regulator check."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from detector.base import EvidenceKind, HitClass
from detector.hits import FlowHit
from store.casebuild import CaseBuilder, CaseEvent
from store.cases import (
    case_audit,
    check_ips,
    clear_stale,
    get_case,
    list_cases,
    purge_hits,
    subscriber_summary,
    transition,
)
from store.db import HitWriter
from store.models import HitRow
from store.workflow import MOVES, Status, WorkflowError

T0 = 1_790_000_000.0


def hit(client: str, server: str, port: int = 3333, *, t: float = T0, conf: float = 0.99,
        cls: HitClass = HitClass.MINING, evidence: tuple[EvidenceKind, ...] = (
            EvidenceKind.STRATUM,), variant: str = "stratum-v1", cport: int = 40000,
        detail: dict | None = None) -> FlowHit:  # fmt: skip
    return FlowHit(
        source="t.pcap", first_ts=t, last_ts=t + 60, transport="tcp", client_ip=client,
        client_port=cport, server_ip=server, server_port=port, cls=cls, evidence=list(evidence),
        variant=variant, confidence=conf, detail=detail or {"methods": ["mining.subscribe"]},
        packets=10, bytes=1000,
    )  # fmt: skip


def write(engine: Engine, hits: list[FlowHit], **kw) -> list[CaseEvent]:
    events: list[CaseEvent] = []
    with HitWriter(engine, batch=3, on_events=events.extend, **kw) as w:
        for h in hits:
            w(h)
    return events


def test_counters_add_up_per_key(engine: Engine) -> None:
    hits = [hit("10.0.0.1", "192.0.2.10", cport=40000 + i, t=T0 + i) for i in range(7)]
    hits += [hit("10.0.0.1", "192.0.2.10", port=4444, t=T0 + 100)]
    hits += [hit("10.0.0.2", "192.0.2.10", conf=0.5, evidence=(EvidenceKind.IP_LIST,),
                 variant="", detail={"list": "x"})]  # fmt: skip
    events = write(engine, hits)
    cases = list_cases(engine)
    assert [(c.subscriber_ip, c.pool_port, c.hits) for c in cases] == [
        ("10.0.0.1", 3333, 7), ("10.0.0.1", 4444, 1), ("10.0.0.2", 3333, 1)]  # fmt: skip
    first = cases[0]
    assert first.packets == 70 and first.bytes == 7000 and first.flows == 7
    assert first.first_seen.timestamp() == T0 and first.last_seen.timestamp() == T0 + 66
    assert first.evidence == {"stratum": 7} and first.status == "new" and first.offences == 1
    assert cases[2].evidence == {"ip-list": 1} and cases[2].detail == {"list": "x"}
    assert sorted(e[0] for e in events) == ["case.opened"] * 3
    assert {e[1]["id"] for e in events} == {c.id for c in cases}
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(HitRow)) == 9
    assert [a.action for a in case_audit(engine, first.id)] == ["open"]


def test_stronger_evidence_names_the_case(engine: Engine) -> None:
    write(engine, [hit("10.0.0.1", "192.0.2.10", conf=0.5, evidence=(EvidenceKind.IP_LIST,),
                       variant="")])  # fmt: skip
    write(engine, [hit("10.0.0.1", "192.0.2.10", conf=0.99, variant="xmrig", t=T0 + 5)])
    (c,) = list_cases(engine)
    assert c.variant == "xmrig" and c.confidence == 0.99 and c.hits == 2
    assert c.evidence == {"ip-list": 1, "stratum": 1}


def test_coin_p2p_never_outranks_mining(engine: Engine) -> None:
    write(engine, [hit("10.0.0.1", "192.0.2.10", 8333, cls=HitClass.MINING, conf=0.6),
                   hit("10.0.0.1", "192.0.2.10", 8333, cls=HitClass.COIN_P2P, conf=0.9,
                       variant="bitcoin-p2p", evidence=(EvidenceKind.COIN_P2P,))])  # fmt: skip
    (c,) = list_cases(engine)
    assert c.cls == "mining" and c.confidence == 0.9


def test_workflow_moves_and_audit(engine: Engine) -> None:
    write(engine, [hit("10.0.0.1", "192.0.2.10")])
    (c,) = list_cases(engine)
    with pytest.raises(WorkflowError, match="cannot move to blocked"):
        transition(engine, c.id, "blocked", actor="ana")
    with pytest.raises(WorkflowError, match="unknown status"):
        transition(engine, c.id, "done", actor="ana")
    with pytest.raises(LookupError):
        transition(engine, c.id + 999, "verifying", actor="ana")
    for to in ("verifying", "confirmed", "blocked", "notified"):
        transition(engine, c.id, to, actor="ana", note=f"to {to}")
    audit = case_audit(engine, c.id)
    assert [(a.actor, a.from_status, a.to_status) for a in audit] == [
        ("system", None, "new"), ("ana", "new", "verifying"), ("ana", "verifying", "confirmed"),
        ("ana", "confirmed", "blocked"), ("ana", "blocked", "notified")]  # fmt: skip
    assert audit[-1].note == "to notified"
    got = get_case(engine, c.id)
    assert got is not None and got.status == "notified"


def test_every_status_reachable_and_moves_table_closed() -> None:
    seen = {Status.NEW}
    todo = [Status.NEW]
    while todo:
        for nxt in MOVES[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(Status)


def test_clear_stale_then_reopen_counts_an_offence(engine: Engine) -> None:
    write(engine, [hit("10.0.0.1", "192.0.2.10")])
    write(engine, [hit("10.0.0.9", "192.0.2.10")])  # stays new: never auto-cleared
    a, b = list_cases(engine)
    for to in ("verifying", "confirmed", "blocked"):
        transition(engine, a.id, to, actor="ana")
    later = datetime.fromtimestamp(T0, UTC) + timedelta(days=10)
    assert clear_stale(engine, 30, now=later) == 0
    assert clear_stale(engine, 7, now=later) == 1
    assert get_case(engine, a.id).status == "cleared"  # type: ignore[union-attr]
    assert get_case(engine, b.id).status == "new"  # type: ignore[union-attr]
    events = write(engine, [hit("10.0.0.1", "192.0.2.10", t=T0 + 20 * 86400)])
    c = get_case(engine, a.id)
    assert c is not None and c.status == "new" and c.offences == 2 and c.hits == 2
    assert [e[0] for e in events] == ["case.reopened"] and events[0][1]["offences"] == 2
    assert [x.action for x in case_audit(engine, a.id)][-2:] == ["status", "reopen"]
    assert [x.id for x in list_cases(engine, repeat=True)] == [a.id]


def test_false_positive_stays_but_counts(engine: Engine) -> None:
    write(engine, [hit("10.0.0.1", "192.0.2.10")])
    (c,) = list_cases(engine)
    transition(engine, c.id, "false-positive", actor="ana")
    assert write(engine, [hit("10.0.0.1", "192.0.2.10", t=T0 + 9)]) == []
    got = get_case(engine, c.id)
    assert got is not None and got.status == "false-positive" and got.hits == 2


def test_filters_and_keyset_pages(engine: Engine) -> None:
    write(engine, [hit(f"10.0.1.{i}", "192.0.2.10", conf=i / 10, t=T0 + i * 3600)
                   for i in range(1, 10)])  # fmt: skip
    ids = [c.id for c in list_cases(engine)]
    page1 = list_cases(engine, limit=4)
    page2 = list_cases(engine, limit=4, after_id=page1[-1].id)
    page3 = list_cases(engine, limit=4, after_id=page2[-1].id)
    assert [c.id for c in page1 + page2 + page3] == ids and len(page3) == 1
    assert [c.subscriber_ip for c in list_cases(engine, min_confidence=0.75)] == [
        "10.0.1.8", "10.0.1.9"]  # fmt: skip
    since = datetime.fromtimestamp(T0 + 7 * 3600, UTC)
    assert len(list_cases(engine, since=since)) == 3
    transition(engine, ids[0], "verifying", actor="a")
    assert [c.id for c in list_cases(engine, status=["verifying"])] == [ids[0]]


def test_regulator_check(engine: Engine) -> None:
    write(engine, [hit("10.0.0.1", "192.0.2.10"), hit("2001:db8::5", "192.0.2.10"),
                   hit("10.0.0.3", "192.0.2.11")])  # fmt: skip
    closed = list_cases(engine, subscriber_ip="10.0.0.3")[0]
    transition(engine, closed.id, "false-positive", actor="a")
    got = check_ips(engine, ["10.0.0.1", " 2001:DB8:0::5", "10.0.0.3", "10.9.9.9", "1.2.3",
                             "'; drop table cases; --"])  # fmt: skip
    assert [(v.ip, v.verdict) for v in got] == [
        ("10.0.0.1", "flagged"), ("2001:db8::5", "flagged"), ("10.0.0.3", "known"),
        ("10.9.9.9", "clear"), ("1.2.3", "invalid"),
        ("'; drop table cases; --", "invalid")]  # fmt: skip
    assert len(list_cases(engine)) == 3


def test_subscriber_summary_and_retention(engine: Engine) -> None:
    write(engine, [hit("10.0.0.1", "192.0.2.10"), hit("10.0.0.1", "192.0.2.11", t=T0 + 86400)])
    s = subscriber_summary(engine, "10.0.0.1")
    assert s is not None and len(s.cases) == 2 and s.offences == 2
    assert subscriber_summary(engine, "10.0.0.2") is None
    now = datetime.fromtimestamp(T0, UTC) + timedelta(days=1, hours=12)
    assert purge_hits(engine, 1, now=now) == 1
    with Session(engine) as sess:
        assert sess.scalar(select(func.count()).select_from(HitRow)) == 1
    assert sum(c.hits for c in list_cases(engine)) == 2  # cases keep their counters


def test_concurrent_writers_lose_nothing(engine: Engine) -> None:
    """Two sensors writing hits of the same new cases at once: one case per key, every hit
    counted (ON CONFLICT DO NOTHING + row locks on PostgreSQL; the write lock on SQLite)."""
    errors: list[BaseException] = []

    def sensor(n: int) -> None:
        try:
            for round_ in range(5):
                write(engine, [hit(f"10.0.2.{k}", "192.0.2.10", t=T0 + n * 100 + round_)
                               for k in range(6)])  # fmt: skip
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=sensor, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if engine.dialect.name == "sqlite" and errors:
        pytest.skip(f"SQLite serialises writers; a busy writer failed: {errors[0]}")
    assert not errors
    cases = list_cases(engine)
    assert len(cases) == 6 and all(c.hits == 10 for c in cases)


class _Sides:
    def __init__(self, sub: str, sport: int, rem: str, rport: int) -> None:
        self.subscriber_ip, self.subscriber_port = sub, sport
        self.remote_ip, self.remote_port = rem, rport


def test_builder_keys_by_side_and_account(engine: Engine) -> None:
    """With an attributor, the subscriber side and the account at the time make the key: the
    same address held by two accounts is two cases."""

    class Who:
        def __init__(self, account: str) -> None:
            self.account, self.name, self.sector, self.region = account, "n", "school", "r"

    class Attr:
        def sides(self, cip: str, cport: int, sip: str, sport: int) -> _Sides:
            if sip.startswith("10."):  # inbound to an internal host
                return _Sides(sip, sport, cip, cport)
            return _Sides(cip, cport, sip, sport)

        def lookup(self, ip: str, ts: float) -> Who:
            return Who("A" if ts < T0 + 1000 else "B")

    write(engine, [hit("10.0.0.1", "192.0.2.10"), hit("10.0.0.1", "192.0.2.10", t=T0 + 5000),
                   hit("192.0.2.77", "10.0.0.1", port=18080, cport=3333)],
          cases=CaseBuilder(Attr()))  # fmt: skip
    got = [(c.subscriber_ip, c.account, c.pool_ip, c.pool_port, c.sector)
           for c in list_cases(engine)]  # fmt: skip
    assert got == [("10.0.0.1", "A", "192.0.2.10", 3333, "school"),
                   ("10.0.0.1", "B", "192.0.2.10", 3333, "school"),
                   ("10.0.0.1", "A", "192.0.2.77", 3333, "school")]  # fmt: skip


def test_dns_lookup_of_a_pool_is_a_name_case(engine: Engine) -> None:
    """The resolver is not the pool: a pool-name lookup lands on a case keyed by the name."""
    dns = dict(port=53, evidence=(EvidenceKind.DNS,), variant="domain-pool", conf=0.9)
    write(engine, [hit("10.0.0.1", "192.0.2.53", detail={"domain": "xmr.pool.example"}, **dns),
                   hit("10.0.0.1", "192.0.2.54", detail={"domain": "xmr.pool.example"}, **dns),
                   hit("10.0.0.1", "192.0.2.53", detail={"domain": "eth.pool.example"}, **dns),
                   hit("10.0.0.1", "192.0.2.10", 3333)])  # fmt: skip
    got = [(c.pool_ip, c.pool_port, c.transport, c.pool_domain, c.hits)
           for c in list_cases(engine)]  # fmt: skip
    assert got == [("", 0, "dns", "xmr.pool.example", 2), ("", 0, "dns", "eth.pool.example", 1),
                   ("192.0.2.10", 3333, "tcp", "", 1)]  # fmt: skip


def test_event_payload_has_the_gateway_fields(engine: Engine) -> None:
    from pipelines.exporters.events import CASE_FIELDS

    (event,) = write(engine, [hit("10.0.0.1", "192.0.2.10")])
    assert set(event[1]) == set(CASE_FIELDS)
