"""Property tests: no input makes the extractors raise or stall, and valid messages round-trip."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.extract import DnsInfo, TlsHello, client_hello_sni, dns_names, dns_qname

from .builders import (
    client_hello,
    client_hello_body,
    dns_query,
    dns_response,
    handshake,
    records,
    rr,
    tcp_framed,
)

FAST = settings(
    max_examples=300,
    deadline=timedelta(milliseconds=250),
    suppress_health_check=[HealthCheck.too_slow],
)

LABEL = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=63
)
NAME = st.lists(LABEL, min_size=1, max_size=6).map(".".join).filter(lambda n: len(n) <= 253)
IPV4 = st.ip_addresses(v=4)
IPV6 = st.ip_addresses(v=6)


@st.composite
def answers(draw: st.DrawFn) -> list[tuple[str, str, str, int]]:
    out = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["A", "AAAA", "CNAME"]))
        value = str(draw({"A": IPV4, "AAAA": IPV6, "CNAME": NAME}[kind]))
        out.append((draw(NAME), kind, value, draw(st.integers(0, 2**31 - 1))))
    return out


def _check_dns(data: bytes, over_tcp: bool) -> None:
    """The contract: never raise; both tiers agree on the first question name."""
    q = dns_qname(data, over_tcp)
    info = dns_names(data, over_tcp)
    assert q is None or isinstance(q, str)
    assert info is None or isinstance(info, DnsInfo)
    if q is not None:
        assert info is not None and info.qnames[0] == q
    if info is not None and info.qnames:
        assert info.qnames[0] == q


def _check_tls(data: bytes) -> None:
    got = client_hello_sni(data)
    assert isinstance(got, TlsHello)
    assert sum((got.need_more, got.not_tls, got.is_client_hello)) <= 1
    assert got.sni is None or got.is_client_hello


@FAST
@given(st.binary(max_size=4096), st.booleans())
def test_arbitrary_bytes(data: bytes, over_tcp: bool) -> None:
    _check_dns(data, over_tcp)
    _check_tls(data)
    _check_tls(b"\x16\x03\x01" + data)


VALID = [
    dns_query("pool.minexmr.com", opt=True),
    dns_query("_http._tcp.local", "Printer.local", cls=0x8001),
    dns_response(
        ["pool.example"],
        [
            rr("pool.example", "CNAME", "edge.example"),
            rr("edge.example", "A", "192.0.2.1"),
            rr("edge.example", "AAAA", "2001:db8::1"),
        ],
        opt=True,
    ),
    client_hello("ws027.authedmine.com", ("h2", "http/1.1")),
    records(handshake(client_hello_body("frag.example", ("h2",))), (7, 30)),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "extend", "insert", "delete"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from([0x00, 0x3F, 0x40, 0xC0, 0xFF, 0x01, 0x16]))
        elif op == "truncate":
            del data[pos:]
        elif op == "extend":
            data += draw(st.binary(max_size=64))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
    return bytes(data)


@FAST
@given(mutated())
def test_mutated_valid_messages(data: bytes) -> None:
    _check_dns(data, over_tcp=False)
    _check_dns(tcp_framed(data), over_tcp=True)
    _check_tls(data)


@FAST
@given(st.lists(NAME, min_size=1, max_size=4), st.booleans())
def test_dns_query_round_trip(names: list[str], over_tcp: bool) -> None:
    data = dns_query(*names)
    data = tcp_framed(data) if over_tcp else data
    expected = tuple(n.lower() for n in names)
    assert dns_qname(data, over_tcp) == expected[0]
    assert dns_names(data, over_tcp) == DnsInfo(False, 0, expected)


@FAST
@given(st.lists(NAME, max_size=3), answers())
def test_dns_response_round_trip(qnames: list[str], ans: list[tuple[str, str, str, int]]) -> None:
    data = dns_response(qnames, [rr(n, k, v, ttl) for n, k, v, ttl in ans])
    info = dns_names(data)
    assert info is not None and info.error is None and info.is_response
    assert info.qnames == tuple(n.lower() for n in qnames)
    got = [(a.name, a.rtype, a.value, a.ttl) for a in info.answers]
    want = [(n.lower(), k, v.lower(), ttl) for n, k, v, ttl in ans]
    norm = [(n, k, str(ipaddress.ip_address(v)) if k != "CNAME" else v, t) for n, k, v, t in got]
    assert norm == want


ALPN_ID = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)


@FAST
@given(NAME, st.lists(ALPN_ID, max_size=4), st.lists(st.integers(1, 300), max_size=4), st.data())
def test_client_hello_round_trip_any_fragmentation(
    sni: str, alpn: list[str], sizes: list[int], data: st.DataObject
) -> None:
    wire = records(handshake(client_hello_body(sni, alpn)), sizes)
    got = client_hello_sni(wire)
    assert got == TlsHello(sni=sni.lower(), alpn=tuple(alpn), version=0x0303, is_client_hello=True)
    cut = data.draw(st.integers(0, len(wire) - 1))
    assert client_hello_sni(wire[:cut]) == TlsHello(need_more=True)
