"""ClientHello extraction on hand-built hellos, cross-checked against dpkt.ssl."""

from __future__ import annotations

import pytest

from detector.extract import MAX_HELLO_LEN, TlsHello, client_hello_sni

from .builders import (
    alpn_ext,
    client_hello,
    client_hello_body,
    dpkt_view,
    ext,
    handshake,
    records,
    server_hello,
    sni_ext,
    sslv2_client_hello,
)

HELLO = client_hello("ws027.AuthedMine.com", ("h2", "http/1.1"))


def test_sni_alpn_version() -> None:
    got = client_hello_sni(HELLO)
    assert got == TlsHello(
        sni="ws027.authedmine.com", alpn=("h2", "http/1.1"), version=0x0303, is_client_hello=True
    )
    assert dpkt_view(HELLO) == (got.sni, got.alpn, got.version)


@pytest.mark.parametrize(
    "kw",
    [
        {"session_id": b""},
        {"version": 0x0301, "ciphers": tuple(range(0xC000, 0xC060))},
        {"extra": [ext(0xFF01, b"\x00"), ext(21, bytes(300))]},  # renegotiation_info, padding
        {"alpn": ()},
    ],
)
def test_agrees_with_dpkt_ssl(kw: dict[str, object]) -> None:
    args: dict[str, object] = {"sni": "pool.supportxmr.com", "alpn": ("h2",), **kw}
    data = client_hello(**args)  # type: ignore[arg-type]
    got = client_hello_sni(data)
    assert got.error is None and got.is_client_hello
    assert dpkt_view(data) == (got.sni, got.alpn, got.version)


def test_without_sni_or_extensions() -> None:
    assert client_hello_sni(client_hello(None, ())) == TlsHello(
        version=0x0303, is_client_hello=True
    )
    bare = records(handshake(client_hello_body(extensions=[])))
    assert client_hello_sni(bare) == TlsHello(version=0x0303, is_client_hello=True)


def test_sni_normalised_and_first_host_name_wins() -> None:
    assert client_hello_sni(client_hello("Pool.Example.")).sni == "pool.example"
    two = records(
        handshake(client_hello_body(extensions=[sni_ext("first.example", "second.example")]))
    )
    assert client_hello_sni(two).sni == "first.example"
    other_type = records(handshake(client_hello_body(extensions=[sni_ext("x", name_type=7)])))
    assert client_hello_sni(other_type) == TlsHello(version=0x0303, is_client_hello=True)
    odd = client_hello_sni(client_hello(b"a\x00b\xff.example"))
    assert odd.sni == "a\\x00b\\xff.example" and odd.error is None


def test_every_strict_prefix_needs_more() -> None:
    assert client_hello_sni(b"") == TlsHello(need_more=True)
    for cut in range(1, len(HELLO)):
        assert client_hello_sni(HELLO[:cut]) == TlsHello(need_more=True), cut
    assert client_hello_sni(HELLO + b"\x14\x03\x03\x00\x01\x01").sni == "ws027.authedmine.com"


def test_handshake_fragmented_over_records() -> None:
    hs = handshake(client_hello_body("frag.example", ("h2",)))
    for sizes in [(2,), (3, 1), (40,), (1,) * 10, (len(hs) - 1,)]:
        data = records(hs, sizes)
        got = client_hello_sni(data)
        assert got.sni == "frag.example" and got.alpn == ("h2",), sizes
        for cut in range(len(data)):
            assert client_hello_sni(data[:cut]).need_more, (sizes, cut)
    split = records(hs, (50,))
    interrupted = split[: 5 + 50] + b"\x15\x03\x03\x00\x02\x02\x28"  # an alert in between
    assert client_hello_sni(interrupted) == TlsHello(
        is_client_hello=True, error="hello fragments interrupted"
    )
    before_type_known = records(hs, (2,))[:7] + b"\x17\x03\x03\x00\x01\x00"
    assert client_hello_sni(before_type_known) == TlsHello(not_tls=True)


def test_server_hello_is_tls_but_not_a_client_hello() -> None:
    assert client_hello_sni(server_hello()) == TlsHello(version=0x0303)
    assert client_hello_sni(server_hello()[:9]) == TlsHello(version=None)  # type read, no version


@pytest.mark.parametrize(
    "data",
    [
        sslv2_client_hello(),
        b"\x16\x03\x00" + HELLO[3:],  # SSL 3.0 record
        b"\x16\x03\x05" + HELLO[3:],
        b"\x17" + HELLO[1:],  # application data
        b"\x16\x03\x01\x00\x00",  # empty record
        b"\x16\x03\x01\x40\x01" + bytes(10),  # longer than 2^14
        records(handshake(bytes(50), msg_type=11)),  # a Certificate message
        b"GET / HTTP/1.1\r\n",
    ],
)
def test_not_tls(data: bytes) -> None:
    assert client_hello_sni(data) == TlsHello(not_tls=True)


def test_lone_handshake_byte_is_a_plausible_start() -> None:
    assert client_hello_sni(b"\x16").need_more
    assert client_hello_sni(b"\x16\x03\x03\x00").need_more


def test_oversized_hello_is_an_error_not_endless_need_more() -> None:
    hs = b"\x01" + (MAX_HELLO_LEN).to_bytes(3, "big")
    got = client_hello_sni(records(hs, version=0x0303))
    assert got.is_client_hello and got.error is not None and not got.need_more


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            b"\x03\x03" + bytes(32) + b"\x21" + bytes(33) + b"\x00\x02\x13\x01\x01\x00",
            "session id length",
        ),
        (b"\x03\x03" + bytes(32) + b"\x00\x00\x03\x13\x01\x00\x01\x00", "cipher suites length"),
        (b"\x03\x03" + bytes(32) + b"\x00\x00\x02\x13\x01\x00", "compression methods length"),
        (b"\x02\x00" + bytes(32) + b"\x00\x00\x02\x13\x01\x01\x00", "client version"),
        (b"\x03\x03" + bytes(32) + b"\x00\x00\x02\x13\x01", "field runs past the hello"),
        (client_hello_body("x.example") + b"\x00", "extensions length"),
        (client_hello_body(extensions=[b"\x00\x00\x00\x09\x00"]), "extension length"),
        (
            client_hello_body(extensions=[ext(0, b"\x00\x05\x00\x00\x09abc")]),
            "server_name list length",
        ),
        (
            client_hello_body(extensions=[ext(0, b"\x00\x06\x00\x00\x09abc")]),
            "server_name entry length",
        ),
        (client_hello_body(extensions=[ext(0, b"")]), "field runs past the hello"),
        (client_hello_body(extensions=[ext(16, b"\x00\x03\x00h2")]), "alpn entry length"),
        (client_hello_body(extensions=[alpn_ext("h2") + b"\x00"]), "field runs past the hello"),
    ],
)
def test_malformed_inside_reports_error(body: bytes, error: str) -> None:
    got = client_hello_sni(records(handshake(body)))
    assert got.is_client_hello and not got.need_more and not got.not_tls
    assert got.error == error and got.sni is None
