"""Allowlists: CDN, cloud, public DNS, sinkholes, private space, the operator's own ranges.

Allowlist entries are ordinary entries of category `allowlist` (MISP warning-lists, the
operator allowlist file, manual entries with `--category allowlist`). They act twice:

1. Inside the compiled `Matcher` (all entries together) the most specific entry wins; at equal
   specificity an allowlist entry beats a block entry. So `104.16.0.0/13` (Cloudflare) in an
   allowlist does *not* hide a pool's `104.16.1.2` listed by a feed — the matcher reports the
   feed entry, because it is more specific (`blacklist.matcher` docstring).
2. `AllowIndex` answers the question the matcher does not: "is this address inside *any*
   allowlisted range, whatever else lists it?". An address there must never be blocked or
   alerted on a list's word alone (list-pitfalls §1): the detector asks `contains(hi, lo)` for
   ip-list evidence and then requires a second signal (payload, SNI/DNS name), and exported
   block lists (`active_blocklist`) leave such list-only entries out — a block CIDR that only
   overlaps an allowlisted range is left out too (exporting it would block allowlisted
   addresses). Entries of the sources in `CONFIRMED` (`manual`: an analyst's word; `learned`:
   a Stratum signature or a pool name's DNS answer seen on the wire) are evidence, not a list's
   word, and are kept. Regulator entries (the weekly list of mining IPs, mostly subscriber
   addresses to verify) are never block entries. A block domain at or below an allowlisted
   name is left out; a block domain above an allowlisted name (block `*.example.com`, allow
   `cdn.example.com`) is kept — DNS exports can express the exception, address lists cannot.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from blacklist.entries import Category, Entry, Kind
from blacklist.matcher import Matcher
from blacklist.syntax import EntryError, parse_item

CONFIRMED = frozenset({"manual", "learned"})
# not pool evidence: exceptions, and the regulator's subscriber addresses to verify
NOT_BLOCKING = frozenset({Category.ALLOWLIST, Category.REGULATOR})
_MAPPED = 0xFFFF << 32
_M64 = (1 << 64) - 1


class AllowIndex:
    """The allowlist entries of a list, compiled on their own (a `Matcher` of only them)."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        allow = [e for e in entries if e.category is Category.ALLOWLIST]
        self.matcher = Matcher(allow)
        # prefix starts per IP version, sorted, for "an allowlisted range begins inside X"
        starts: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for i, e in enumerate(allow):
            if e.network is not None and e.port is None:
                starts[e.network.version].append((int(e.network.network_address), i))
        for v in starts:
            starts[v].sort()
        self._starts = {v: [a for a, _ in s] for v, s in starts.items()}
        self._owner = {v: [i for _, i in s] for v, s in starts.items()}

    def __len__(self) -> int:
        return len(self.matcher)

    def contains(
        self, hi: npt.NDArray[Any], lo: npt.NDArray[Any], port: npt.NDArray[Any] | None = None
    ) -> npt.NDArray[np.bool_]:
        """Which addresses (128-bit words, IPv4-mapped) lie in an allowlisted range."""
        found: npt.NDArray[np.bool_] = self.matcher.lookup(hi, lo, port) >= 0
        return found

    def contains_v4(self, v4: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
        found: npt.NDArray[np.bool_] = self.matcher.lookup_v4(v4) >= 0
        return found

    def match(self, value: str) -> Entry | None:
        """The allowlist entry covering an IP, IP:port, CIDR or domain (most specific), if any."""
        found = self.matcher.explain(value)
        return found[0] if found else None

    def overlapping(self, e: Entry) -> Entry | None:
        """An allowlist entry that covers or overlaps block entry `e`, if any."""
        return self.overlapping_many([e])[0]

    def overlapping_many(self, entries: list[Entry]) -> list[Entry | None]:
        """`overlapping` for many entries: one vectorised lookup for all address entries."""
        out: list[Entry | None] = [None] * len(entries)
        if not len(self.matcher):
            return out
        rows = [i for i, e in enumerate(entries) if e.network is not None]
        nets = [entries[i].network for i in rows]
        words = [
            (0, _MAPPED | int(n.network_address))
            if n.version == 4
            else (int(n.network_address) >> 64, int(n.network_address) & _M64)
            for n in nets
            if n is not None
        ]
        hi = np.array([w[0] for w in words], dtype=np.uint64)
        lo = np.array([w[1] for w in words], dtype=np.uint64)
        port = np.array([entries[i].port or 0 for i in rows], dtype=np.int64)
        found = self.matcher.lookup(hi, lo, port).tolist() if rows else []
        for i, net, f in zip(rows, nets, found, strict=True):
            assert net is not None
            if f >= 0:
                out[i] = self.matcher.entries[f]
            elif net.num_addresses > 1:  # a block prefix: does an allowlisted one start inside?
                starts = self._starts[net.version]
                j = bisect.bisect_right(starts, int(net.network_address))
                if j < len(starts) and starts[j] <= int(net.broadcast_address):
                    out[i] = self.matcher.entries[self._owner[net.version][j]]
        for i, e in enumerate(entries):
            if e.kind is Kind.DOMAIN:
                k = self.matcher.match_domain(e.value)
                out[i] = self.matcher.entries[k] if k >= 0 else None
        return out


@dataclass(frozen=True, slots=True)
class BlockList:
    """What an exporter may publish: `kept` entries, and the `suppressed` ones with the
    allowlist entry that keeps each out. Allowlist and regulator entries are never block
    entries (the regulator's list names subscriber addresses to verify, not pools)."""

    kept: list[Entry] = field(default_factory=list)
    suppressed: list[tuple[Entry, Entry]] = field(default_factory=list)


def active_blocklist(entries: Iterable[Entry], allow: AllowIndex | None = None) -> BlockList:
    """Block entries for export: allowlist entries dropped, list-only entries inside (or
    overlapping) allowlisted ranges suppressed; `CONFIRMED` sources always kept."""
    entries = list(entries)
    allow = AllowIndex(entries) if allow is None else allow
    out = BlockList()
    blocks = [e for e in entries if e.category not in NOT_BLOCKING]
    listed = [e for e in blocks if e.source not in CONFIRMED]
    cover = dict(zip(map(id, listed), allow.overlapping_many(listed), strict=True))
    for e in blocks:
        by = cover.get(id(e))
        if by is None:
            out.kept.append(e)
        else:
            out.suppressed.append((e, by))
    return out


@dataclass(frozen=True, slots=True)
class CheckResult:
    """`feeds check`: every entry matching a value, and whether it counts as listed."""

    value: str
    matches: list[Entry]  # best first, allowlist and regulator entries included
    suppressed_by: Entry | None  # the allowlist entry covering the value, if any
    listed: bool  # a block entry that is confirmed, or not inside an allowlist
    to_verify: bool = False  # on the regulator's list (a subscriber address, not a pool)


def check_value(matcher: Matcher, allow: AllowIndex, value: str) -> CheckResult:
    """Explain an IP, IP:port or domain against a compiled list (ValueError if invalid)."""
    try:
        parse_item(value, category=Category.ALLOWLIST)
    except EntryError as exc:
        raise ValueError(exc.reason) from exc
    matches = matcher.explain(value)
    cover = allow.match(value)
    blocks = [e for e in matches if e.category not in NOT_BLOCKING]
    listed = any(e.source in CONFIRMED or cover is None for e in blocks)
    to_verify = any(e.category is Category.REGULATOR for e in matches)
    return CheckResult(value, matches, cover, listed, to_verify)
