"""Snapshots of the published list: the same rules as `MatcherProvider.blocklist()`, merged
provenance, expiry, opaque stable versions, `since=` resolution; the render cache's ETags."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from blacklist.entries import Category
from blacklist.provider import MatcherProvider
from blacklist.render import ListType, RenderError
from blacklist.render.cache import RenderCache
from blacklist.render.snapshot import SinceError, SnapshotStore, compute
from blacklist.versions import ident
from tests.conftest import Database

from .support import T0, commit, entries, later


def test_snapshot_publishes_what_the_provider_would(db: Database) -> None:
    eng = db.engine
    commit(eng, "feed-a", entries(["5.9.0.10", "104.16.1.2", "45.10.1.1:3333", "pool.example.net"]))
    commit(eng, "feed-b", entries(["5.9.0.10"], "feed-b", confidence=0.9), at=later(1))
    commit(eng, "cdn", entries(["104.16.0.0/13"], "cdn", Category.ALLOWLIST), at=later(2))
    commit(eng, "manual", entries(["104.16.9.9"], "manual"), at=later(3))
    snap = compute(eng, 4, later(4))
    provider = MatcherProvider(eng, clock=lambda: later(4).timestamp())
    kept = provider.blocklist().kept
    by_type: dict[ListType, set[str]] = {t: set() for t in ListType}
    kinds = {"ip": ListType.IP, "cidr": ListType.IP, "endpoint": ListType.ENDPOINT}
    for e in kept:
        by_type[kinds.get(str(e.kind), ListType.DOMAIN)].add(e.value)
    for t in ListType:
        assert {m.value for m in snap.members[t]} == by_type[t]
    assert "104.16.1.2" not in by_type[ListType.IP] and "104.16.9.9" in by_type[ListType.IP]
    merged = next(m for m in snap.members[ListType.IP] if m.value == "5.9.0.10")
    assert merged.source == "feed-a,feed-b" and merged.first_seen == T0.date().isoformat()
    assert merged.confidence == 0.9
    assert snap.version.startswith("4.") and snap.suppressed == 1


def test_expiry_changes_the_version_without_a_new_db_version(db: Database) -> None:
    eng = db.engine
    learned = entries(["5.9.0.10", "5.9.0.11"], "learned")
    expires = {ident(learned[0]): T0 + timedelta(hours=2)}
    commit(eng, "learned", learned, expires=expires)
    clock = [later(1).timestamp()]
    store = SnapshotStore(eng, poll=0, clock=lambda: clock[0])
    first = store.current()
    assert {m.value for m in first.members[ListType.IP]} == {"5.9.0.10", "5.9.0.11"}
    assert store.current() is first  # nothing changed: no recompute
    clock[0] = later(3).timestamp()
    second = store.current()
    assert {m.value for m in second.members[ListType.IP]} == {"5.9.0.11"}
    assert second.vid == first.vid and second.version != first.version
    assert store.by_version(first.version) is first  # still remembered for since=
    store2 = SnapshotStore(eng, poll=0, clock=lambda: clock[0])
    assert store2.by_version(first.version).version == first.version  # recomputed at creation
    with pytest.raises(SinceError):
        store2.by_version(second.version.split(".")[0] + ".000000000000")
    with pytest.raises(SinceError):
        store2.by_version("77.abc")


def test_builtin_only_and_cache_etags(tmp_path: Path) -> None:
    store = SnapshotStore(None, poll=0)
    snap = store.current()
    assert snap.version.startswith("0.") and snap.members[ListType.DOMAIN]
    assert compute(None, None, T0).version == snap.version  # stable across computations
    cache = RenderCache(store, tmp_path / "c", keep=2)
    body = cache.body("rpz", "domain")
    data = b"".join(body.chunks())
    assert body.etag == f'"{hashlib.sha256(data).hexdigest()}"' and len(data) == body.size
    assert cache.body("rpz", "domain") is body and cache.renders == 1
    assert cache.cached("rpz", "domain") is body
    cache.body("txt", "domain")
    cache.body("json", "domain")
    assert cache.cached("rpz", "domain") is None  # evicted (keep=2)
    with pytest.raises(RenderError, match="cannot express"):
        cache.body("edl", "endpoint")
    with pytest.raises(RenderError, match="unknown format"):
        cache.body("xml", "ip")


def test_background_refresh_serves_the_old_list_and_prerenders(
    db: Database, tmp_path: Path
) -> None:
    eng = db.engine
    commit(eng, "feed-a", entries(["5.9.0.10"]))
    store = SnapshotStore(eng, poll=0, background=True)
    cache = RenderCache(store, tmp_path / "c")
    first = cache.body("nft", "ip")
    commit(eng, "feed-a", entries(["5.9.0.11"]), at=later(1))
    assert cache.cached("nft", "ip") is None  # stale: the fast path steps aside
    assert cache.body("nft", "ip") is first  # the old list, at once
    store.wait(30)
    fresh = cache.cached("nft", "ip")  # rendered by the refresh thread
    assert (
        fresh is not None
        and fresh.etag != first.etag
        and "5.9.0.11" in b"".join(fresh.chunks()).decode()
    )
    assert store.computed == 2 and store.last_error is None


def test_api_format_names_are_the_registry() -> None:
    from typing import get_args

    from api.routes.blocklist import FormatName, TypeName
    from blacklist.render import FORMATS

    assert set(get_args(FormatName)) == set(FORMATS)
    assert set(get_args(TypeName)) == {t.value for t in ListType}
