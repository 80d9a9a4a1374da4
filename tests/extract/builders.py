"""Builders for the extraction tests: DNS messages through dpkt, TLS hellos by hand (RFC 8446)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Sequence
from typing import Any

import dpkt

RR: Any = dpkt.dns.DNS.RR
Q: Any = dpkt.dns.DNS.Q


def dns_query(*names: str, qtype: int = dpkt.dns.DNS_A, cls: int = dpkt.dns.DNS_IN,
              opt: bool = False, ident: int = 0x1234) -> bytes:  # fmt: skip
    """A recursive query for `names`; `opt` adds an EDNS(0) OPT pseudo-record."""
    msg = dpkt.dns.DNS(id=ident)
    msg.qd = [Q(name=n, type=qtype, cls=cls) for n in names]
    if opt:
        msg.ar = [RR(name="", type=dpkt.dns.DNS_OPT, cls=4096, ttl=0, rdata=b"")]
    return bytes(msg)


def rr(name: str, rtype: str, value: str, ttl: int = 300, cls: int = dpkt.dns.DNS_IN) -> Any:
    """An answer record; `rtype` is A, AAAA or CNAME (value: IP text or target name)."""
    if rtype == "A":
        return RR(name=name, type=dpkt.dns.DNS_A, cls=cls, ttl=ttl, ip=socket.inet_aton(value))
    if rtype == "AAAA":
        ip6 = socket.inet_pton(socket.AF_INET6, value)
        return RR(name=name, type=dpkt.dns.DNS_AAAA, cls=cls, ttl=ttl, ip6=ip6, rdata=ip6)
    assert rtype == "CNAME"
    return RR(name=name, type=dpkt.dns.DNS_CNAME, cls=cls, ttl=ttl, cname=value)


def dns_response(qnames: Sequence[str], answers: Iterable[Any] = (), *, rcode: int = 0,
                 additional: Iterable[Any] = (), opt: bool = False,
                 aa: bool = False) -> bytes:  # fmt: skip
    msg = dpkt.dns.DNS(id=0x1234)
    msg.qr, msg.rcode, msg.aa = 1, rcode, int(aa)
    msg.qd = [Q(name=n, type=dpkt.dns.DNS_A, cls=dpkt.dns.DNS_IN) for n in qnames]
    msg.an = list(answers)
    msg.ar = list(additional)
    if opt:
        msg.ar.append(RR(name="", type=dpkt.dns.DNS_OPT, cls=4096, ttl=0, rdata=b""))
    return bytes(msg)


def raw_rr(name_wire: bytes, rtype: int, rdata: bytes, cls: int = 1, ttl: int = 60) -> bytes:
    """A resource record in wire form, for the cases dpkt will not build."""
    return name_wire + struct.pack(">HHIH", rtype, cls, ttl, len(rdata)) + rdata


def wire_name(name: str) -> bytes:
    out = b"".join(bytes([len(lb)]) + lb for lb in name.encode().split(b".") if lb)
    return out + b"\x00"


def header(*, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0, flags: int = 0x0100) -> bytes:
    return struct.pack(">HHHHHH", 0x4242, flags, qd, an, ns, ar)


def tcp_framed(msg: bytes) -> bytes:
    return struct.pack(">H", len(msg)) + msg


# --- TLS ---------------------------------------------------------------------------------


def ext(kind: int, data: bytes) -> bytes:
    return struct.pack(">HH", kind, len(data)) + data


def sni_ext(*names: bytes | str, name_type: int = 0) -> bytes:
    entries = b"".join(
        bytes([name_type]) + struct.pack(">H", len(n)) + n
        for n in (x.encode() if isinstance(x, str) else x for x in names)
    )
    return ext(0, struct.pack(">H", len(entries)) + entries)


def alpn_ext(*protos: bytes | str) -> bytes:
    body = b"".join(
        bytes([len(p)]) + p for p in (x.encode() if isinstance(x, str) else x for x in protos)
    )
    return ext(16, struct.pack(">H", len(body)) + body)


def client_hello_body(sni: str | bytes | None = None, alpn: Sequence[str | bytes] = (), *,
                      version: int = 0x0303, session_id: bytes = b"\x11" * 32,
                      ciphers: Sequence[int] = (0x1301, 0x1302, 0xC02F),
                      extensions: Sequence[bytes] | None = None,
                      extra: Sequence[bytes] = ()) -> bytes:  # fmt: skip
    """ClientHello body; `extensions=None` builds SNI/ALPN (+ `extra`), `[]` omits the block."""
    out = struct.pack(">H", version) + bytes(range(32))
    out += bytes([len(session_id)]) + session_id
    out += struct.pack(">H", 2 * len(ciphers)) + struct.pack(f">{len(ciphers)}H", *ciphers)
    out += b"\x01\x00"  # compression: null only
    if extensions is None:
        exts = [ext(0x0A0A, b""), *extra]  # a GREASE extension first, as browsers send
        if sni is not None:
            exts.append(sni_ext(sni))
        if alpn:
            exts.append(alpn_ext(*alpn))
        exts.append(ext(43, b"\x04\x03\x04\x03\x03"))  # supported_versions: 1.3, 1.2
        extensions = exts
    if extensions or extensions is None:
        blob = b"".join(extensions)
        out += struct.pack(">H", len(blob)) + blob
    return out


def handshake(body: bytes, msg_type: int = 1) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def records(
    hs: bytes, sizes: Sequence[int] = (), version: int = 0x0301, ctype: int = 0x16
) -> bytes:
    """Wrap handshake bytes in TLS records, fragmenting at the given sizes (rest in the last)."""
    out, pos = b"", 0
    for size in [*sizes, len(hs)]:
        chunk = hs[pos : pos + size]
        if not chunk:
            break
        out += struct.pack(">BHH", ctype, version, len(chunk)) + chunk
        pos += len(chunk)
    return out


def client_hello(sni: str | bytes | None = "example.com", alpn: Sequence[str | bytes] = ("h2",),
                 **kw: object) -> bytes:  # fmt: skip
    return records(handshake(client_hello_body(sni, alpn, **kw)))  # type: ignore[arg-type]


def server_hello(version: int = 0x0303) -> bytes:
    body = struct.pack(">H", version) + bytes(32) + b"\x00" + b"\x13\x01" + b"\x00"
    body += struct.pack(">H", 6) + ext(43, b"\x03\x04")
    return records(handshake(body, msg_type=2), version=0x0303)


def sslv2_client_hello() -> bytes:
    """SSLv2-compatible ClientHello (2-byte header with the high bit set, msg type 1)."""
    body = b"\x01\x03\x01" + struct.pack(">HHH", 3, 0, 16) + b"\x00\x00\x04" + bytes(16)
    return struct.pack(">H", 0x8000 | len(body)) + body


def dpkt_view(data: bytes) -> tuple[str | None, tuple[str, ...], int]:
    """(sni, alpn, version) of a single-record ClientHello as dpkt.ssl sees it: a second oracle."""
    record = dpkt.ssl.TLSRecord(data)
    hs = dpkt.ssl.TLSHandshake(record.data)
    hello = hs.data
    exts = dict(getattr(hello, "extensions", []))
    sni = None
    if 0 in exts:
        raw = exts[0]
        (n,) = struct.unpack(">H", raw[3:5])
        sni = raw[5 : 5 + n].decode("ascii").lower()
    alpn: list[str] = []
    if 16 in exts:
        raw, pos = exts[16], 2
        while pos < len(raw):
            alpn.append(raw[pos + 1 : pos + 1 + raw[pos]].decode())
            pos += 1 + raw[pos]
    return sni, tuple(alpn), hello.version
