"""The API under a real uvicorn server on loopback, on SQLite and on real PostgreSQL.

`live` (one server per backend and test module) seeds a subscriber registry and hits through
the real write path (HitWriter → CaseBuilder with the registry Attributor), creates one key per
role plus a revoked one, and serves `create_app` from a background thread on a socket bound to
127.0.0.1:0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from api.app import create_app, open_engine
from api.config import Settings
from detector.base import EvidenceKind, HitClass
from detector.hits import FlowHit
from store.apikeys import create_key, revoke_key
from tests.conftest import pg_schema_url
from tests.live import ServerThread

ROLES = ("export", "analyst", "admin")
T0 = 1_730_000_000.0  # 2024-10-27: a fixed clock for the seeded hits
REGISTRY = """network,account,name,sector,region
10.1.0.0/24,ACC-1,No. 3 Middle School,school,north
10.2.0.0/24,ACC-2,=cmd|' /C calc'!A0,internet-cafe,south
"""
# (subscriber, pool, port, evidence, confidence, n hits)
SEED = (
    ("10.1.0.5", "203.0.113.7", 3333, [EvidenceKind.STRATUM], 0.95, 6),
    ("10.1.0.5", "203.0.113.8", 4444, [EvidenceKind.IP_LIST], 0.6, 3),
    ("10.2.0.9", "198.51.100.20", 14444, [EvidenceKind.SNI], 0.8, 4),
    ("10.3.0.1", "198.51.100.21", 443, [EvidenceKind.DNS], 0.5, 2),
)


@dataclass
class Live:
    url: str
    app: FastAPI
    engine: Engine
    keys: dict[str, str]  # role (and "revoked") -> token
    hits: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, role: str | None = "admin") -> httpx.Client:
        headers = {} if role is None else {"Authorization": f"Bearer {self.keys[role]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


def seed(engine: Engine, tmp: Path) -> int:
    """Registry + hits through the real write path; returns the number of hits."""
    from store.attribution import Attributor, import_registry
    from store.casebuild import CaseBuilder
    from store.db import HitWriter

    reg = tmp / "registry.csv"
    reg.write_text(REGISTRY)
    import_registry(engine, reg)
    builder = CaseBuilder(attributor=Attributor.load(engine, ["10.0.0.0/8"]))
    n = 0
    with HitWriter(engine, batch=7, cases=builder) as writer:
        for sub, pool, port, evidence, conf, count in SEED:
            for i in range(count):
                ts = T0 + 60 * i
                writer(FlowHit(source="test", first_ts=ts, last_ts=ts + 30, transport="tcp",
                               client_ip=sub, client_port=40000 + i, server_ip=pool,
                               server_port=port, cls=HitClass.MINING, evidence=list(evidence),
                               variant="stratum-json-rpc", confidence=conf,
                               packets=10, bytes=1000))  # fmt: skip
                n += 1
    return n


def make_settings(url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "dev",
        "db_url": url,
        "max_page_size": 50,
        "default_page_size": 20,
        "max_upload_bytes": 4096,
        "max_check_ips": 200,
        "key_cache_seconds": 0.5,
        "internal_networks": ["10.0.0.0/8"],
    }
    return Settings.model_validate({**values, **extra})


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh database per module: a SQLite file, or a schema on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('api') / 'api.db'}"
        return
    with pg_schema_url("api") as url:
        yield url


def start_live(url: str, tmp: Path, **extra: Any) -> Iterator[Live]:
    settings = make_settings(url, **extra)
    engine = open_engine(settings)
    hits = seed(engine, tmp)
    keys = {role: create_key(engine, role, f"{role}-tester")[1] for role in ROLES}
    keys["revoked"] = create_key(engine, "admin", "revoked-tester")[1]
    revoke_key(engine, keys["revoked"])
    app = create_app(settings, engine)
    try:
        with ServerThread(app) as base:
            yield Live(base, app, engine, keys, hits)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def live(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from start_live(db_url, tmp_path_factory.mktemp("seed"))


@pytest.fixture(scope="module")
def live_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """SQLite only: for the slower property and schema tests."""
    tmp = tmp_path_factory.mktemp("api1")
    yield from start_live(f"sqlite:///{tmp / 'api.db'}", tmp)
