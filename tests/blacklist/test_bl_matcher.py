"""Matcher behaviour on hand-made lists: precedence, ports, families, names, explain, version."""

from __future__ import annotations

import ipaddress
import pickle

import numpy as np
import numpy.typing as npt
import pytest

from blacklist.entries import Category, Entry
from blacklist.matcher import Matcher
from blacklist.syntax import parse_item

MAPPED = 0xFFFF_0000_0000


def item(text: str, **kw: object) -> Entry:
    return parse_item(text, **kw)  # type: ignore[arg-type]


def words(*addrs: str) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    hi, lo = [], []
    for a in addrs:
        ip = ipaddress.ip_address(a)
        v = MAPPED | int(ip) if ip.version == 4 else int(ip)
        hi.append(v >> 64)
        lo.append(v & (2**64 - 1))
    return np.array(hi, dtype=np.uint64), np.array(lo, dtype=np.uint64)


def best(m: Matcher, addr: str, port: int | None = None, proto: int | None = None) -> str | None:
    hi, lo = words(addr)
    p = None if port is None else np.array([port], dtype=np.uint16)
    q = None if proto is None else np.array([proto], dtype=np.uint8)
    i = int(m.lookup(hi, lo, p, q)[0])
    return None if i < 0 else m.entries[i].value


def test_longest_prefix_wins_regardless_of_order_or_confidence() -> None:
    m = Matcher(
        [
            item("44.0.0.0/8", confidence=0.99),
            item("44.1.2.3", confidence=0.1),
            item("44.1.0.0/16"),
            item("44.1.2.0/24"),
        ]
    )
    assert best(m, "44.1.2.3") == "44.1.2.3"
    assert best(m, "44.1.2.4") == "44.1.2.0/24"
    assert best(m, "44.1.3.1") == "44.1.0.0/16"
    assert best(m, "44.9.9.9") == "44.0.0.0/8"
    assert best(m, "45.0.0.0") is None and best(m, "43.255.255.255") is None


def test_ties_allowlist_then_confidence_then_first_entry() -> None:
    a = item("44.1.2.3", source="a", confidence=0.5)
    b = item("44.1.2.3", source="b", confidence=0.9)
    c = item("44.1.2.3", source="c", confidence=0.9)
    allow = item("44.1.2.3", source="ok", category=Category.ALLOWLIST, confidence=0.1)
    assert Matcher([a, b, c]).entries[Matcher([a, b, c]).lookup(*words("44.1.2.3"))[0]] is b
    m = Matcher([a, b, allow, c])
    assert m.entries[int(m.lookup(*words("44.1.2.3"))[0])] is allow
    # a broad allowlist does not hide a more specific pool entry inside it
    m = Matcher([item("44.0.0.0/8", category=Category.ALLOWLIST), a])
    assert best(m, "44.1.2.3") == "44.1.2.3" and best(m, "44.1.2.4") == "44.0.0.0/8"


def test_endpoints_match_only_their_port_and_protocol() -> None:
    m = Matcher(
        [
            item("44.1.2.3:3333"),
            item("44.1.2.3:53/udp"),
            item("44.1.2.3:443/tcp"),
            item("44.1.2.0/24"),
        ]
    )
    assert best(m, "44.1.2.3") == "44.1.2.0/24"  # no port given: endpoints never match
    assert best(m, "44.1.2.3", 3333) == "44.1.2.3:3333"
    assert best(m, "44.1.2.3", 3333, 17) == "44.1.2.3:3333"  # no protocol on the entry: any
    assert best(m, "44.1.2.3", 3334, 6) == "44.1.2.0/24"
    assert best(m, "44.1.2.3", 53, 17) == "44.1.2.3:53/udp"
    assert best(m, "44.1.2.3", 53, 6) == "44.1.2.0/24"
    assert best(m, "44.1.2.3", 443, 6) == "44.1.2.3:443/tcp"
    assert best(m, "44.1.2.3", 443) == "44.1.2.3:443/tcp"  # protocol unknown: port decides
    assert best(m, "44.1.2.4", 3333) == "44.1.2.0/24"


def test_port_entries_outrank_plain_entries_on_the_same_address() -> None:
    m = Matcher([item("44.1.2.3", confidence=0.99), item("44.1.2.3:3333", confidence=0.1)])
    assert best(m, "44.1.2.3", 3333) == "44.1.2.3:3333"
    assert best(m, "44.1.2.3", 80) == "44.1.2.3"


def test_ipv6_and_mixed_batches() -> None:
    m = Matcher(
        [
            item("2a01:4f8::/32"),
            item("2a01:4f8::1"),
            item("[2a01:4f8::2]:443/tcp"),
            item("44.1.2.3"),
        ]
    )
    hi, lo = words("2a01:4f8::1", "2a01:4f8::5", "2a01:4f9::1", "44.1.2.3", "2a01:4f8::2")
    ports = np.array([1, 1, 1, 1, 443], dtype=np.uint16)
    got = m.lookup(hi, lo, ports, np.full(5, 6, dtype=np.uint8))
    assert [m.entries[i].value if i >= 0 else None for i in got] == [
        "2a01:4f8::1",
        "2a01:4f8::/32",
        None,
        "44.1.2.3",
        "[2a01:4f8::2]:443/tcp",
    ]


