"""Property tests: the matcher equals naive scans; parsers never raise and account for lines.

The oracles are deliberately dumb: Python `ipaddress` membership (`addr in net`) over every entry
and plain string suffix checks, ranked by the documented precedence (most specific, then
allowlist, then confidence, then the earlier entry).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blacklist.entries import Category, Entry, Kind
from blacklist.matcher import Matcher
from blacklist.parsers import PARSERS, SourceMeta
from blacklist.syntax import EntryError, parse_item

MAPPED = 0xFFFF << 32
PORTS = (80, 443, 3333)
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Address bits biased towards the edges: 0, the top, and the IPv4-mapped block.
v4_int = st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 2**32 - 1, 0x2C010203]))
v6_int = st.one_of(
    st.integers(0, 2**128 - 1),
    st.sampled_from([0, 1, 2**128 - 1, MAPPED, MAPPED | 0x2C010203, 0x2A01 << 112]),
    v4_int.map(lambda v: MAPPED | v),
)


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    """Any ip/cidr/endpoint entry, built directly (the matcher must not rely on validation)."""
    if draw(st.booleans()):
        net: ipaddress.IPv4Network | ipaddress.IPv6Network = ipaddress.IPv4Network(
            (draw(v4_int), draw(st.integers(0, 32))), strict=False
        )
    else:
        net = ipaddress.IPv6Network((draw(v6_int), draw(st.integers(0, 128))), strict=False)
    category = draw(st.sampled_from([Category.POOL, Category.ALLOWLIST]))
    conf = draw(st.sampled_from([0.2, 0.5, 0.9]))
    single = net.prefixlen == net.max_prefixlen
    if single and draw(st.booleans()):
        port, proto = draw(st.sampled_from(PORTS)), draw(st.sampled_from([None, 6, 17]))
        value = f"{net.network_address}:{port}"
        return Entry(Kind.ENDPOINT, value, net, port, proto, category=category, confidence=conf)
    kind = Kind.IP if single else Kind.CIDR
    return Entry(kind, str(net), net, category=category, confidence=conf)


def covers(net: ipaddress.IPv4Network | ipaddress.IPv6Network, addr: IPAddr) -> bool:
    """`addr in net` in the one 128-bit space where IPv4 is ::ffff:a.b.c.d."""
    if net.version == addr.version:
        return addr in net
    if net.version == 6:  # an IPv6 prefix such as ::/0 also covers mapped IPv4
        return ipaddress.IPv6Address(MAPPED | int(addr)) in net
    mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
    return mapped is not None and mapped in net


def precedence(i: int, e: Entry) -> tuple[int, bool, float, int]:
    assert e.network is not None
    spec = e.network.prefixlen + (96 if e.network.version == 4 else 0)
    if e.port is not None:
        spec += 16 + (e.proto is not None)
    return (spec, e.category is Category.ALLOWLIST, e.confidence, -i)


def naive(
    ents: Sequence[Entry], addr: IPAddr, port: int | None, proto: int | None
) -> tuple[int, set[int]]:
    hits = {
        i
        for i, e in enumerate(ents)
        if e.network is not None
        and covers(e.network, addr)
        and (
            e.port is None
            or (port == e.port and (proto is None or e.proto is None or e.proto == proto))
        )
    }
    top = max(hits, key=lambda i: precedence(i, ents[i])) if hits else -1
    return top, hits


def queries(ents: Sequence[Entry], extra: Sequence[int]) -> list[IPAddr]:
    """Every entry's first/last address and their neighbours, plus random ones."""
    out: list[IPAddr] = []
    for e in ents:
        assert e.network is not None
        first, last = int(e.network.network_address), int(e.network.broadcast_address)
        top = e.network.max_prefixlen
        for v in {first, last, max(first - 1, 0), min(last + 1, 2**top - 1)}:
            out.append(ipaddress.ip_address(v) if top == 32 else ipaddress.IPv6Address(v))
    out += [ipaddress.IPv6Address(v) for v in extra]
    return out


def as_words(addrs: Sequence[IPAddr]) -> tuple[np.ndarray, np.ndarray]:
    vals = [MAPPED | int(a) if a.version == 4 else int(a) for a in addrs]
    return (
        np.array([v >> 64 for v in vals], dtype=np.uint64),
        np.array([v & (2**64 - 1) for v in vals], dtype=np.uint64),
    )


