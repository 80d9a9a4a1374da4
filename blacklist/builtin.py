"""The small curated list minewatch ships: well-known mining-pool and browser-miner domains.

Written for this project from the pools' own documentation and miner defaults, not copied from
any public list. Domains only: pool addresses churn (list-pitfalls §4), names are what miners
are configured with and what DNS and TLS SNI reveal; addresses follow from DNS answers at run
time (`dns-learned`). Exchanges, wallets and block explorers are deliberately absent: crypto is
not mining (list-pitfalls §2). Where a brand also runs non-pool services, only its pool host
names are listed.

The pool-port prior (pool-ports.md §2) is a weak feature only: it rides along with real evidence
and never makes a hit by itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from blacklist.entries import Category, Entry
from blacklist.syntax import parse_item

SOURCE = "builtin"
POOL_CONFIDENCE = 0.9
BROWSER_CONFIDENCE = 0.9

# (domain, why). A bare domain covers its subdomains.
POOLS: tuple[tuple[str, str], ...] = (
    ("nanopool.org", "Nanopool: ETC/XMR/ZEC/RVN/ERG pools (xmr-eu1.nanopool.org ...)"),
    ("minergate.com", "MinerGate: xmr.pool.minergate.com:45700 in many cryptojacking scripts"),
    ("supportxmr.com", "SupportXMR Monero pool (pool.supportxmr.com:3333/443)"),
    ("moneroocean.stream", "MoneroOcean auto-switching pool (gulf.moneroocean.stream)"),
    ("nicehash.com", "NiceHash stratum hosts (*.auto.nicehash.com, *.nicehash.com:33xx)"),
    ("f2pool.com", "F2Pool stratum hosts (btc.f2pool.com, eth.f2pool.com:8008)"),
    ("antpool.com", "AntPool stratum (stratum.antpool.com, ss.antpool.com)"),
    ("ethermine.org", "Ethermine (eu1.ethermine.org:4444)"),
    ("2miners.com", "2Miners per-coin pools (eth.2miners.com:2020 ...)"),
    ("hashvault.pro", "HashVault Monero-family pools (pool.hashvault.pro:3333)"),
    ("herominers.com", "HeroMiners per-coin pools"),
    ("c3pool.com", "C3Pool Monero pool (mine.c3pool.com)"),
    ("unmineable.com", "unMineable pools (rx.unmineable.com:3333)"),
    ("hiveon.net", "Hiveon pool stratum hosts"),
    ("flexpool.io", "Flexpool stratum hosts"),
    ("ezil.me", "Ezil.me pools"),
    ("viabtc.com", "ViaBTC pool stratum (btc.viabtc.com:3333)"),
    ("poolin.com", "Poolin stratum hosts (btc.ss.poolin.com)"),
    ("poolin.one", "Poolin TLS stratum hosts (*.ss.poolin.one:443)"),
    ("slushpool.com", "Slush Pool (stratum.slushpool.com)"),
    ("bitminter.com", "BitMinter (us1.bitminter.com, mint.bitminter.com:3333)"),
    ("dwarfpool.com", "DwarfPool (eth-*.dwarfpool.com:8008)"),
    ("minexmr.com", "MineXMR (pool.minexmr.com:4444), closed 2022, still configured by malware"),
    ("crazypool.org", "CrazyPool per-coin pools (etc.crazypool.org, ubq.crazypool.org)"),
    ("woolypooly.com", "WoolyPooly per-coin pools"),
    ("luckpool.net", "LuckPool (Verus, port 3956)"),
    ("zpool.ca", "zpool multi-algorithm pool"),
    ("prohashing.com", "Prohashing multi-coin pool"),
    ("miningpoolhub.com", "Mining Pool Hub per-coin hosts (ethereum.miningpoolhub.com ...)"),
    ("suprnova.cc", "Suprnova pools"),
    ("litecoinpool.org", "litecoinpool.org Litecoin pool (stratum litecoinpool.org:3333)"),
    ("emcd.io", "EMCD pool"),
    ("k1pool.com", "K1Pool multi-coin pool (miningpoolstats listing)"),
    ("kryptex.network", "Kryptex pool stratum hosts"),
    ("rplant.xyz", "rplant pool"),
    ("zergpool.com", "Zergpool multi-algorithm pool"),
    ("mining-dutch.nl", "Mining-Dutch pools"),
    ("ckpool.org", "ckpool / solo.ckpool.org"),
    ("xmrpool.eu", "xmrpool.eu Monero pool (in Maltrail and minerchk pool lists)"),
    ("monerohash.com", "MoneroHash Monero pool (in Maltrail and minerchk pool lists)"),
    ("gntl.uk", "GNTL Monero-family pools"),
    ("fairhash.org", "FairHash pools"),
    ("miningocean.org", "MiningOcean pools"),
    ("acepool.top", "AcePool per-coin pools (beam.acepool.top)"),
    ("baikalmine.com", "BaikalMine per-coin pools (bittube.baikalmine.com ...)"),
    ("sparkpool.com", "SparkPool (closed 2021, still configured by old miners)"),
    ("spiderpool.com", "SpiderPool stratum hosts"),
)

# Brands whose main domain is not a pool: only the pool host names are listed (exact+subdomains).
POOL_HOSTS: tuple[tuple[str, str], ...] = (
    ("pool.binance.com", "Binance Pool stratum hosts (btc.poolbinance.com ...) - not the exchange"),
    ("poolbinance.com", "Binance Pool stratum domain"),
    ("ss.btc.com", "BTC.com pool stratum (eu.ss.btc.com:1800)"),
    ("pool.btc.com", "BTC.com pool web/stratum"),
    ("stratum.kano.is", "KanoPool stratum"),
    ("donate.v2.xmrig.com", "XMRig built-in donation pool (xmrig.com itself is the download site)"),
    ("donate.ssl.xmrig.com", "XMRig built-in donation pool over TLS (:443)"),
    ("stratum.braiins.com", "Braiins Pool stratum (braiins.com also sells firmware/tools)"),
)

BROWSER_MINERS: tuple[tuple[str, str], ...] = (
    ("coinhive.com", "Coinhive browser miner (shut down 2019, still embedded in hacked sites)"),
    ("coin-hive.com", "Coinhive alternate domain"),
    ("authedmine.com", "Coinhive opt-in miner (ws*.authedmine.com websockets)"),
    ("crypto-loot.com", "Crypto-Loot browser miner"),
    ("cryptoloot.pro", "Crypto-Loot domain"),
    ("jsecoin.com", "JSEcoin browser miner"),
    ("webmine.cz", "WebMine browser miner"),
    ("minero.cc", "Minero browser miner"),
    ("cryptonoter.com", "CryptoNoter browser miner"),
    ("coinimp.com", "CoinImp browser miner"),
    ("webminepool.com", "WebMinePool browser miner"),
    ("monerominer.rocks", "MoneroMiner browser miner"),
    ("ppoi.org", "PPoi browser miner"),
    ("minemytraffic.com", "MineMyTraffic browser miner"),
)

POOL_PORT_PRIOR: frozenset[int] = frozenset(
    {3333, 4444, 5555, 7777, 8888, 9999, 14433, 14444, 10300, 10343, 45700, 45560, 9200, 1800,
     8008, 15555, 33333}
)  # fmt: skip
POOL_PORT_RANGES: tuple[tuple[int, int], ...] = ((10001, 18192), (20001, 28192))


def builtin_entries() -> Iterator[Entry]:
    """The curated list as entries of source `builtin` (pool and browser-miner categories)."""
    for group, category, conf in (
        (POOLS, Category.POOL, POOL_CONFIDENCE),
        (POOL_HOSTS, Category.POOL, POOL_CONFIDENCE),
        (BROWSER_MINERS, Category.BROWSER_MINER, BROWSER_CONFIDENCE),
    ):
        for line, (name, why) in enumerate(group, 1):
            yield parse_item(
                name, source=SOURCE, category=category, confidence=conf, raw=why, line=line
            )


def _prior_table() -> npt.NDArray[np.bool_]:
    table = np.zeros(65536, dtype=bool)
    table[list(POOL_PORT_PRIOR)] = True
    for lo, hi in POOL_PORT_RANGES:
        table[lo : hi + 1] = True
    # "5" + a prior port (zpool-style TLS ports), where that is still a port number
    for port in POOL_PORT_PRIOR:
        tls = int(f"5{port}")
        if tls < 65536:
            table[tls] = True
    return table


_PRIOR = _prior_table()


def port_prior(ports: npt.NDArray[np.uint16]) -> npt.NDArray[np.bool_]:
    """Which server ports are well-known pool ports (vectorised)."""
    prior: npt.NDArray[np.bool_] = _PRIOR[ports]
    return prior
