"""Learned entries with TTL, analyst entries with audit — SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from blacklist.entries import Category
from blacklist.health import feed_health
from blacklist.history import iter_entries
from blacklist.learned import Learner, ManualError, add_manual, manual_audit, remove_manual
from blacklist.provider import MatcherProvider
from blacklist.service import FeedService
from blacklist.sources import SourceIndex
from blacklist.versions import head_version

from .support import Clock, Database


def live(db: Database, source: str) -> dict[str, object]:
    vid = head_version(db.engine)
    assert vid is not None
    return {s.entry.value: s for s in iter_entries(db.engine, vid, source=source)}


def test_learned_ttl_expiry_and_batching(db: Database, clock: Clock) -> None:
    learner = Learner(db.engine, batch=3, ttl=3600, clock=clock.now, public_only=False)
    assert learner.learn("198.51.100.7:3333", "stratum-v1 seen 2024-05-01T00:00Z")
    assert learner.learn("203.0.113.45", "A record of xmr.pool.minergate.com", ttl=600)
    assert not learner.learn("999.1.1.1", "garbage") and learner.rejected == 1
    assert head_version(db.engine) is None  # batched: nothing written yet
    assert learner.learn("2001:db8:99::45", "AAAA record of xmr.pool.minergate.com")  # 3rd: flush
    v1 = head_version(db.engine)
    assert v1 == 1 and learner.written == 3 and not learner.pending
    got = live(db, "learned")
    assert set(got) == {"198.51.100.7:3333", "203.0.113.45", "2001:db8:99::45"}
    assert got["203.0.113.45"].expires == clock.now() + timedelta(seconds=600)  # type: ignore[attr-defined]
    assert got["203.0.113.45"].entry.raw == "A record of xmr.pool.minergate.com"  # type: ignore[attr-defined]
    # the provider stops using an expired entry at once, before any new version
    provider = MatcherProvider(db.engine, builtin=False, clock=clock.time)
    assert len(provider.load()) == 3
    clock.advance(seconds=601)
    fresh = provider.poll()
    assert fresh is not None and {e.value for e in fresh.entries} == {
        "198.51.100.7:3333", "2001:db8:99::45"
    }  # fmt: skip
    assert provider.poll() is None
    # re-learning extends the expiry in place (no new version for a longer TTL alone)
    with learner:
        learner.learn("198.51.100.7:3333", "stratum-v1 seen again", ttl=7200)
    assert head_version(db.engine) == 2  # the flush also dropped the expired 203.0.113.45
    assert set(live(db, "learned")) == {"198.51.100.7:3333", "2001:db8:99::45"}
    exp = live(db, "learned")["198.51.100.7:3333"].expires  # type: ignore[attr-defined]
    assert exp == clock.now() + timedelta(seconds=7200)
    # the next refresh after the TTL drops them from the version (feeds update does this)
    clock.advance(hours=3)
    reports = FeedService(db.engine, clock=clock.now).update(SourceIndex(()))
    assert [(r.source, r.status) for r in reports] == [("learned", "new-version")]
    assert live(db, "learned") == {}
    h = {x.name: x for x in feed_health(db.engine)}["learned"]
    assert (h.origin, h.entries, h.error) == ("learned", 0, None)


def test_manual_add_remove_with_audit(db: Database, clock: Clock) -> None:
    a = add_manual(db.engine, "Pool.Example.ORG", reason="ticket 42: confirmed pool",
                   by="alice", clock=clock.now)  # fmt: skip
    assert (a.value, a.version_id) == ("pool.example.org", 1)
    clock.advance(minutes=5)
    b = add_manual(db.engine, "198.51.100.0/24", reason="internal proxy range", by="bob",
                   category=Category.ALLOWLIST, confidence=1.0, clock=clock.now)  # fmt: skip
    assert b.version_id == 2
    entries = live(db, "manual")
    assert entries["pool.example.org"].entry.raw == "ticket 42: confirmed pool"  # type: ignore[attr-defined]
    assert entries["198.51.100.0/24"].entry.category is Category.ALLOWLIST  # type: ignore[attr-defined]
    same = add_manual(db.engine, "pool.example.org", reason="again", by="alice", clock=clock.now)
    assert same.version_id is None  # nothing changed in the list (the audit still says so)
    clock.advance(minutes=5)
    r = remove_manual(db.engine, "pool.example.org", reason="false positive", by="carol",
                      clock=clock.now)  # fmt: skip
    assert r.version_id == 3 and set(live(db, "manual")) == {"198.51.100.0/24"}
    with pytest.raises(ManualError, match="no manual entry"):
        remove_manual(db.engine, "pool.example.org", reason="twice", by="carol")
    with pytest.raises(ManualError, match="reason is required"):
        add_manual(db.engine, "pool.example.org", reason=" ", by="x")
    with pytest.raises(ManualError, match="dotted-quad"):
        add_manual(db.engine, "1.2.3.999", reason="typo", by="x")
    audit = [(x.action, x.value, x.by, x.reason, x.version_id) for x in manual_audit(db.engine)]
    assert audit == [
        ("add", "pool.example.org", "alice", "ticket 42: confirmed pool", 1),
        ("add", "198.51.100.0/24", "bob", "internal proxy range", 2),
        ("add", "pool.example.org", "alice", "again", None),
        ("remove", "pool.example.org", "carol", "false positive", 3),
    ]
    assert manual_audit(db.engine)[0].at.replace(tzinfo=None) == clock.now().replace(
        tzinfo=None
    ) - timedelta(minutes=10)
