"""Entries as numpy columns: the step between Python objects and the compiled indexes.

Reading 1M entries costs one comprehension per attribute (~50–150 ns an entry each) and
numpy after that; a per-entry Python loop would cost ~5 µs an entry, 5 s for a 1M list. Entries
whose memory order follows list order (as parsed feeds do) read ~5× faster than shuffled ones.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from itertools import compress

import numpy as np

from blacklist.entries import TCP, UDP, Category, Entry, Kind
from blacklist.intervals import I64, V4Index, WideIndex

MAPPED = 0xFFFF << 32  # ::ffff:0:0 as a 128-bit int
M64 = (1 << 64) - 1
CODES = {None: 0, TCP: 1, UDP: 2}  # port groups: gid = code * 65536 + port
_KIND_CODE = {k: i for i, k in enumerate(Kind)}
_PROTO_CODE = np.zeros(256, dtype=np.int64)
_PROTO_CODE[TCP], _PROTO_CODE[UDP] = 1, 2


class Prefixes:
    """Column form of every ip/cidr/endpoint entry; `build` makes the index pair of one side
    (address entries, or port-constrained entries in (proto, port) groups)."""

    def __init__(self, entries: tuple[Entry, ...]) -> None:
        kind = np.array([_KIND_CODE[e.kind] for e in entries], dtype=np.int8)
        self.entry = np.flatnonzero(kind != _KIND_CODE[Kind.DOMAIN])
        ip = [net for net in (e.network for e in entries) if net is not None]
        is4 = [type(net) is IPv4Network for net in ip]
        self.is4 = np.array(is4, dtype=bool)
        self.plen = np.where(self.is4, 32, 128)  # ip/endpoint entries are single addresses
        cidr = np.flatnonzero(kind[self.entry] == _KIND_CODE[Kind.CIDR])
        self.plen[cidr] = [ip[k].prefixlen for k in cidr.tolist()]
        self.port = np.array([e.port or 0 for e in entries], dtype=np.int64)[self.entry]
        proto = np.array([e.proto or 0 for e in entries], dtype=np.int64)[self.entry]
        self.code = _PROTO_CODE[proto]
        self.v4 = np.zeros(len(ip), dtype=np.int64)
        self.v4[self.is4] = [int(net.network_address) for net in compress(ip, is4)]
        rows6 = np.flatnonzero(~self.is4)
        a6 = [int(net.network_address) for net in compress(ip, [not f for f in is4])]
        e6 = [
            a | ((1 << (128 - p)) - 1) for a, p in zip(a6, self.plen[rows6].tolist(), strict=True)
        ]
        self.hi, self.lo, self.ehi, self.elo = (np.zeros(len(ip), np.uint64) for _ in range(4))
        for col, words in ((self.hi, a6), (self.ehi, e6)):
            col[rows6] = np.array([w >> 64 for w in words], dtype=np.uint64)
        for col, words in ((self.lo, a6), (self.elo, e6)):
            col[rows6] = np.array([w & M64 for w in words], dtype=np.uint64)
        self.extra: list[tuple[int, int, int]] = []  # (row, first, last): IPv4 parts of IPv6 rows
        top = MAPPED | 0xFFFF_FFFF
        for j in [j for j, a in enumerate(a6) if a <= top and e6[j] >= MAPPED]:  # rare
            k, start, end = int(rows6[j]), a6[j], e6[j]
            if start >= MAPPED:  # inside ::ffff:0:0/96: an IPv4 prefix in disguise
                self.is4[k], self.v4[k], self.plen[k] = True, start - MAPPED, self.plen[k] - 96
            elif end >= top:  # ::/0, ::/8 ... also cover all of IPv4
                self.extra.append((k, 0, 0xFFFF_FFFF))
        self.gid = np.where(self.port > 0, self.code * 65536 + self.port, 0)

    def spec(self) -> I64:
        """Specificity: prefix bits in the 128-bit space, +16 for a port, +1 for a protocol."""
        spec: I64 = self.plen + 96 * self.is4 + 16 * (self.port > 0) + (self.code > 0)
        return spec

    def build(self, srank: I64, ports: bool) -> tuple[V4Index, WideIndex]:
        side = (self.port > 0) == ports
        r4 = np.flatnonzero(side & self.is4)
        first = self.v4[r4]
        last = first | ((np.int64(1) << (32 - self.plen[r4])) - 1)
        extra = [(k, f, la) for k, f, la in self.extra if side[k]]
        r4 = np.concatenate((r4, np.array([k for k, _, _ in extra], dtype=np.int64)))
        first = np.concatenate((first, np.array([f for _, f, _ in extra], dtype=np.int64)))
        last = np.concatenate((last, np.array([la for _, _, la in extra], dtype=np.int64)))
        ent4 = self.entry[r4]
        v4 = V4Index(self.gid[r4], first, last, srank[ent4], ent4.astype(np.int32))
        r6 = np.flatnonzero(side & ~self.is4)
        ent6 = self.entry[r6]
        wide = WideIndex(
            self.gid[r6],
            self.hi[r6],
            self.lo[r6],
            self.ehi[r6],
            self.elo[r6],
            srank[ent6],
            ent6.astype(np.int32),
        )
        return v4, wide


def ranks(entries: tuple[Entry, ...], pre: Prefixes) -> I64:
    """Each entry's precedence rank (0 = worst); `rank[-1] == -1` stands for "no entry".

    Precedence is packed into one int64 — specificity, allowlist, confidence (µ-units), then
    the earlier entry — with the entry index in the low bits, so one `np.sort` ranks them all.
    """
    n = len(entries)
    bits = max(n - 1, 1).bit_length()
    if 29 + bits > 63:
        raise ValueError(f"too many entries for one matcher: {n}")
    spec = np.zeros(n, dtype=np.int64)
    spec[pre.entry] = pre.spec()
    allowlist = Category.ALLOWLIST
    allow = np.array([e.category is allowlist for e in entries], dtype=np.int64)
    conf = np.rint(np.array([e.confidence for e in entries], dtype=np.float64) * 1e6)
    later = (1 << bits) - 1 - np.arange(n)
    key = (((spec << 1 | allow) << 20 | conf.astype(np.int64)) << bits) | later
    order = (1 << bits) - 1 - (np.sort(key) & ((1 << bits) - 1))
    rank = np.empty(n + 1, dtype=np.int64)
    rank[order] = np.arange(n)
    rank[n] = -1
    return rank
