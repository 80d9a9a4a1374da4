"""Linux kernel sets: ipset (`ipset restore`) and nftables (`nft -f`).

ipset: addresses in `hash:net` sets, endpoints in `hash:ip,port` sets (`192.0.2.10,tcp:3333`;
an endpoint with any protocol is a tcp and a udp element), one set per family (`minewatch-ip4`,
`minewatch-ip6`, `minewatch-ep4`, `minewatch-ep6`). The full list fills a `-new` set and swaps
it in, so a reload is atomic and never leaves the set empty; every element carries its
provenance as a `comment`. Diff: `add … -exist` / `del … -exist` lines for the live sets.

nftables: table `inet minewatch` with interval sets `mw_ip4`/`mw_ip6`, endpoint sets
`mw_ep4`/`mw_ep6` (`ipv4_addr . inet_proto . inet_service`). A file is one transaction: the
sets are created if missing, flushed and refilled. Interval sets refuse overlapping elements,
so a prefix inside another listed prefix folds into the covering one. Diff: `add element` /
`delete element`. Rules (not emitted): `ip daddr @mw_ip4 drop`,
`ip daddr . meta l4proto . th dport @mw_ep4 drop`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence

from blacklist.render.model import Format, ListType, Member, Meta, header, provenance

IPSET_PREFIX = "minewatch"
NFT_TABLE = "inet minewatch"
_SETS = {ListType.IP: "ip", ListType.ENDPOINT: "ep"}


def _ipset_elem(m: Member, proto: str) -> str:
    if m.port:
        return f"{m.addr},{proto}:{m.port}"
    return m.addr if m.plen == (32 if m.family == 4 else 128) else f"{m.addr}/{m.plen}"


def _maxelem(n: int) -> int:
    size = 65536
    while size < n:
        size *= 2
    return size


class Ipset(Format):
    name = "ipset"
    types = frozenset({ListType.IP, ListType.ENDPOINT})
    has_diff = True

    def set_name(self, ltype: ListType, family: int) -> str:
        return f"{IPSET_PREFIX}-{_SETS[ltype]}{family}"

    def elements(self, members: Sequence[Member], ltype: ListType) -> dict[str, Member]:
        out: dict[str, Member] = {}
        for m in members:
            for proto in m.protos if m.port else ("",):
                out[f"{self.set_name(ltype, m.family)} {_ipset_elem(m, proto)}"] = m
        return out

    def render(self, members: Sequence[Member], meta: Meta) -> Iterator[str]:
        yield from header(meta, self)
        kind = "hash:ip,port" if meta.ltype is ListType.ENDPOINT else "hash:net"
        elems = self.elements(members, meta.ltype)
        for family, inet in ((4, "inet"), (6, "inet6")):
            live = self.set_name(meta.ltype, family)
            new = live + "-new"
            mine = [(k, m) for k, m in elems.items() if m.family == family]
            opts = f"{kind} family {inet} maxelem {_maxelem(len(mine))} comment"
            yield f"create {live} {opts} -exist\ncreate {new} {opts} -exist\nflush {new}\n"
            for i in range(0, len(mine), 4096):
                yield "".join(
                    f'add {new} {k.partition(" ")[2]} comment "{provenance(m, 200)}"\n'
                    for k, m in mine[i : i + 4096]
                )
            yield f"swap {new} {live}\ndestroy {new}\n"

    def render_diff(
        self, added: Sequence[tuple[str, Member]], removed: Sequence[tuple[str, Member]],
        meta: Meta,
    ) -> Iterator[str]:  # fmt: skip
        yield from header(meta, self)
        yield "".join(f"del {k} -exist\n" for k, _ in removed)
        yield "".join(f'add {k} comment "{provenance(m, 200)}" -exist\n' for k, m in added)


def fold(members: Sequence[Member]) -> list[Member]:
    """Drop address members inside an earlier, broader member of the same family (members are
    sorted by family, address, prefix length: a covering prefix comes first)."""
    out: list[Member] = []
    cover: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    for m in members:
        net = m.network
        if cover is not None and cover.version == net.version and net.subnet_of(cover):  # type: ignore[arg-type]
            continue
        out.append(m)
        cover = net if m.plen < net.max_prefixlen else cover
    return out


class Nft(Format):
    name = "nft"
    types = frozenset({ListType.IP, ListType.ENDPOINT})
    has_diff = True

    def set_name(self, ltype: ListType, family: int) -> str:
        return f"mw_{_SETS[ltype]}{family}"  # `ip6` alone is an nft keyword

    def elements(self, members: Sequence[Member], ltype: ListType) -> dict[str, Member]:
        out: dict[str, Member] = {}
        if ltype is ListType.IP:
            for m in fold(members):
                out[f"{self.set_name(ltype, m.family)} {m.value}"] = m
            return out
        for m in members:
            for proto in m.protos:
                out[f"{self.set_name(ltype, m.family)} {m.addr} . {proto} . {m.port}"] = m
        return out

    def _set_def(self, ltype: ListType, family: int) -> str:
        addr = "ipv4_addr" if family == 4 else "ipv6_addr"
        if ltype is ListType.IP:
            return f"type {addr}; flags interval;"
        return f"type {addr} . inet_proto . inet_service;"

    def render(self, members: Sequence[Member], meta: Meta) -> Iterator[str]:
        yield from header(meta, self)
        elems = self.elements(members, meta.ltype)
        yield f"add table {NFT_TABLE}\n"
        for family in (4, 6):
            name = self.set_name(meta.ltype, family)
            yield f"add set {NFT_TABLE} {name} {{ {self._set_def(meta.ltype, family)} }}\n"
            yield f"flush set {NFT_TABLE} {name}\n"
            mine = [(k, m) for k, m in elems.items() if m.family == family]
            for i in range(0, len(mine), 4096):
                items = ", ".join(self._item(k, m) for k, m in mine[i : i + 4096])
                yield f"add element {NFT_TABLE} {name} {{ {items} }}\n"

    @staticmethod
    def _item(key: str, m: Member) -> str:
        return f'{key.partition(" ")[2]} comment "{provenance(m, 100)}"'

    def render_diff(
        self, added: Sequence[tuple[str, Member]], removed: Sequence[tuple[str, Member]],
        meta: Meta,
    ) -> Iterator[str]:  # fmt: skip
        yield from header(meta, self)
        for k, _ in removed:
            name, _, elem = k.partition(" ")
            yield f"delete element {NFT_TABLE} {name} {{ {elem} }}\n"
        for k, m in added:
            name = k.partition(" ")[0]
            yield f"add element {NFT_TABLE} {name} {{ {self._item(k, m)} }}\n"
