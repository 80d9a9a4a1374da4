"""RTBH / FlowSpec routes from the block list, and the pure diff between two route sets.

The BGP feed (`rtbh_feed`) keeps what ExaBGP has announced as a set of `Route`s and, on every
list change, emits only the difference: withdraws for routes gone, announces for routes new.
Everything here is pure (sets in, commands out) so the one property that matters can be
tested directly: applying the plan to the old set gives the new set, with no route announced
twice.

Safety stops (a blackhole route drops *all* traffic to the prefix, so a wrong one is an
outage): prefixes shorter than `min_v4`/`min_v6` are refused (a /8 in a feed must never
become a /8 blackhole), and at most `max_routes` routes are announced (the rest are reported,
highest confidence first is kept). Both are reported on every change, never silently.

ExaBGP text-API syntax (Exa-Networks wiki "Text API Reference"):
`announce route 192.0.2.10/32 next-hop 192.0.2.1 community [65535:666]`,
`withdraw route 192.0.2.10/32`, and for FlowSpec
`announce flow route { match { destination 192.0.2.10/32; protocol tcp;
destination-port =3333; } then { discard; } }`. 65535:666 is BLACKHOLE (RFC 7999).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from blacklist.entries import PROTO_NAMES, Entry, Kind, Network

BLACKHOLE = "65535:666"  # RFC 7999
NEXT_HOP_V4 = "192.0.2.1"  # RFC 5737 TEST-NET-1: the usual "route to null0" RTBH next hop
NEXT_HOP_V6 = "100::1"  # RFC 6666 discard-only prefix

Action = Literal["announce", "withdraw"]


@dataclass(frozen=True, slots=True)
class Route:
    """A blackhole prefix (`port is None`) or a FlowSpec drop of one pool endpoint."""

    prefix: Network
    port: int | None = None
    proto: int | None = None  # 6/17, or None: any protocol with that destination port

    @property
    def flow(self) -> bool:
        return self.port is not None

    def sort_key(self) -> tuple[int, int, int, int, int]:
        net = self.prefix
        return (net.version, int(net.network_address), net.prefixlen, self.port or 0,
                self.proto or 0)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Policy:
    """What every blackhole route carries."""

    next_hop_v4: str = NEXT_HOP_V4
    next_hop_v6: str = NEXT_HOP_V6
    communities: tuple[str, ...] = (BLACKHOLE,)

    def __post_init__(self) -> None:
        if ipaddress.ip_address(self.next_hop_v4).version != 4:
            raise ValueError(f"IPv4 next hop expected: {self.next_hop_v4!r}")
        if ipaddress.ip_address(self.next_hop_v6).version != 6:
            raise ValueError(f"IPv6 next hop expected: {self.next_hop_v6!r}")
        for c in self.communities:
            check_community(c)


_COMMUNITY = re.compile(r"([0-9]{1,5}):([0-9]{1,5})")


def check_community(text: str) -> str:
    """A standard community `ASN:VALUE` (both 0..65535); ValueError otherwise."""
    m = _COMMUNITY.fullmatch(text)
    if m is None or int(m[1]) > 65535 or int(m[2]) > 65535:
        raise ValueError(f"not a standard community ASN:VALUE: {text!r}")
    return text


def announce_line(route: Route, policy: Policy) -> str:
    """The ExaBGP text-API command announcing `route`."""
    if route.flow:
        return f"announce flow route {_flow_body(route)}"
    nh = policy.next_hop_v4 if route.prefix.version == 4 else policy.next_hop_v6
    comm = f" community [{' '.join(policy.communities)}]" if policy.communities else ""
    return f"announce route {route.prefix} next-hop {nh}{comm}"


def withdraw_line(route: Route) -> str:
    """The ExaBGP text-API command withdrawing `route` (the NLRI alone identifies it)."""
    if route.flow:
        return f"withdraw flow route {_flow_body(route)}"
    return f"withdraw route {route.prefix}"


def _flow_body(route: Route) -> str:
    net = route.prefix
    dest = f"{net}" if net.version == 4 else f"{net}/0"  # IPv6 flow prefixes carry an offset
    proto = f" protocol {PROTO_NAMES[route.proto]};" if route.proto is not None else ""
    return (f"{{ match {{ destination {dest};{proto} destination-port ={route.port}; }} "
            "then { discard; } }")  # fmt: skip


Command = tuple[Action, Route]


def plan(old: Iterable[Route], new: Iterable[Route]) -> list[Command]:
    """Withdraws of routes only in `old`, then announces of routes only in `new` (each sorted,
    so the output is deterministic)."""
    before, after = set(old), set(new)
    gone = sorted(before - after, key=Route.sort_key)
    added = sorted(after - before, key=Route.sort_key)
    return [("withdraw", r) for r in gone] + [("announce", r) for r in added]


def apply(state: Iterable[Route], commands: Iterable[Command]) -> set[Route]:
    """What the peer holds after `commands` (what ExaBGP's adj-rib-out does with them)."""
    out = set(state)
    for action, route in commands:
        if action == "announce":
            out.add(route)
        else:
            out.discard(route)
    return out


@dataclass(slots=True)
class Selection:
    """The routes to hold, and what the safety stops left out (with the reason)."""

    routes: set[Route] = field(default_factory=set)
    refused: list[tuple[Entry, str]] = field(default_factory=list)
    capped: int = 0


def select_routes(
    entries: Sequence[Entry], *, flowspec: bool = False, min_v4: int = 24, min_v6: int = 48,
    max_routes: int = 10_000,
) -> Selection:  # fmt: skip
    """Routes for the exportable entries (`active_blocklist(...).kept`): ip/cidr entries as
    blackhole prefixes, endpoint entries as FlowSpec drops when `flowspec`; domains have no
    route. Too-short prefixes are refused; above `max_routes` the highest-confidence routes
    are kept (ties by prefix, so a capped set is stable between polls)."""
    out = Selection()
    ranked: dict[Route, float] = {}
    for e in entries:
        net = e.network
        if net is None or (e.kind is Kind.ENDPOINT and not flowspec):
            continue
        floor = min_v4 if net.version == 4 else min_v6
        if net.prefixlen < floor:
            out.refused.append((e, f"prefix shorter than /{floor}"))
            continue
        route = Route(net, e.port, e.proto) if e.kind is Kind.ENDPOINT else Route(net)
        ranked[route] = max(ranked.get(route, 0.0), e.confidence)
    order = sorted(ranked, key=lambda r: (-ranked[r], r.sort_key()))
    out.routes = set(order[:max_routes])
    out.capped = max(0, len(order) - max_routes)
    return out
