"""The compiled, immutable block-list matcher the scanners query per batch.

Build once per list version, swap the reference atomically on reload (nothing inside ever
changes, all arrays are read-only), share it between threads freely.

Precedence, everywhere: the most specific match wins — longest prefix (a port adds 16 bits of
specificity, a protocol 1 more), longest domain suffix — then, at equal specificity, an allowlist
entry beats a block entry (an explicit exception), then higher confidence, then the earlier
entry. A broad allowlist (a whole CDN) therefore does *not* hide a specific pool address inside
it; use a separate `Matcher` of warning ranges for "needs a second signal" (list-pitfalls §1).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from blacklist.columns import CODES, Prefixes, ranks
from blacklist.entries import TCP, UDP, Category, Entry, Kind
from blacklist.intervals import I32, I64, U64
from blacklist.namehash import name_table
from blacklist.syntax import EntryError, canonical_domain, parse_item

_M64 = (1 << 64) - 1
_HI_SHIFT = 40  # IPv6 pre-filter cells: the top 24 bits of the address


class Matcher:
    """IP/prefix/endpoint intervals plus a domain-suffix table, compiled from entries."""

    __slots__ = (
        "_by_name",
        "_cover_hi",
        "_dom_self",
        "_dom_sub",
        "_entries",
        "_map24",
        "_name_table",
        "_port_has",
        "_ports",
        "_rank",
        "_v4",
        "_v4p",
        "_version",
        "_wide",
        "_widep",
    )

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._entries = tuple(entries)
        self._version: str | None = None
        self._by_name: dict[str, list[int]] | None = None
        n = len(self._entries)
        pre = Prefixes(self._entries)
        self._rank = rank = ranks(self._entries, pre)
        self._dom_self: dict[str, int] = {}
        self._dom_sub: dict[str, int] = {}
        is_ip = np.zeros(n, dtype=bool)
        is_ip[pre.entry] = True
        for i in np.flatnonzero(~is_ip).tolist():  # best entry per exact name / covering suffix
            e = self._entries[i]
            for table in (self._dom_self, self._dom_sub) if e.subdomains else (self._dom_self,):
                if rank[i] > rank[table.get(e.value, n)]:
                    table[e.value] = i
        self._v4, self._wide = pre.build(rank, ports=False)
        self._v4p, self._widep = pre.build(rank, ports=True)
        port_has = np.zeros(3 * 65536, dtype=bool)
        port_has[pre.gid[pre.port > 0]] = True
        self._port_has = port_has
        self._ports = bool(port_has.any())
        self._prefilters()
        for a in (self._rank, self._port_has):
            a.flags.writeable = False

    def _prefilters(self) -> None:
        """Derived maps: /24 cells (bit 0: address entries, bit 1: port entries) and top-24-bit
        IPv6 cells, 16 MiB each, only when such entries exist (pages stay untouched where no
        entry is). Rebuilt after unpickling instead of shipped."""
        self._name_table = name_table([*self._dom_self, *self._dom_sub])
        self._map24: npt.NDArray[np.uint8] | None = None
        self._cover_hi: npt.NDArray[np.uint8] | None = None
        if len(self._v4) or len(self._v4p):
            self._map24 = np.zeros(1 << 24, dtype=np.uint8)
            self._v4.paint24(self._map24, 1)
            self._v4p.paint24(self._map24, 2)
            self._map24.flags.writeable = False
        if len(self._wide) or len(self._widep):
            self._cover_hi = np.zeros(1 << (64 - _HI_SHIFT), dtype=np.uint8)
            self._wide.paint_hi(self._cover_hi, _HI_SHIFT)
            self._widep.paint_hi(self._cover_hi, _HI_SHIFT)
            self._cover_hi.flags.writeable = False

    def __getstate__(self) -> dict[str, Any]:
        """Pickle for worker processes and hot swaps: without derived maps and lazy caches."""
        skip = {"_map24", "_cover_hi", "_by_name", "_name_table"}
        return {k: getattr(self, k) for k in self.__slots__ if k not in skip}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            if isinstance(v, np.ndarray):
                v.flags.writeable = False
            object.__setattr__(self, k, v)
        self._by_name = None
        self._prefilters()

    # -- container ------------------------------------------------------------------------------

    @property
    def entries(self) -> tuple[Entry, ...]:
        return self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def name_table(self) -> npt.NDArray[np.uint64]:
        """Hashes of every listed name and covering suffix (`detector.screen`)."""
        return self._name_table

    @property
    def version(self) -> str:
        """Stable content hash (order-free; ignores raw text and line numbers). Lazy: ~1 s/1M."""
        if self._version is None:
            digest = hashlib.sha256()
            for line in sorted({e.canonical() for e in self._entries}):
                digest.update(line.encode())
                digest.update(b"\n")
            self._version = digest.hexdigest()[:16]
        return self._version

    # -- addresses ------------------------------------------------------------------------------

    def lookup(
        self,
        hi: U64,
        lo: U64,
        port: npt.NDArray[Any] | None = None,
        proto: npt.NDArray[Any] | None = None,
    ) -> I32:
        """Best entry index per address (−1: no match); addresses as 128-bit (hi, lo) words.

        IPv4 comes IPv4-mapped (hi = 0, lo = 0xFFFF_0000_0000 | v4). `port` (destination port)
        enables endpoint entries; `proto` (6/17) enables their protocol — without it a
        protocol-constrained endpoint matches on port alone.
        """
        hi, lo = np.asarray(hi, dtype=np.uint64), np.asarray(lo, dtype=np.uint64)
        mapped = (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
        v4 = (lo & np.uint64(0xFFFF_FFFF)).astype(np.uint32)
        if mapped.all():
            return self._lookup_v4(v4, port, proto)
        out = np.full(len(hi), -1, dtype=np.int32)
        for sel, v4_side in ((np.flatnonzero(mapped), True), (np.flatnonzero(~mapped), False)):
            if not len(sel):
                continue
            p = None if port is None else np.asarray(port)[sel]
            q = None if proto is None else np.asarray(proto)[sel]
            if v4_side:
                out[sel] = self._lookup_v4(v4[sel], p, q)
            else:
                out[sel] = self._lookup_wide(hi[sel], lo[sel], p, q)
        return out

    def lookup_v4(
        self,
        v4: npt.NDArray[Any],
        port: npt.NDArray[Any] | None = None,
        proto: npt.NDArray[Any] | None = None,
    ) -> I32:
        """`lookup` for plain IPv4 addresses as unsigned 32-bit ints."""
        return self._lookup_v4(np.asarray(v4).astype(np.uint32, copy=False), port, proto)

    def _better(self, a: I32, b: I32) -> I32:
        return np.where(self._rank[b] > self._rank[a], b, a)

    def _port_gids(
        self, port: npt.NDArray[Any], proto: npt.NDArray[Any] | None
    ) -> list[tuple[I64, I64]]:
        """(row selection, gid) per protocol code worth asking, each with ports on the list."""
        port = np.asarray(port).astype(np.int64)
        codes: list[tuple[int, npt.NDArray[np.bool_] | None]] = [(0, None)]
        if proto is None:
            codes += [(1, None), (2, None)]
        else:
            pr = np.asarray(proto)
            codes += [(1, pr == TCP), (2, pr == UDP)]
        out = []
        for code, when in codes:
            gid = code * 65536 + port
            has = self._port_has[gid] if when is None else self._port_has[gid] & when
            sel = np.flatnonzero(has)
            if len(sel):
                out.append((sel, gid[sel]))
        return out

    def _lookup_v4(
        self,
        v4: npt.NDArray[np.uint32],
        port: npt.NDArray[Any] | None,
        proto: npt.NDArray[Any] | None,
    ) -> I32:
        if self._map24 is None:
            return np.full(len(v4), -1, dtype=np.int32)
        # The /24 pre-filter pays off when most addresses are not listed (real traffic); a
        # strided sample tells whether this batch is mostly candidates, then it is skipped.
        flags = None
        probe = self._map24[v4[:: max(1, len(v4) // 256)] >> 8]
        if 2 * np.count_nonzero(probe & 1) > len(probe):
            best = self._v4.lookup(v4)
        else:
            flags = self._map24[v4 >> 8]
            cand = np.flatnonzero(flags & 1)
            best = np.full(len(v4), -1, dtype=np.int32)
            if len(cand):
                best[cand] = self._v4.lookup(v4[cand])
        if port is not None and self._ports:
            near = np.flatnonzero((self._map24[v4 >> 8] if flags is None else flags) & 2)
            pr = None if proto is None else np.asarray(proto)[near]
            for sel, gid in self._port_gids(np.asarray(port)[near], pr):
                rows = near[sel]
                best[rows] = self._better(best[rows], self._v4p.lookup(v4[rows], gid))
        return best

    def _lookup_wide(
        self, hi: U64, lo: U64, port: npt.NDArray[Any] | None, proto: npt.NDArray[Any] | None
    ) -> I32:
        best = np.full(len(hi), -1, dtype=np.int32)
        if self._cover_hi is None:
            return best
        cand = np.flatnonzero(self._cover_hi[hi >> np.uint64(_HI_SHIFT)])  # 1 where near
        hi, lo = hi[cand], lo[cand]
        found = self._wide.lookup(np.zeros(len(cand), dtype=np.int64), hi, lo)
        if port is not None and self._ports:
            pr = None if proto is None else np.asarray(proto)[cand]
            for sel, gid in self._port_gids(np.asarray(port)[cand], pr):
                found[sel] = self._better(found[sel], self._widep.lookup(gid, hi[sel], lo[sel]))
        best[cand] = found
        return best

    # -- names and explanations -----------------------------------------------------------------

    def match_domain(self, name: str) -> int:
        """Best entry index for a DNS name (query, SNI, Host), −1 if none; O(labels)."""
        name = name.lower().rstrip(".") if name.isascii() else _idna(name)
        i = self._dom_self.get(name, -1)
        if i >= 0:
            return i
        dot = name.find(".")
        while dot >= 0:
            i = self._dom_sub.get(name[dot + 1 :], -1)
            if i >= 0:
                return i
            dot = name.find(".", dot + 1)
        return -1

    def explain(self, value: str) -> list[Entry]:
        """Every entry matching an IP, `IP:port[/proto]` or domain, best first ([] if invalid)."""
        try:
            q = parse_item(value, category=Category.ALLOWLIST)  # no public-space check here
        except EntryError:
            return []
        if q.kind is Kind.DOMAIN:
            return [self._entries[i] for i in self._explain_domain(q.value)]
        assert q.network is not None
        ids = set(self._chains(0, int(q.network.network_address), q.network.version, False))
        if q.port is not None:
            for code in (0, CODES[q.proto]) if q.proto is not None else (0, 1, 2):
                gid = code * 65536 + q.port
                ids.update(
                    self._chains(gid, int(q.network.network_address), q.network.version, True)
                )
        if q.kind is Kind.CIDR:  # only entries covering the whole queried prefix
            ids = {i for i in ids if _covers(self._entries[i], q)}
        return [self._entries[i] for i in sorted(ids, key=lambda i: -self._rank[i])]

    def _chains(self, gid: int, addr: int, version: int, ports: bool) -> list[int]:
        v4, wide = (self._v4p, self._widep) if ports else (self._v4, self._wide)
        if version == 4:
            return v4.chain(addr, gid)
        return wide.chain(addr >> 64, addr & _M64, gid)

    def _explain_domain(self, name: str) -> list[int]:
        if self._by_name is None:  # built on first use: explain is for analysts, not packets
            by_name: dict[str, list[int]] = {}
            for i, e in enumerate(self._entries):
                if e.kind is Kind.DOMAIN:
                    by_name.setdefault(e.value, []).append(i)
            self._by_name = by_name
        labels, out = name.split("."), []
        for k in range(len(labels)):
            hits = self._by_name.get(".".join(labels[k:]), [])
            hits = [i for i in hits if k == 0 or self._entries[i].subdomains]
            out += sorted(hits, key=lambda i: -self._rank[i])
        return out


def _covers(e: Entry, q: Entry) -> bool:
    """Whether entry `e`'s prefix contains all of query `q`'s prefix."""
    a, b = e.network, q.network
    if a is None or b is None or a.version != b.version:
        return False
    first, last = int(a.network_address), int(a.broadcast_address)
    return first <= int(b.network_address) and int(b.broadcast_address) <= last


@functools.lru_cache(maxsize=4096)
def _idna(name: str) -> str:
    """`canonical_domain`, "" for invalid names; remembered because the IDNA codec costs ~20 µs
    a name and traffic asks for the same few non-ASCII names again and again."""
    try:
        return canonical_domain(name)
    except EntryError:
        return ""