@SETTINGS
@given(
    ents=st.lists(entries(), max_size=14).flatmap(
        lambda xs: (
            st.lists(st.sampled_from(xs), max_size=3).map(lambda d: xs + d) if xs else st.just(xs)
        )
    ),
    extra=st.lists(v6_int, max_size=6),
    data=st.data(),
)
def test_lookup_equals_naive_ipaddress_scan(
    ents: list[Entry], extra: list[int], data: st.DataObject
) -> None:
    m = Matcher(ents)
    addrs = queries(ents, extra)
    ports = data.draw(
        st.lists(st.sampled_from((*PORTS, 22)), min_size=len(addrs), max_size=len(addrs))
    )
    protos = data.draw(
        st.lists(st.sampled_from((6, 17, 1)), min_size=len(addrs), max_size=len(addrs))
    )
    hi, lo = as_words(addrs)
    p_arr, q_arr = np.array(ports, dtype=np.uint16), np.array(protos, dtype=np.uint8)
    for port_arg, proto_arg in ((None, None), (p_arr, None), (p_arr, q_arr)):
        got = m.lookup(hi, lo, port_arg, proto_arg)
        for k, addr in enumerate(addrs):
            port = None if port_arg is None else ports[k]
            proto = None if proto_arg is None else protos[k]
            assert int(got[k]) == naive(ents, addr, port, proto)[0], (str(addr), port, proto)
    v4 = [k for k, a in enumerate(addrs) if a.version == 4]
    if v4:
        got4 = m.lookup_v4(np.array([int(addrs[k]) for k in v4], np.uint32), p_arr[v4], q_arr[v4])
        assert got4.tolist() == m.lookup(hi[v4], lo[v4], p_arr[v4], q_arr[v4]).tolist()


@SETTINGS
@given(ents=st.lists(entries(), min_size=1, max_size=10), data=st.data())
def test_explain_lists_exactly_the_covering_entries(ents: list[Entry], data: st.DataObject) -> None:
    m = Matcher(ents)
    addr = data.draw(st.sampled_from(queries(ents, [])))
    port = data.draw(st.sampled_from(PORTS))
    text = str(addr.ipv4_mapped or addr) if isinstance(addr, ipaddress.IPv6Address) else str(addr)
    if addr.version == 4 or (isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped):
        value = f"{text}:{port}"
    else:
        value = f"[{text}]:{port}"
    want = naive(ents, addr, port, None)[1]
    got = m.explain(value)
    assert sorted(map(id, got)) == sorted(id(ents[i]) for i in want)
    ranks = [precedence(ents.index(e), e) for e in got]
    assert ranks == sorted(ranks, reverse=True)


labels = st.sampled_from(["a", "b", "pool", "xn--mnchen-3ya", "x-y", "_s", "1"])
names = st.lists(labels, min_size=1, max_size=4).map(".".join)


@st.composite
def domain_entries(draw: st.DrawFn) -> Entry:
    return Entry(
        Kind.DOMAIN,
        draw(names),
        subdomains=draw(st.booleans()),
        category=draw(st.sampled_from([Category.POOL, Category.ALLOWLIST])),
        confidence=draw(st.sampled_from([0.2, 0.9])),
    )


@SETTINGS
@given(ents=st.lists(domain_entries(), max_size=12), qs=st.lists(names, max_size=12))
def test_match_domain_equals_naive_suffix_scan(ents: list[Entry], qs: list[str]) -> None:
    m = Matcher(ents)
    for q in qs + [e.value for e in ents] + ["z." + e.value for e in ents]:
        hits = [
            i
            for i, e in enumerate(ents)
            if q == e.value or (e.subdomains and q.endswith("." + e.value))
        ]

        def rank(i: int) -> tuple[int, bool, float, int]:
            e = ents[i]
            return (e.value.count("."), e.category is Category.ALLOWLIST, e.confidence, -i)

        assert m.match_domain(q) == (max(hits, key=rank) if hits else -1), q
        assert m.match_domain(q.upper() + ".") == m.match_domain(q)


# -- fuzzing: every registered parser, and the item grammar --------------------------------------

item_like = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789.:/[]abcdef*#; \t\r\ufeff-_xn", max_size=40),
    st.sampled_from(["0.0.0.0 ", "127.0.0.1\t", "::1 ", "*.", "."]).flatmap(
        lambda p: st.text(alphabet="abc.-_0123456789:/", max_size=20).map(lambda s: p + s)
    ),
)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(item_like, max_size=25), fmt=st.sampled_from(sorted(PARSERS)))
def test_parsers_never_raise_and_account_for_every_line(lines: list[str], fmt: str) -> None:
    r = PARSERS[fmt](lines, SourceMeta("fuzz"))
    assert r.lines == len(lines)
    with_output = {e.line for e in r.entries} | {p.line for p in r.problems}
    assert with_output <= set(range(1, len(lines) + 1))
    assert len(with_output) + r.skipped == r.lines  # skipped lines produce nothing
    for e in r.entries:
        assert e.raw == lines[e.line - 1].rstrip("\r\n") and e.source == "fuzz"
    for p in r.problems:
        assert p.raw == lines[p.line - 1].rstrip("\r\n") and p.reason and p.code
    assert r.summary() == f"{len(r.entries)} entries, {len(r.problems)} problems"


@settings(max_examples=500, deadline=None)
@given(text=item_like)
def test_parse_item_raises_only_entry_error_and_round_trips(text: str) -> None:
    try:
        e = parse_item(text, category=Category.ALLOWLIST)
    except EntryError as exc:
        assert exc.code and exc.reason
        return
    again = parse_item(e.value, category=Category.ALLOWLIST)
    assert (again.kind, again.value, again.port, again.proto) == (e.kind, e.value, e.port, e.proto)
