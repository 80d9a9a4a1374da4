"""Hit storage on SQLite and on a real PostgreSQL server (skipped loudly when none answers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from detector.base import EvidenceKind, HitClass
from detector.hits import FlowHit
from store.db import HitWriter, connect, iter_hits
from tests.conftest import pg_schema_url


def _hit(i: int) -> FlowHit:
    return FlowHit(
        source="x.pcap",
        first_ts=1_714_521_600.0 + i,
        last_ts=1_714_521_660.5 + i,
        transport="tcp",
        client_ip="10.20.0.5",
        client_port=40000 + i,
        server_ip="2001:db8:99::1" if i % 2 else "203.0.113.9",
        server_port=3333,
        cls=HitClass.MINING,
        evidence=[EvidenceKind.STRATUM, EvidenceKind.PORT_ONLY],
        variant="stratum-v1",
        confidence=0.99,
        detail={"methods": ["mining.subscribe"], "agent": "cgminer/4.10.0", "quote": 'it\'s "x"'},
        packets=10 + i,
        bytes=1000 + i,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        yield connect(f"sqlite:///{tmp_path / 'h.db'}")
        return
    with pg_schema_url("t") as url:
        eng = connect(url)
        try:
            yield eng
        finally:
            eng.dispose()


def test_roundtrip_and_since(engine: Engine) -> None:
    hits = [_hit(i) for i in range(1205)]  # more than one write batch
    with HitWriter(engine, batch=500) as writer:
        for h in hits:
            writer(h)
    assert writer.written == 1205
    back = list(iter_hits(engine))
    assert back == hits
    since = datetime.fromtimestamp(1_714_521_660.5 + 1200, UTC)
    assert [h.client_port for h in iter_hits(engine, since=since)] == [41200 + i for i in range(5)]
    assert len(list(iter_hits(engine, limit=7))) == 7
