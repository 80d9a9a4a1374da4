"""DNS names in one candidate payload (UDP/TCP 53, mDNS 5353): what was asked, what it resolved to.

Two tiers, because nearly all DNS packets are queries and responses are rarer but richer:

* `dns_qname` / the query path of `dns_names` is hand-written: header plus question names, a few
  microseconds, no objects beyond the strings returned.
* Responses are parsed with `dpkt.dns`, driven one record at a time (rather than `DNS.unpack`, which
  is all-or-nothing) so that a truncated message or a lying ANCOUNT still yields what came before
  it, and with an RR subclass that only decodes A/AAAA/CNAME rdata, so record types dpkt does not
  know (HTTPS, RRSIG, NSEC, ...) do not sink the whole message.

Names follow one rule on both paths so they compare equal: labels decoded as UTF-8 (a name that
is not UTF-8 is refused), lower-cased, no trailing dot (the root is ""), at most 255 octets on the
wire, labels of at most 63 octets, a dot inside a label left as is (dpkt cannot tell either), and
non-printable characters as RFC 1035 ``\\DDD`` escapes so a name always stays on one log line.
Compression pointers must point strictly backwards (dpkt's rule too), which makes pointer loops
impossible and bounds the work by the payload length.

Nothing here raises: garbage gives None (the caller counts those), a message that breaks off part
way gives a `DnsInfo` with what was read and `error` set.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Any, Literal

import dpkt.dns

__all__ = ["DnsAnswer", "DnsInfo", "dns_names", "dns_qname"]

_HDR = struct.Struct(">HHHHHH")
_QR = 0x8000
KNOWN_OPCODES = frozenset({0, 1, 2, 4, 5, 6})  # QUERY IQUERY STATUS NOTIFY UPDATE DSO
_CLASS_IN = 1
_MDNS_CLASS_BIT = 0x8000  # mDNS: unicast-response (questions) / cache-flush (records)
MAX_NAME_WIRE = 255  # RFC 1035 3.1, including the root octet
_MAX_NAME_TEXT = MAX_NAME_WIRE - 2  # the same limit on the dotted text form


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """One answer-section record of class IN that maps a name to an address or another name."""

    name: str
    rtype: Literal["A", "AAAA", "CNAME"]
    value: str  # IP address text, or the CNAME target
    ttl: int


@dataclass(frozen=True, slots=True)
class DnsInfo:
    """What one DNS message says. `answers` is only filled for responses (QR=1)."""

    is_response: bool
    rcode: int  # the 4 header bits; the EDNS extended rcode is not merged in
    qnames: tuple[str, ...]
    answers: tuple[DnsAnswer, ...] = ()
    error: str | None = None  # set when the message broke off or lied about its counts


def _text(raw: str) -> str:
    """Normalise a decoded name: lower-case, non-printables as \\DDD (common path: one call)."""
    name = raw.lower()
    if name.isprintable():
        return name
    return "".join(
        c if c.isprintable() else "".join(f"\\{b:03d}" for b in c.encode()) for c in name
    )


def _read_name(buf: bytes, off: int) -> tuple[str, int] | None:
    """Decode the name at `off`; return (name, offset just after it) or None if malformed."""
    size = len(buf)
    labels: list[bytes] = []
    wire = 1  # the root octet
    after = -1  # where the name ends in the stream, fixed at the first pointer
    floor = off  # a pointer must land strictly before where the current run of labels began
    while off < size:
        n = buf[off]
        if n == 0:
            name = b".".join(labels)
            try:
                text = name.decode()
            except UnicodeDecodeError:
                return None
            return _text(text), (off + 1 if after < 0 else after)
        if n < 0x40:
            wire += n + 1
            nxt = off + 1 + n
            if wire > MAX_NAME_WIRE or nxt > size:
                return None
            labels.append(buf[off + 1 : nxt])
            off = nxt
        elif n >= 0xC0 and off + 1 < size:
            ptr = ((n & 0x3F) << 8) | buf[off + 1]
            if ptr >= floor:
                return None
            if after < 0:
                after = off + 2
            floor = off = ptr
        else:
            return None  # 0x40/0x80 label types (obsolete/reserved) or a cut-off pointer
    return None


def _unframe(payload: bytes, over_tcp: bool) -> bytes:
    """DNS over TCP carries a 2-byte length; keep only the first message (or what is there)."""
    if not over_tcp:
        return payload
    if len(payload) < 2:
        return b""
    return payload[2 : 2 + ((payload[0] << 8) | payload[1])]


def _header(buf: bytes) -> tuple[int, int, int] | None:
    """(flags, qdcount, ancount) for a plausible DNS header, else None."""
    if len(buf) < _HDR.size:
        return None
    _id, flags, qd, an, _ns, _ar = _HDR.unpack_from(buf)
    if (flags >> 11) & 0xF not in KNOWN_OPCODES:
        return None
    return flags, qd, an


def _question(buf: bytes, off: int) -> tuple[str, int] | None:
    """A question's name and the offset after its type and class (which must be present)."""
    got = _read_name(buf, off)
    if got is None or got[1] + 4 > len(buf):
        return None
    return got[0], got[1] + 4


