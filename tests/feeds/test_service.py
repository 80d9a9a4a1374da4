"""Refreshes never make the list worse; versions, first/last seen, diffs — SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from blacklist.entries import Category
from blacklist.fetch import Fetcher, FetchPolicy
from blacklist.health import feed_health
from blacklist.history import diff, get_version, iter_entries, list_versions
from blacklist.parsers import PARSERS, ParseResult
from blacklist.service import FeedService
from blacklist.sources import load_index
from blacklist.versions import head_version
from store.listmodels import ListEntryRow

from .support import Clock, Database, FeedServer, Route


def write(path: Path, *lines: str) -> Path:
    path.write_text("# a test list\n" + "".join(f"{x}\n" for x in lines))
    return path


def values(db: Database, vid: int, source: str | None = None) -> set[str]:
    return {s.entry.value for s in iter_entries(db.engine, vid, source=source)}


def health(db: Database, name: str):  # type: ignore[no-untyped-def]
    return {h.name: h for h in feed_health(db.engine)}[name]


def test_import_real_feed_then_shrink_and_empty_guards(
    db: Database, feeds: Path, tmp_path: Path, clock: Clock
) -> None:
    svc = FeedService(db.engine, clock=clock.now)
    trail = feeds / "maltrail_crypto_mining.txt"
    first = svc.import_file(trail, fmt="maltrail", name="maltrail", confidence=0.6)
    assert first.status == "new-version" and first.version_id == 1
    n = first.entries
    assert n > 1000 and first.added == n and first.problems == 0
    # a refresh to a third of the entries is suspicious: the last good version stays live
    lines = trail.read_text().splitlines()
    entries = [x for x in lines if x and not x.startswith("#")]
    shrunk = write(tmp_path / "shrunk.txt", *entries[: len(entries) // 3])
    clock.advance(hours=1)
    rep = svc.import_file(shrunk, fmt="maltrail", name="maltrail", confidence=0.6)
    assert rep.status == "failed" and not rep.ok and "shrunk from" in str(rep.error)
    assert head_version(db.engine) == 1 and len(values(db, 1)) == n
    h = health(db, "maltrail")
    assert h.error is not None and h.failures == 1 and h.entries == n
    assert h.attempt_entries == rep.entries and h.last_attempt == clock.now()
    assert h.last_success == clock.now() - timedelta(hours=1)
    # empty (comments only, or every line a problem) is never accepted
    for body in ("# nothing today\n", "999.1.1.1\nnot a host!\n"):
        (tmp_path / "empty.txt").write_text(body)
        rep = svc.import_file(tmp_path / "empty.txt", fmt="maltrail", name="maltrail")
        assert rep.status == "failed" and "empty parse" in str(rep.error)
    assert health(db, "maltrail").failures == 3 and head_version(db.engine) == 1
    # a small shrink is fine, and so is a forced big one
    ok = svc.import_file(
        write(tmp_path / "most.txt", *entries[: int(len(entries) * 0.9)]),
        fmt="maltrail", name="maltrail", confidence=0.6,
    )  # fmt: skip
    assert ok.status == "new-version" and ok.version_id == 2 and ok.removed > 0
    assert health(db, "maltrail").error is None and health(db, "maltrail").failures == 0
    forced = svc.import_file(shrunk, fmt="maltrail", name="maltrail", confidence=0.6, force=True)
    assert forced.status == "new-version" and forced.version_id == 3


def test_versions_are_immutable_and_carry_first_and_last_seen(
    db: Database, tmp_path: Path, clock: Clock
) -> None:
    svc = FeedService(db.engine, clock=clock.now)
    t0 = clock.now()
    f = tmp_path / "l.txt"
    v1 = svc.import_file(write(f, "198.51.100.1", "pool-a.example.org", "203.0.113.0/24"),
                         fmt="plain", name="lab", public_only=False).version_id  # fmt: skip
    t1 = clock.advance(days=1)
    same = svc.import_file(write(f, "pool-a.example.org", "203.0.113.0/24", "198.51.100.1"),
                           fmt="plain", name="lab", public_only=False)  # fmt: skip
    assert same.status == "unchanged" and head_version(db.engine) == v1  # order-free
    t2 = clock.advance(days=1)
    v2 = svc.import_file(write(f, "pool-a.example.org", "203.0.113.0/24", "198.51.100.2"),
                         fmt="plain", name="lab", public_only=False).version_id  # fmt: skip
    assert v1 == 1 and v2 == 2
    assert values(db, 1) == {"198.51.100.1", "pool-a.example.org", "203.0.113.0/24"}
    assert values(db, 2) == {"198.51.100.2", "pool-a.example.org", "203.0.113.0/24"}
    live = {"lab": health(db, "lab").last_success}
    seen = {s.entry.value: s for s in iter_entries(db.engine, 2, live_since=live)}
    assert seen["pool-a.example.org"].first_seen == t0  # carried over
    assert seen["pool-a.example.org"].last_seen == t2  # listed by the latest refresh
    assert seen["198.51.100.2"].first_seen == t2
    old = {s.entry.value: s for s in iter_entries(db.engine, 1, live_since=live)}
    assert old["198.51.100.1"].last_seen == t1  # the last refresh that still listed it
    # unchanged rows were not rewritten: 3 + 1 rows for two versions
    with Session(db.engine) as s:
        assert s.scalar(select(func.count()).select_from(ListEntryRow)) == 4
    v = get_version(db.engine, 2)
    assert v.parent_id == 1 and v.entries == 3 and (v.added, v.removed) == (1, 1)
    assert set(v.sources) == {"lab"} and len(v.sources["lab"]) == 64
    # a new confidence is a change of meaning: '~' in the diff, first_seen still carried
    clock.advance(days=1)
    v3 = svc.import_file(f, fmt="plain", name="lab", public_only=False, confidence=0.9).version_id
    assert v3 == 3
    changes = diff(db.engine, 1, 3)
    assert [(c.op, c.value) for c in changes] == [
        ("-", "198.51.100.1"), ("+", "198.51.100.2"), ("~", "203.0.113.0/24"),
        ("~", "pool-a.example.org"),
    ]  # fmt: skip
    assert [(c.op, c.value) for c in diff(db.engine, 3, 1)] == [
        ("+", "198.51.100.1"), ("-", "198.51.100.2"), ("~", "203.0.113.0/24"),
        ("~", "pool-a.example.org"),
    ]  # fmt: skip
    assert diff(db.engine, 2, 2) == []
    seen3 = {s.entry.value: s for s in iter_entries(db.engine, 3)}
    assert seen3["pool-a.example.org"].first_seen == t0
    assert seen3["pool-a.example.org"].entry.confidence == 0.9
    assert [v.id for v in list_versions(db.engine)] == [3, 2, 1]


def test_removed_then_readded_is_no_diff_across_the_gap(
    db: Database, tmp_path: Path, clock: Clock
) -> None:
    svc = FeedService(db.engine, clock=clock.now)
    f = tmp_path / "l.txt"
    for body in (["a.example.org", "b.example.org"], ["b.example.org"],
                 ["a.example.org", "b.example.org", "c.example.org"]):  # fmt: skip
        clock.advance(hours=1)
        svc.import_file(write(f, *body), fmt="plain", name="x", force=True)
    assert [(c.op, c.value) for c in diff(db.engine, 1, 3)] == [("+", "c.example.org")]
    assert [(c.op, c.value) for c in diff(db.engine, 1, 2)] == [("-", "a.example.org")]


def index_file(tmp_path: Path, server: FeedServer, **extra: object) -> Path:
    doc = {
        "sources": [
            {"name": "pools", "url": server.url("/pools.txt"), "format": "plain",
             "category": "pool", "confidence": 0.7, "refresh": "1h", "public_only": False,
             **extra},
            {"name": "allow", "url": server.url("/allow.txt"), "format": "plain",
             "category": "allowlist", "confidence": 1.0},
        ]
    }  # fmt: skip
    path = tmp_path / "index.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_update_from_http_keeps_last_good_version_on_404(
    db: Database, server: FeedServer, tmp_path: Path, clock: Clock
) -> None:
    server.routes["/pools.txt"] = Route(b"pool.example.org\n198.51.100.9:3333\n", etag='"1"')
    server.routes["/allow.txt"] = Route(b"104.16.0.0/13\n", etag='"a"')
    index = load_index(index_file(tmp_path, server))
    with httpx.Client() as client:
        fetcher = Fetcher(tmp_path / "cache", client, FetchPolicy(retries=1, backoff=0.01))
        svc = FeedService(db.engine, fetcher, clock=clock.now)
        reports = {r.source: r for r in svc.update(index)}
        assert reports["pools"].status == "new-version" and reports["pools"].http_status == 200
        assert reports["allow"].status == "new-version" and reports["allow"].version_id == 2
        assert reports["learned"].status == "unchanged"
        assert values(db, 2) == {"pool.example.org", "198.51.100.9:3333", "104.16.0.0/13"}
        # unchanged upstream: 304, no new version, health still fine
        clock.advance(hours=1)
        again = {r.source: r for r in svc.update(index)}
        assert again["pools"].status == "unchanged" and again["pools"].http_status == 304
        assert head_version(db.engine) == 2
        # the feed disappears: the last good version stays, health says why
        del server.routes["/pools.txt"]
        clock.advance(hours=1)
        gone = svc.update(index, "pools")[0]
        assert gone.status == "failed" and gone.http_status == 404 and "HTTP 404" in str(gone.error)
        assert head_version(db.engine) == 2 and "pool.example.org" in values(db, 2)
        h = health(db, "pools")
        assert (h.http_status, h.failures, h.entries) == (404, 1, 2)
        assert h.last_success == clock.now() - timedelta(hours=1)
        assert h.health(3600, clock.now()).startswith("FAILING (1x): ")
        # after 3 refresh intervals without success a feed is stale (once errors are gone)
        assert health(db, "allow").health(3600, clock.now() + timedelta(hours=3)) == "stale"
        # a server error is retried, and also keeps the last good version
        server.routes["/pools.txt"] = Route(b"pool.example.org\n", script=[500, 500, 500])
        assert svc.update(index, "pools")[0].http_status == 500
        assert head_version(db.engine) == 2
        # disabling a source in the index retires its entries on the next full update
        index = load_index(index_file(tmp_path, server, enabled=False))
        retired = {r.source: r for r in svc.update(index)}["pools"]
        assert retired.status == "retired" and retired.removed == 2
        assert values(db, retired.version_id or 0) == {"104.16.0.0/13"}
        assert get_version(db.engine, retired.version_id or 0).sources.keys() == {"allow"}
        skipped = svc.update(index, "pools")[0]
        assert skipped.status == "skipped"


def test_parser_crash_keeps_the_list(
    db: Database, server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/pools.txt"] = Route(b"pool.example.org\n")
    server.routes["/allow.txt"] = Route(b"104.16.0.0/13\n")
    index = load_index(index_file(tmp_path, server))
    with httpx.Client() as client:
        svc = FeedService(db.engine, Fetcher(None, client))
        svc.update(index)

        def boom(lines: object, source: object) -> ParseResult:
            raise RuntimeError("bug")

        monkeypatch.setitem(PARSERS, "plain", boom)
        rep = svc.update(index, "pools")[0]
    assert rep.status == "failed" and "parser plain failed: RuntimeError('bug')" in str(rep.error)
    assert head_version(db.engine) == 2


def test_category_and_source_name_are_per_source(db: Database, tmp_path: Path) -> None:
    svc = FeedService(db.engine)
    f = write(tmp_path / "x.txt", "pool.example.org")
    a = svc.import_file(f, fmt="plain", name="a", category=Category.POOL)
    b = svc.import_file(f, fmt="plain", name="b", category=Category.CRYPTO_SERVICE)
    assert (a.version_id, b.version_id) == (1, 2)
    got = {(s.entry.source, s.entry.category) for s in iter_entries(db.engine, 2)}
    assert got == {("a", Category.POOL), ("b", Category.CRYPTO_SERVICE)}
