"""The curated built-in list and the pool-port prior."""

from __future__ import annotations

import numpy as np

from blacklist.builtin import (
    BROWSER_MINERS,
    POOL_HOSTS,
    POOL_PORT_PRIOR,
    POOL_PORT_RANGES,
    POOLS,
    builtin_entries,
    port_prior,
)
from blacklist.entries import Category, Kind
from blacklist.matcher import Matcher


def test_every_builtin_entry_is_a_valid_reasoned_domain() -> None:
    entries = list(builtin_entries())
    assert 60 <= len(entries) <= 120
    assert len(entries) == len(POOLS) + len(POOL_HOSTS) + len(BROWSER_MINERS)
    for e, (name, why) in zip(entries, POOLS + POOL_HOSTS + BROWSER_MINERS, strict=True):
        assert e.kind is Kind.DOMAIN and e.value == name  # already canonical
        assert e.subdomains and e.source == "builtin" and 0 < e.confidence <= 1
        assert len(why.split()) >= 2 and why.lower() != name  # a reason, not just the name
    cats = {e.category for e in entries}
    assert cats == {Category.POOL, Category.BROWSER_MINER}


def test_no_duplicates_and_no_entry_hidden_by_another() -> None:
    names = [e.value for e in builtin_entries()]
    assert len(set(names)) == len(names)
    for n in names:
        parents = [p for p in names if n != p and n.endswith("." + p)]
        assert not parents, f"{n} is already covered by {parents}"


def test_whole_exchange_wallet_or_explorer_domains_are_absent() -> None:
    m = Matcher(list(builtin_entries()))
    for site in (
        "binance.com",
        "www.binance.com",
        "coinbase.com",
        "btc.com",
        "explorer.btc.com",
        "bitcoin.com",
        "blockchain.com",
        "getmonero.org",
        "xmrig.com",  # the miner's download site; only its donation pools are listed
        "braiins.com",
    ):
        assert m.match_domain(site) == -1, site
    for pool in ("pool.binance.com", "eu.ss.btc.com", "donate.v2.xmrig.com", "xmr.nanopool.org"):
        assert m.match_domain(pool) >= 0, pool


def test_pool_port_prior() -> None:
    ports = np.array([3333, 4444, 14433, 45700, 10128, 20128, 53333, 51800], dtype=np.uint16)
    assert port_prior(ports).all()
    # HTTPS/HTTP carry pools too but are no prior; 8333/19335 are coin P2P, not pools
    others = np.array([443, 80, 22, 8333, 19335, 18193, 28193, 3032], dtype=np.uint16)
    assert not port_prior(others).any()
    assert {3333, 4444, 5555, 7777, 8888, 9999} <= POOL_PORT_PRIOR
    assert POOL_PORT_RANGES == ((10001, 18192), (20001, 28192))