def dns_qname(payload: bytes, over_tcp: bool = False) -> str | None:
    """First question name, from the header and one question only; None if absent or garbage."""
    buf = _unframe(payload, over_tcp)
    hdr = _header(buf)
    if hdr is None or hdr[1] == 0:
        return None
    got = _question(buf, _HDR.size)
    return None if got is None else got[0]


class _RR(dpkt.dns.DNS.RR):  # type: ignore[misc]
    """dpkt RR that decodes only what we report; other types keep raw rdata instead of raising."""

    cname: str | None

    def unpack_rdata(self, buf: bytes, off: int) -> None:
        if self.type != dpkt.dns.DNS_CNAME:
            return
        try:
            cname, end = dpkt.dns.unpack_name(buf, off)
        except Exception:  # dpkt raises several types on bad names; only this record is lost
            self.cname = None
            return
        self.cname = cname if end <= off + self.rlen else None


class _Message(dpkt.dns.DNS):  # type: ignore[misc]
    RR = _RR


_DPKT = _Message()  # stateless apart from its RR/Q classes: used only for unpack_q / unpack_rr


def _answer(rr: Any) -> DnsAnswer | None:
    if rr.cls & ~_MDNS_CLASS_BIT != _CLASS_IN or len(rr.name.encode()) > _MAX_NAME_TEXT:
        return None
    name, rdata = _text(rr.name), rr.rdata
    if rr.type == dpkt.dns.DNS_A and len(rdata) == 4:
        return DnsAnswer(name, "A", socket.inet_ntop(socket.AF_INET, rdata), rr.ttl)
    if rr.type == dpkt.dns.DNS_AAAA and len(rdata) == 16:
        return DnsAnswer(name, "AAAA", socket.inet_ntop(socket.AF_INET6, rdata), rr.ttl)
    if rr.type == dpkt.dns.DNS_CNAME and rr.cname is not None:
        if len(rr.cname.encode()) > _MAX_NAME_TEXT:
            return None
        return DnsAnswer(name, "CNAME", _text(rr.cname), rr.ttl)
    return None


def _response(buf: bytes, rcode: int, qd: int, an: int) -> DnsInfo | None:
    """Question and answer sections via dpkt, keeping whatever parsed before a failure."""
    qnames: list[str] = []
    answers: list[DnsAnswer] = []
    off, error = _HDR.size, None
    try:
        for _ in range(qd):
            q, off = _DPKT.unpack_q(buf, off)
            if len(q.name.encode()) > _MAX_NAME_TEXT:
                raise ValueError("name longer than 255 octets")
            qnames.append(_text(q.name))
        for _ in range(an):
            rr, off = _DPKT.unpack_rr(buf, off)
            if off > len(buf):
                raise dpkt.NeedData("rdata cut off")
            ans = _answer(rr)
            if ans is not None:
                answers.append(ans)
    except Exception as exc:  # dpkt is not total (struct/Unicode errors too); never raise
        error = f"{type(exc).__name__}: {exc}"[:120]
        if not qnames and not answers:
            return None
    return DnsInfo(True, rcode, tuple(qnames), tuple(answers), error)


def dns_names(payload: bytes, over_tcp: bool = False) -> DnsInfo | None:
    """Question names (and, for responses, A/AAAA/CNAME answers) of one DNS message, or None.

    Queries never touch dpkt. A message whose header or first question is unreadable is None.
    Question names are kept whatever their class (CHAOS ``version.bind`` included); answers only
    for class IN, with the mDNS cache-flush bit ignored. Authority/additional sections (EDNS OPT,
    glue) are not read: they are not answers, and skipping them removes a whole class of failures.
    """
    buf = _unframe(payload, over_tcp)
    hdr = _header(buf)
    if hdr is None:
        return None
    flags, qd, an = hdr
    rcode = flags & 0xF
    got = _question(buf, _HDR.size) if qd else None
    if qd and got is None:
        return None  # the cheap gate: garbage on port 53 stops here, before dpkt
    if flags & _QR:
        return _response(buf, rcode, qd, an)
    qnames: list[str] = []
    error = None
    while got is not None:
        qnames.append(got[0])
        if len(qnames) == qd:
            break
        got = _question(buf, got[1])
        if got is None:
            error = "question cut off or malformed"
    return DnsInfo(False, rcode, tuple(qnames), (), error)
