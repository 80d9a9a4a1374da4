"""DNS extraction on hand-built messages: one test per edge case the pipeline will meet."""

from __future__ import annotations

import struct
import time

import dpkt
import pytest

from detector.extract import DnsAnswer, DnsInfo, dns_names, dns_qname

from .builders import (
    dns_query,
    dns_response,
    header,
    raw_rr,
    rr,
    tcp_framed,
    wire_name,
)

QUERY = dns_query("Pool.MineXMR.com")
RESPONSE = dns_response(
    ["pool.minexmr.com"],
    [
        rr("pool.minexmr.com", "CNAME", "edge.minexmr.com", ttl=30),
        rr("edge.minexmr.com", "A", "192.0.2.7", ttl=60),
        rr("edge.minexmr.com", "AAAA", "2001:db8::7", ttl=60),
    ],
)


def test_query_fast_path() -> None:
    assert dns_qname(QUERY) == "pool.minexmr.com"
    info = dns_names(QUERY)
    assert info == DnsInfo(False, 0, ("pool.minexmr.com",), (), None)


def test_response_answers_in_order_with_ttls() -> None:
    info = dns_names(RESPONSE)
    assert info is not None and info.is_response and info.error is None
    assert info.qnames == ("pool.minexmr.com",)
    assert info.answers == (
        DnsAnswer("pool.minexmr.com", "CNAME", "edge.minexmr.com", 30),
        DnsAnswer("edge.minexmr.com", "A", "192.0.2.7", 60),
        DnsAnswer("edge.minexmr.com", "AAAA", "2001:db8::7", 60),
    )
    assert dns_qname(RESPONSE) == "pool.minexmr.com"


def test_compression_pointers_are_followed() -> None:
    assert b"\xc0\x0c" in RESPONSE  # dpkt compressed the answer owner name to the question
    info = dns_names(RESPONSE)
    assert info is not None and info.answers[0].name == "pool.minexmr.com"


def test_rcode_and_empty_answer() -> None:
    info = dns_names(dns_response(["nx.example"], rcode=3))
    assert info == DnsInfo(True, 3, ("nx.example",), (), None)


def test_trailing_dot_and_root() -> None:
    assert dns_qname(dns_query("example.org.")) == "example.org"
    root = header() + b"\x00" + struct.pack(">HH", 2, 1)  # ". NS", the priming query
    assert dns_qname(root) == ""
    assert dns_names(root) == DnsInfo(False, 0, ("",))


@pytest.mark.parametrize("target", [12, 14, 20])  # itself, forward, past the end
def test_pointer_that_does_not_go_backwards_is_refused(target: int) -> None:
    msg = header() + struct.pack(">H", 0xC000 | target) + struct.pack(">HH", 1, 1)
    assert dns_qname(msg) is None
    assert dns_names(msg) is None


def test_pointer_loop_in_answers_is_refused_quickly() -> None:
    q = wire_name("a.example") + struct.pack(">HH", 1, 1)
    loop_at = 12 + len(q)
    answer = raw_rr(struct.pack(">H", 0xC000 | loop_at), 1, bytes(4))  # points at itself
    info = dns_names(header(qd=1, an=1, flags=0x8180) + q + answer)
    assert info is not None and info.qnames == ("a.example",) and info.answers == ()
    assert info.error is not None


def test_long_backward_pointer_chain_is_bounded() -> None:
    # The worst legal case: an answer name reached through ~8000 pointer hops (pointers can
    # only address the first 16 KiB), laid out in the rdata of an unknown-type record.
    q = wire_name("a") + struct.pack(">HH", 1, 1)
    start = 12 + len(q) + 12  # first rdata byte of the carrier record
    hops = 8000
    chain = struct.pack(">H", 0xC00C) + b"".join(
        struct.pack(">H", 0xC000 | (start + 2 * k - 2)) for k in range(1, hops)
    )
    carrier = raw_rr(b"\xc0\x0c", 99, chain)
    target = struct.pack(">H", 0xC000 | (start + 2 * hops - 2))
    msg = header(qd=1, an=2, flags=0x8180) + q + carrier + raw_rr(target, 1, bytes([192, 0, 2, 1]))
    began = time.perf_counter()
    info = dns_names(msg)
    assert time.perf_counter() - began < 0.5
    assert info is not None and info.answers == (DnsAnswer("a", "A", "192.0.2.1", 60),)


