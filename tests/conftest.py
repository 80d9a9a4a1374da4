"""Shared fixtures: where the real data lives, and a scan helper over the real pipeline."""

from __future__ import annotations

import csv
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT.parent / "shared" / "data").resolve()
SAMPLES = ROOT / "samples"
MINING = SHARED / "pcaps" / "mining"
BENIGN = SHARED / "pcaps" / "benign"
GROUNDTRUTH = SHARED / "groundtruth" / "mining-flows.tsv"


def need_shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"SKIPPED LOUDLY: shared real data not found at {SHARED}")
    return SHARED


def need_tshark() -> str:
    exe = shutil.which("tshark")
    if exe is None:
        pytest.skip(
            "SKIPPED LOUDLY: tshark (the independent oracle) is not installed; .ci/run installs it"
        )
    return exe


def captures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".pcap", ".pcapng", ".cap"))


def groundtruth() -> Iterator[dict[str, str]]:
    with GROUNDTRUTH.open(newline="") as fh:
        yield from csv.DictReader(fh, delimiter="\t")


@pytest.fixture(scope="session")
def shared() -> Path:
    return need_shared()


PG_URL = os.environ.get("MINEWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def pg_schema_url(prefix: str = "t") -> Iterator[str]:
    """A URL to a fresh schema on the real PostgreSQL server, dropped afterwards; skips loudly
    (pytest.skip) when no server answers."""
    from sqlalchemy import create_engine, text

    try:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        pytest.skip(f"SKIPPED LOUDLY: no PostgreSQL at {PG_URL} ({type(exc).__name__})")
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    try:
        yield PG_URL + ("&" if "?" in PG_URL else "?") + f"options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()


@dataclass
class Database:
    """A migrated test database: its engine, its URL (for subprocesses) and its backend."""

    engine: Any
    url: str
    backend: str  # "sqlite" or "postgresql"


@contextmanager
def database(backend: str, tmp_path: Path, prefix: str = "t") -> Iterator[Database]:
    """A SQLite file in `tmp_path`, or a fresh schema on the real PostgreSQL (skipped loudly
    without one); migrated and with the list head row, disposed afterwards."""
    from blacklist.versions import ensure_schema
    from store.db import connect

    ctx = (nullcontext(f"sqlite:///{tmp_path / (prefix + '.db')}") if backend == "sqlite"
           else pg_schema_url(prefix))  # fmt: skip
    with ctx as url:
        eng = connect(url)
        ensure_schema(eng)
        try:
            yield Database(eng, url, backend)
        finally:
            eng.dispose()