def test_ipv6_prefixes_cover_mapped_ipv4_consistently() -> None:
    # Entries built directly (validation would reject ::/0): one 128-bit space for both families
    wide = Entry(
        parse_item("::/0", category=Category.ALLOWLIST).kind,
        "::/0",
        ipaddress.ip_network("::/0"),
        category=Category.ALLOWLIST,
    )
    m = Matcher([wide, item("44.1.2.3")])
    assert best(m, "44.1.2.3") == "44.1.2.3"
    assert best(m, "44.1.2.4") == "::/0"
    assert best(m, "2a01::1") == "::/0"
    assert [e.value for e in m.explain("44.1.2.3")] == ["44.1.2.3", "::/0"]


def test_lookup_v4_matches_mapped_lookup() -> None:
    m = Matcher([item("44.1.2.0/24"), item("44.1.2.3:3333")])
    v4 = np.array([int(ipaddress.IPv4Address(a)) for a in ("44.1.2.3", "9.9.9.9")], np.uint32)
    ports = np.array([3333, 3333], dtype=np.uint16)
    assert (
        m.lookup_v4(v4, ports).tolist() == m.lookup(*words("44.1.2.3", "9.9.9.9"), ports).tolist()
    )
    assert m.lookup_v4(v4).tolist() == [0, -1]


def test_domain_exact_and_subdomain_semantics() -> None:
    m = Matcher(
        [
            item("pool.example"),  # name and subdomains
            item("exact.example", subdomains=False),  # hosts-style: that name only
            item("deep.pool.example", confidence=0.9),
            item("ok.pool.example", category=Category.ALLOWLIST),
        ]
    )

    def name(q: str) -> str | None:
        i = m.match_domain(q)
        return None if i < 0 else m.entries[i].value

    assert name("pool.example") == "pool.example"
    assert name("xmr.eu.Pool.Example.") == "pool.example"
    assert name("a.deep.pool.example") == "deep.pool.example"
    assert name("ok.pool.example") == "ok.pool.example"  # the caller sees the allowlist entry
    assert name("exact.example") == "exact.example"
    assert name("www.exact.example") is None
    assert name("example") is None and name("notpool.example") is None
    assert name("") is None


def test_idn_names_match_in_either_form() -> None:
    m = Matcher([item("münchen.example")])
    assert m.match_domain("xn--mnchen-3ya.example") == 0
    assert m.match_domain("pool.MÜNCHEN.example") == 0
    assert m.match_domain("\ud800.example") == -1  # not encodable: no match, no exception


def test_explain_lists_every_match_best_first() -> None:
    entries = [
        item("44.0.0.0/8"),
        item("44.1.2.3", source="a"),
        item("44.1.2.3", source="b", confidence=0.9),
        item("44.1.2.3:3333/tcp"),
        item("44.1.2.3:3333"),
        item("pool.example"),
        item("x.pool.example", subdomains=False),
        item("y.x.pool.example"),
    ]
    m = Matcher(entries)

    def ex(v: str) -> list[tuple[str, str]]:
        return [(e.value, e.source) for e in m.explain(v)]

    assert ex("44.1.2.3") == [("44.1.2.3", "b"), ("44.1.2.3", "a"), ("44.0.0.0/8", "")]
    assert ex("44.1.2.3:3333")[:2] == [("44.1.2.3:3333/tcp", ""), ("44.1.2.3:3333", "")]
    assert len(ex("44.1.2.3:3333/udp")) == 4  # the /tcp endpoint does not apply
    assert ex("44.1.0.0/16") == [("44.0.0.0/8", "")]
    assert ex("y.x.pool.example") == [("y.x.pool.example", ""), ("pool.example", "")]
    assert ex("x.pool.example") == [("x.pool.example", ""), ("pool.example", "")]
    assert ex("z.x.pool.example") == [("pool.example", "")]  # x.pool.example is exact-only
    assert ex("not valid!") == [] and ex("9.9.9.9") == []


def test_version_is_a_content_hash() -> None:
    a = [item("44.1.2.3", line=1), item("pool.example", line=2)]
    b = [item("pool.example", line=7), item("44.1.2.3", line=9)]
    assert Matcher(a).version == Matcher(b).version  # order and line numbers do not matter
    assert Matcher(a).version != Matcher([*a, item("44.1.2.4")]).version
    changed = [item("44.1.2.3", confidence=0.9), item("pool.example")]
    assert Matcher(a).version != Matcher(changed).version
    assert Matcher(a).version != Matcher([]).version


def test_container_and_immutability() -> None:
    entries = [item("44.1.2.3"), item("pool.example")]
    m = Matcher(entries)
    assert len(m) == 2 and m.entries == tuple(entries)
    with pytest.raises(AttributeError):
        m.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        m._v4.r_start[0] = 0  # read-only arrays
    empty = Matcher([])
    assert len(empty) == 0 and empty.lookup(*words("44.1.2.3")).tolist() == [-1]
    assert empty.match_domain("pool.example") == -1 and empty.explain("44.1.2.3") == []


def test_pickles_for_worker_processes() -> None:
    m = Matcher([item("44.1.2.0/24"), item("44.1.2.3:3333/tcp"), item("2a01::/32"), item("a.b")])
    clone = pickle.loads(pickle.dumps(m))
    hi, lo = words("44.1.2.3", "44.1.2.9", "2a01::7", "9.9.9.9")
    ports = np.array([3333, 3333, 1, 1], dtype=np.uint16)
    assert clone.lookup(hi, lo, ports).tolist() == m.lookup(hi, lo, ports).tolist()
    assert clone.version == m.version and clone.match_domain("x.a.b") == 3
    assert not clone._v4.r_start.flags.writeable