@pytest.mark.parametrize("length_byte", [0x40, 0x7F, 0x80, 0xBF])
def test_reserved_label_types_are_refused(length_byte: int) -> None:
    msg = header() + bytes([length_byte]) + b"x" * 70 + b"\x00" + struct.pack(">HH", 1, 1)
    assert dns_qname(msg) is None
    assert dns_names(msg) is None


def test_label_of_64_octets_built_by_dpkt_is_refused() -> None:
    assert dns_names(dns_query("x" * 64 + ".com")) is None
    assert dns_qname(dns_query("x" * 63 + ".com")) == "x" * 63 + ".com"


def _name_of_wire_length(total: int) -> str:
    """A name whose wire form (length octets and root included) is `total` octets."""
    labels, left = [], total - 1
    while left > 64:
        labels.append("a" * 63)
        left -= 64
    labels.append("b" * (left - 1))
    return ".".join(labels)


def test_name_length_limit_is_255_octets_on_both_paths() -> None:
    ok, too_long = _name_of_wire_length(255), _name_of_wire_length(256)
    assert len(wire_name(ok)) == 255 and len(wire_name(too_long)) == 256
    assert dns_qname(dns_query(ok)) == ok
    assert dns_qname(dns_query(too_long)) is None
    resp_ok = dns_names(dns_response([ok], [rr(ok, "A", "192.0.2.1")]))
    assert resp_ok is not None and resp_ok.qnames == (ok,) and len(resp_ok.answers) == 1
    assert dns_names(dns_response([too_long])) is None


def test_truncated_messages_never_raise_and_keep_what_was_read() -> None:
    for cut in range(len(RESPONSE)):
        info = dns_names(RESPONSE[:cut])
        if cut < 12 + len(wire_name("pool.minexmr.com")) + 4:
            assert info is None, cut
            continue
        assert info is not None and info.qnames == ("pool.minexmr.com",), cut
        assert info.error is not None and len(info.answers) < 3, cut
    assert dns_qname(QUERY[:-4]) is None  # question type/class missing


def test_counts_that_lie() -> None:
    body = RESPONSE[12:]
    too_many = dns_names(header(qd=1, an=40, flags=0x8180) + body)
    assert too_many is not None and len(too_many.answers) == 3 and too_many.error is not None
    too_few = dns_names(header(qd=1, an=1, flags=0x8180) + body)
    assert too_few is not None and len(too_few.answers) == 1 and too_few.error is None
    zero_qd = dns_names(header(qd=0, an=0, flags=0x8180) + body)
    assert zero_qd == DnsInfo(True, 0, (), (), None)
    assert dns_qname(header(qd=0) + body) is None
    query = dns_names(header(qd=9) + QUERY[12:])
    assert query is not None and query.qnames == ("pool.minexmr.com",)
    assert query.error is not None


def test_non_in_classes() -> None:
    chaos = dns_query("VERSION.BIND", qtype=dpkt.dns.DNS_TXT, cls=dpkt.dns.DNS_CHAOS)
    assert dns_qname(chaos) == "version.bind"
    resp = dns_response(
        ["x.example"],
        [
            rr("x.example", "A", "192.0.2.1", cls=dpkt.dns.DNS_CHAOS),
            rr("x.example", "A", "192.0.2.2"),
        ],
    )
    info = dns_names(resp)
    assert info is not None and [a.value for a in info.answers] == ["192.0.2.2"]


def test_edns_opt_records() -> None:
    assert dns_qname(dns_query("pool.example", opt=True)) == "pool.example"
    assert dns_names(dns_query("pool.example", opt=True)) == DnsInfo(False, 0, ("pool.example",))
    resp = dns_response(["pool.example"], [rr("pool.example", "A", "192.0.2.9")], opt=True)
    info = dns_names(resp)
    assert info is not None and info.error is None and info.answers[0].value == "192.0.2.9"


