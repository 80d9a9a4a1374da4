"""Longest-prefix match over address prefixes, built and queried with numpy only.

Prefixes never partially overlap (they nest or are disjoint), so the best entry for an address is
its deepest covering prefix. `_laminar` labels elementary regions with their deepest prefix
without a Python loop. Sort prefixes by (start asc, end desc, score asc), parents first:
- depth of a prefix = #starts up to it − #ends at or before its start;
- parent = the last earlier prefix one level shallower (one `searchsorted` on depth-major keys);
- the region starting at position p belongs to the last prefix starting at p (the smallest one
  there), or, if none starts there, to the parent of the outermost prefix ending at p.
Identical prefixes nest by score, so the best is deepest and the rest stay reachable through
`parent`, which `explain` walks.

Two key spaces, both reduced to int64 positions:
- `V4Index`: IPv4 offsets with a group in the high bits (`group << 33 | offset`; the end of a /0
  is 2^32) — exact, no ranking needed. Groups keep (proto, port) spaces apart.
- `WideIndex`: (group, hi, lo) 128-bit keys, rank-compressed; a query compares all three words
  through one packed int64 key (the rank of each word among the region starts).

Throughput comes from querying in sorted order: binary search over sorted queries is branch-
predictable and cache-local (~10× faster than over random ones), `np.sort` of a uint64 packing
`value << b | position` is ~5× cheaper than `argsort`, and with both sides sorted the search is a
merge that can run from the shorter side.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bools = npt.NDArray[np.bool_]

V4_BITS = 33  # offsets 0..2^32 (2^32 = one past the last IPv4 address)
_HIGH = 1 if sys.byteorder == "little" else 0  # which uint32 half of a uint64 is the high one
_M33 = (1 << V4_BITS) - 1


A = TypeVar("A", bound=np.ndarray[Any, Any])


def _frozen(a: A) -> A:
    """Read-only: a compiled index is shared between threads and swapped, never mutated."""
    a.flags.writeable = False
    return a


def _argsort(values: I64) -> I64:
    """Stable argsort of int64s, via one packed uint64 `np.sort` when value and index fit."""
    n = len(values)
    if not n:
        return np.zeros(0, dtype=np.int64)
    low = int(values.min())
    bits = max(n - 1, 1).bit_length()
    if int(values.max()) - low >= 1 << (64 - bits):
        return np.argsort(values, kind="stable").astype(np.int64)
    v = (values - low).astype(np.uint64)
    packed = np.sort((v << np.uint64(bits)) | np.arange(n, dtype=np.uint64))
    return (packed & np.uint64((1 << bits) - 1)).astype(np.int64)


def _merge_find(starts: npt.NDArray[Any], keys: npt.NDArray[Any]) -> I64:
    """Index of the last start ≤ key for *sorted* keys (−1 if none).

    Both sides are sorted, so this is a merge: search whichever side is shorter into the other
    (placing R starts among n keys, then a cumulative count, beats n searches when R < n).
    """
    if len(starts) >= len(keys):
        return np.searchsorted(starts, keys, "right").astype(np.int64) - 1
    placed = np.searchsorted(keys, starts, "left")
    return np.cumsum(np.bincount(placed, minlength=len(keys) + 1)[: len(keys)]) - 1


def _distinct(a: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """Sorted distinct values (np.unique's hash path is ~10× slower here on 1M uint64)."""
    s = np.sort(a)
    return s[np.concatenate(([True], s[1:] != s[:-1]))] if len(s) else s


def paint(cells: npt.NDArray[np.uint8], first: I64, last: I64, bit: int) -> None:
    """Set `bit` in every cell within any [first, last] range (ranges may overlap, any order).

    Ranges are merged into disjoint runs first. Few runs are set slice by slice and few covered
    cells directly, so a small list touches only a few pages of a (lazily zeroed) 16 MiB map;
    large lists go through one running sum.
    """
    if not len(first):
        return
    if (first[1:] < first[:-1]).any():
        order = _argsort(first)
        first, last = first[order], last[order]
    reach = np.maximum.accumulate(last)
    new = np.ones(len(first), dtype=bool)
    new[1:] = first[1:] > reach[:-1] + 1  # ranges merge into runs when they touch or overlap
    heads = np.flatnonzero(new)
    starts, ends = first[heads], reach[np.append(heads[1:] - 1, len(first) - 1)]
    if len(starts) <= 256:  # few runs, however wide: one slice each
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            cells[a : b + 1] |= np.uint8(bit)
        return
    sizes = ends - starts + 1
    total = int(sizes.sum())
    if total <= len(cells) // 8:
        offsets = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        cells[np.repeat(starts, sizes) + offsets] |= np.uint8(bit)
        return
    diff = np.zeros(len(cells) + 1, dtype=np.int8)  # disjoint runs: each cell gets ±1 at most
    diff[starts] = 1
    diff[ends + 1] = -1
    cells |= np.cumsum(diff[:-1], dtype=np.int8).view(np.uint8) * np.uint8(bit)


def _dense_rank(keys: I64) -> tuple[I64, I64]:
    """(rank of each key among the distinct keys, the sorted distinct keys)."""
    order = _argsort(keys)
    s = keys[order]
    new = np.ones(len(s), dtype=bool)
    new[1:] = s[1:] != s[:-1]
    rank = np.empty(len(s), dtype=np.int64)
    rank[order] = np.cumsum(new) - 1
    return rank, s[new]


class _Laminar(NamedTuple):
    order: I64  # prefix indexes by (start asc, end desc, score asc)
    parent: I64  # per ordered prefix: ordered index of the enclosing prefix, −1 at the top
    regions: I64  # position ranks that begin a covered region (it ends at the next position)
    cover: I64  # ordered index of the deepest prefix over each region


def _laminar(rs: I64, re: I64, srank: I64, npos: int) -> _Laminar:
    """Regions and parents of nested prefixes given as position ranks [rs, re) + score ranks."""
    n = len(rs)
    bits_p, bits_s = max(npos, 1).bit_length(), max(int(srank.max(initial=0)), 1).bit_length()
    if 2 * bits_p + bits_s <= 63:
        order = _argsort((((rs << bits_p) | (npos - re)) << bits_s) | srank)
    else:
        order = np.lexsort((srank, -re, rs)).astype(np.int64)
    rs_o, re_sorted = rs[order], np.sort(re)
    depth = np.arange(1, n + 1) - np.searchsorted(re_sorted, rs_o, "right")
    dorder = np.argsort(depth.astype(np.uint16 if n < 1 << 16 else np.int64), kind="stable")
    dkeys = depth[dorder] * (n + 1) + dorder

    def last_at(d: I64, upto: I64) -> I64:
        """Ordered index of the last prefix ≤ `upto` with depth `d` (−1 if none)."""
        j = np.searchsorted(dkeys, d * (n + 1) + upto, "right") - 1
        ok = (d > 0) & (j >= 0)
        found = dorder[np.where(ok, j, 0)] if n else j
        return np.where(ok & (depth[found] == d), found, -1) if n else j

    parent = np.empty(n, dtype=np.int64)  # asked in (depth, order) order: already sorted
    parent[dorder] = last_at(depth[dorder] - 1, dorder - 1)
    # Deepest prefix over the region starting at position p: the last prefix starting at p if
    # any (the smallest one there); otherwise p is where prefixes end, and the answer is the
    # parent of the outermost prefix ending at p.
    p = np.arange(npos)
    last_start = np.searchsorted(rs_o, p, "right") - 1
    starts_here = rs_o[np.maximum(last_start, 0)] == p if n else np.zeros(npos, dtype=bool)
    re_o = re[order]
    by_end = _argsort((re_o << max(n, 1).bit_length()) | depth)  # (end, depth) ascending
    ends = re_o[by_end]
    first = np.ones(n, dtype=bool)
    first[1:] = ends[1:] != ends[:-1]
    outer = np.full(npos + 1, -1, dtype=np.int64)
    outer[ends[first]] = by_end[first]
    after_end = np.where(outer[:npos] >= 0, parent[outer[:npos]], -1) if n else outer[:npos]
    cover = np.where(starts_here, last_start, after_end)
    keep = np.flatnonzero(cover >= 0)
    return _Laminar(order, parent, keep, cover[keep])


class _Index:
    """Shared part: per-prefix ids/parents and region → deepest prefix."""

    ids: I32
    parent: I64
    r_id: I32
    r_cov: I64

    def _store(self, lam: _Laminar, ids: I32) -> None:
        self.ids = _frozen(ids[lam.order])
        self.parent = _frozen(lam.parent)
        self.r_cov = _frozen(lam.cover)
        self.r_id = _frozen(self.ids[lam.cover])

    def __len__(self) -> int:
        return len(self.ids)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled arrays come back writeable; an index is read-only wherever it lives."""
        for value in state.values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
        self.__dict__.update(state)

    def _chain(self, region: int) -> list[int]:
        """Ids of every prefix over a region, deepest first."""
        k = int(self.r_cov[region]) if region >= 0 else -1
        out: list[int] = []
        while k >= 0:
            out.append(int(self.ids[k]))
            k = int(self.parent[k])
        return out


class V4Index(_Index):
    """IPv4 prefixes (inclusive offsets `first..last`) in groups; keys `group << 33 | offset`."""

    def __init__(self, gid: I64, first: I64, last: I64, srank: I64, ids: I32) -> None:
        base = gid << V4_BITS
        rank, pos = _dense_rank(np.concatenate((base | first, base | (last + 1))))
        n = len(ids)
        lam = _laminar(rank[:n], rank[n:], srank, len(pos))
        self._store(lam, ids)
        self.r_start: I64 = _frozen(pos[lam.regions])
        self.r_stop: I64 = _frozen(pos[lam.regions + 1])  # exclusive
        self._last = _frozen(self.r_stop - 1)
        plain = self.r_start < (1 << 32)  # group 0 sorts first: 32-bit copies for the hot path
        self._start32 = _frozen(self.r_start[plain].astype(np.uint32))
        self._last32 = _frozen(self._last[plain].astype(np.uint32))

    def lookup(self, v4: npt.NDArray[np.integer[Any]], gid: int | I64 = 0) -> I32:
        """Deepest prefix id per IPv4 address (any int dtype), −1 where none covers it."""
        n = len(v4)
        if not len(self.r_id) or not n:
            return np.full(n, -1, dtype=np.int32)
        keys: npt.NDArray[Any]
        pos: npt.NDArray[Any]
        starts: npt.NDArray[Any]
        lasts: npt.NDArray[Any]
        if isinstance(gid, int) and gid == 0 and n < 1 << 32:
            # Sort (address, position) pairs packed in one uint64; read both halves as views.
            packed = np.empty(n, dtype=np.uint64)
            halves = packed.view(np.uint32).reshape(n, 2)
            halves[:, _HIGH] = v4
            halves[:, 1 - _HIGH] = np.arange(n, dtype=np.uint32)
            packed.sort()
            keys, pos = halves[:, _HIGH], halves[:, 1 - _HIGH]
            starts, lasts = self._start32, self._last32
        else:
            unsorted = (np.asarray(gid, dtype=np.int64) << V4_BITS) | v4
            order = _argsort(unsorted)
            keys, pos, starts, lasts = unsorted[order], order, self.r_start, self._last
        j = _merge_find(starts, np.ascontiguousarray(keys))
        out = np.empty(n, dtype=np.int32)
        out[pos] = np.where((j >= 0) & (keys <= lasts[j]), self.r_id[j], -1)
        return out

    def chain(self, v4: int, gid: int = 0) -> list[int]:
        """Ids of every prefix covering one address, deepest first."""
        key = (gid << V4_BITS) | v4
        j = int(np.searchsorted(self.r_start, key, "right")) - 1
        return self._chain(j if j >= 0 and key < int(self.r_stop[j]) else -1)

    def paint24(self, cells: npt.NDArray[np.uint8], bit: int) -> None:
        """Mark the /24s any region touches, over all groups: the scanner's cheap pre-filter."""
        paint(cells, (self.r_start & _M33) >> 8, (self._last & _M33) >> 8, bit)


class WideIndex(_Index):
    """Prefixes over (group, hi, lo) 128-bit keys; inclusive ends."""

    def __init__(
        self, gid: I64, start_hi: U64, start_lo: U64, end_hi: U64, end_lo: U64, srank: I64, ids: I32
    ) -> None:
        n = len(ids)
        nlo = end_lo + np.uint64(1)  # end + 1, carrying into hi and then into the group
        carry = nlo == 0
        nhi = end_hi + carry.astype(np.uint64)
        pg = np.concatenate((gid, gid + (carry & (nhi == 0))))
        ph, pl = np.concatenate((start_hi, nhi)), np.concatenate((start_lo, nlo))
        order = np.lexsort((pl, ph, pg))
        sg, sh, sl = pg[order], ph[order], pl[order]
        new = np.ones(len(order), dtype=bool)
        new[1:] = (sg[1:] != sg[:-1]) | (sh[1:] != sh[:-1]) | (sl[1:] != sl[:-1])
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.cumsum(new) - 1
        ug, uh, ul = sg[new], sh[new], sl[new]
        lam = _laminar(rank[:n], rank[n:], srank, len(ug))
        self._store(lam, ids)
        keep, nxt = lam.regions, lam.regions + 1
        borrow = (ul[nxt] == 0).astype(np.uint64)
        self.r_gid: I64 = _frozen(ug[keep])
        self.r_shi: U64 = _frozen(uh[keep])
        self.r_slo: U64 = _frozen(ul[keep])
        self.r_ehi: U64 = _frozen(uh[nxt] - borrow)
        self.r_elo: U64 = _frozen(ul[nxt] - np.uint64(1))
        self._gd, self._hd, self._ld = (_distinct(a) for a in (ug[keep], uh[keep], ul[keep]))
        self._dh, self._dl = len(self._hd) + 1, len(self._ld) + 1
        if (len(self._gd) + 1) * self._dh * self._dl >= 1 << 63:
            raise ValueError("too many distinct region keys for one packed int64 key")
        rg = np.searchsorted(self._gd, self.r_gid) + 1
        rh = np.searchsorted(self._hd, self.r_shi) + 1
        rl = np.searchsorted(self._ld, self.r_slo) + 1
        self._rkey = _frozen((rg * self._dh + rh) * self._dl + rl)

    def _find(self, gid: I64, hi: U64, lo: U64) -> I64:
        """Region index per query (−1 if none): each word's rank, packed into one key."""
        pg = np.searchsorted(self._gd, gid, "right")
        exact = (pg > 0) & (self._gd[pg - 1] == gid)
        ph = np.searchsorted(self._hd, hi, "right")
        key = pg * self._dh + np.where(exact, ph, self._dh - 1)
        exact &= (ph > 0) & (self._hd[ph - 1] == hi)
        pl = np.searchsorted(self._ld, lo, "right")
        key = key * self._dl + np.where(exact, pl, self._dl - 1)
        j = np.searchsorted(self._rkey, key, "right") - 1
        ehi, elo = self.r_ehi[j], self.r_elo[j]
        hit = (j >= 0) & (self.r_gid[j] == gid) & ((ehi > hi) | ((ehi == hi) & (elo >= lo)))
        return np.where(hit, j, -1)

    def lookup(self, gid: I64, hi: U64, lo: U64) -> I32:
        """Deepest prefix id per (gid, hi, lo) query, −1 where none covers it."""
        if not len(self.r_id) or not len(hi):
            return np.full(len(hi), -1, dtype=np.int32)
        j = self._find(gid, hi, lo)
        return np.where(j >= 0, self.r_id[j], -1).astype(np.int32)

    def paint_hi(self, cells: npt.NDArray[np.uint8], shift: int) -> None:
        """Mark the `hi >> shift` cells any region touches (pre-filter for 128-bit queries)."""
        sh = np.uint64(shift)
        paint(cells, (self.r_shi >> sh).astype(np.int64), (self.r_ehi >> sh).astype(np.int64), 1)

    def chain(self, hi: int, lo: int, gid: int = 0) -> list[int]:
        """Ids of every prefix covering one address, deepest first."""
        if not len(self.r_id):
            return []
        one = (np.array([gid]), np.array([hi], np.uint64), np.array([lo], np.uint64))
        return self._chain(int(self._find(*one)[0]))