def test_mdns_flags() -> None:
    # Query with the unicast-response bit, several questions (as mDNS browsers send).
    qu = dns_query("_http._tcp.local", "Printer.local", cls=0x8001, ident=0)
    assert dns_names(qu) == DnsInfo(False, 0, ("_http._tcp.local", "printer.local"))
    # Announcement: no questions, authoritative, records with the cache-flush bit.
    resp = dns_response(
        [], [rr("Printer.local", "A", "192.168.1.20", ttl=120, cls=0x8001)], aa=True,
        additional=[rr("printer.local", "AAAA", "fe80::1", cls=0x8001)],
    )  # fmt: skip
    info = dns_names(resp)
    assert info == DnsInfo(True, 0, (), (DnsAnswer("printer.local", "A", "192.168.1.20", 120),))


def test_unknown_record_types_do_not_sink_the_answer() -> None:
    q = wire_name("svc.example") + struct.pack(">HH", 65, 1)
    https = raw_rr(b"\xc0\x0c", 65, b"\x00\x01\x00" + b"\x00\x01\x00\x03\x02h2")  # HTTPS RR
    rrsig = raw_rr(b"\xc0\x0c", 46, bytes(30))
    a = raw_rr(b"\xc0\x0c", 1, bytes([192, 0, 2, 44]))
    info = dns_names(header(qd=1, an=3, flags=0x8180) + q + https + rrsig + a)
    assert info is not None and info.error is None
    assert info.answers == (DnsAnswer("svc.example", "A", "192.0.2.44", 60),)


def test_bad_rdata_is_skipped() -> None:
    q = wire_name("b.example") + struct.pack(">HH", 1, 1)
    short_a = raw_rr(b"\xc0\x0c", 1, bytes(5))
    long_aaaa = raw_rr(b"\xc0\x0c", 28, bytes(15))
    good = raw_rr(b"\xc0\x0c", 1, bytes([10, 0, 0, 1]))
    cname_overrun = raw_rr(b"\xc0\x0c", 5, b"\x03abc") + b"\x00"  # name ends past its rdata
    body = q + short_a + long_aaaa + good + cname_overrun
    info = dns_names(header(qd=1, an=4, flags=0x8180) + body)
    assert info is not None and info.error is None
    assert info.answers == (DnsAnswer("b.example", "A", "10.0.0.1", 60),)


def test_dns_over_tcp_length_prefix() -> None:
    framed = tcp_framed(RESPONSE)
    info = dns_names(framed, over_tcp=True)
    assert info is not None and len(info.answers) == 3 and info.error is None
    assert dns_qname(framed, over_tcp=True) == "pool.minexmr.com"
    assert dns_names(tcp_framed(QUERY) + tcp_framed(RESPONSE), over_tcp=True) == dns_names(QUERY)
    assert dns_names(b"\x00", over_tcp=True) is None
    partial = dns_names(framed[: len(framed) - 10], over_tcp=True)
    assert partial is not None and partial.error is not None


def test_garbage_is_none() -> None:
    assert dns_names(b"") is None and dns_qname(b"") is None
    assert dns_names(b"\x00" * 11) is None
    assert dns_names(header(flags=3 << 11) + QUERY[12:]) is None  # opcode 3 is unassigned
    assert dns_names(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") is None


def test_names_are_lowercased_and_nonprintables_escaped() -> None:
    assert dns_qname(dns_query("WWW.Example.COM")) == "www.example.com"
    odd = header() + b"\x04a\x01\x7fb\x03com\x00" + struct.pack(">HH", 1, 1)
    assert dns_qname(odd) == "a\\001\\127b.com"
    not_utf8 = header() + b"\x02\xff\xfe\x03com\x00" + struct.pack(">HH", 1, 1)
    assert dns_qname(not_utf8) is None and dns_names(not_utf8) is None
    utf8 = dns_query("Café.local")
    assert dns_qname(utf8) == "café.local" and dns_names(utf8) == DnsInfo(False, 0, ("café.local",))
