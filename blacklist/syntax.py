"""Strict validation of one indicator's text: addresses, prefixes, endpoints, domain names.

Lists carry typos (`04.27.157.60`), glued hosts lines, bogons and whole TLDs; a matcher that
trusts them blocks the wrong traffic. Every rejection raises `EntryError` with a fixed `code`
(bounded, usable as a metrics label) and a human reason; parsers turn it into a `Problem`.

Decisions (documented here because parsers and tests depend on them):
- A CIDR with host bits set (`1.2.3.4/24`) is a problem, not a silent fix: the author meant either
  the host or the network, and guessing the network widens a block by up to 2^n addresses.
- `/32` and `/128` prefixes are stored as kind `ip`; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as IPv4.
- Non-allowlist entries must be public: no bogon, loopback, multicast, private, documentation
  or reserved space, nothing outside IPv6 global unicast 2000::/3, and nothing broader than
  /8 (IPv4) or /16 (IPv6). Allowlist entries skip this check (allowlisting RFC 1918 is fine).
- Domains: ASCII is lower-cased; non-ASCII goes through IDNA 2003 (stdlib codec, `ß` → `ss`);
  labels 1–63 of `[a-z0-9_-]` without a leading/trailing hyphen, total ≤ 253, at least two
  labels, and a non-numeric last label (so an IP can never pass as a domain).
- `host:port` is only for IP hosts; `domain:port` is rejected rather than widened to the whole
  domain (CoinBlocker ships `server.com:1234`, copied from a config example).
"""

from __future__ import annotations

import ipaddress
import re

from blacklist.entries import PROTO_NAMES, Category, Entry, Kind, Network

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}\Z")
_IPV4_SHAPE = re.compile(r"[0-9]+(?:\.[0-9]+)*\Z")
_DIGITS = re.compile(r"(?:0|[1-9][0-9]*)\Z")
_LABEL = re.compile(r"[a-z0-9_-]{1,63}\Z")
_PROTO_BY_NAME = {name: num for num, name in PROTO_NAMES.items()}
_MIN_PREFIX = {4: 8, 6: 16}

_BOGONS_TEXT: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "'this network' / unspecified (RFC 1122)"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "shared CGNAT space (RFC 6598)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved / broadcast"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation (RFC 9637)"),
    ("2001:2::/48", "benchmarking"),
)
_BOGONS: tuple[tuple[int, int, int, str], ...] = tuple(
    (n.version, int(n.network_address), int(n.broadcast_address), why)
    for n, why in ((ipaddress.ip_network(t), why) for t, why in _BOGONS_TEXT)
)
_V6_GLOBAL = (0x2 << 124, (0x4 << 124) - 1)  # 2000::/3 as an inclusive int range


class EntryError(ValueError):
    """Why a text is not a valid indicator; `code` is a fixed slug, `reason` human text."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """One IPv4 (strict dotted quad) or IPv6 address; IPv4-mapped IPv6 becomes IPv4."""
    if ":" not in text:
        if not _IPV4.match(text):
            if _IPV4_SHAPE.match(text) and any(len(o) > 1 and o[0] == "0" for o in text.split(".")):
                raise EntryError("leading-zero", f"IPv4 octet with a leading zero: {text!r}")
            raise EntryError("bad-ipv4", f"not a strict dotted-quad IPv4 address: {text!r}")
        return ipaddress.IPv4Address(text)
    if "%" in text:
        raise EntryError("bad-ipv6", f"IPv6 zone index not allowed: {text!r}")
    try:
        addr = ipaddress.IPv6Address(text)
    except ValueError as exc:
        raise EntryError("bad-ipv6", f"not an IPv6 address: {text!r}") from exc
    return addr.ipv4_mapped or addr


def parse_network(text: str) -> Network:
    """`addr/len` with a plain decimal length; host bits set is an error (see module doc)."""
    addr_text, _, plen_text = text.partition("/")
    addr = parse_address(addr_text)
    if not _DIGITS.match(plen_text) or len(plen_text) > 3:
        raise EntryError("bad-prefix", f"prefix length must be a plain decimal: {text!r}")
    plen = int(plen_text)
    if ":" in addr_text and addr.version == 4:  # ::ffff:a.b.c.d/len → IPv4 len - 96
        plen -= 96
    if not 0 <= plen <= addr.max_prefixlen:
        raise EntryError("bad-prefix", f"prefix length out of range: {text!r}")
    try:
        return ipaddress.ip_network((addr, plen))
    except ValueError as exc:
        net = ipaddress.ip_network((addr, plen), strict=False)
        raise EntryError(
            "host-bits", f"host bits set in {text!r}: meant {addr}/{addr.max_prefixlen} or {net}?"
        ) from exc


def check_public(net: Network) -> None:
    """Reject networks no pool can live in, or so broad that matching them is meaningless."""
    first, last = int(net.network_address), int(net.broadcast_address)
    for version, lo, hi, why in _BOGONS:
        if version == net.version and first <= hi and lo <= last:
            raise EntryError("bogon", f"{net} overlaps non-public space: {why}")
    if net.version == 6 and not (_V6_GLOBAL[0] <= first and last <= _V6_GLOBAL[1]):
        raise EntryError("bogon", f"{net} is outside IPv6 global unicast 2000::/3")
    if net.prefixlen < _MIN_PREFIX[net.version]:
        raise EntryError("too-broad", f"{net} is broader than /{_MIN_PREFIX[net.version]}")


def canonical_domain(text: str) -> str:
    """Lower-case, IDNA-encoded, trailing-dot-free name, or `EntryError`."""
    name = text.strip()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise EntryError("idna", f"not a valid internationalised name: {text!r}") from exc
    name = name.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise EntryError("empty", "empty name")
    if len(name) > 253:
        raise EntryError("name-length", f"name longer than 253 characters: {text[:80]!r}…")
    labels = name.split(".")
    if len(labels) < 2:
        raise EntryError("single-label", f"single-label name is not a public domain: {text!r}")
    for label in labels:
        if not _LABEL.match(label):
            code = "label-length" if len(label) > 63 or not label else "label-chars"
            raise EntryError(code, f"bad label {label[:70]!r} in {text[:80]!r}")
        if label[0] == "-" or label[-1] == "-":
            raise EntryError("label-hyphen", f"label {label!r} starts or ends with '-'")
    if labels[-1].isdigit():
        raise EntryError("ip-like", f"looks like an IP address, not a domain: {text!r}")
    return name


def _endpoint_value(net: Network, port: int, proto: int | None) -> str:
    host = str(net.network_address)
    text = f"[{host}]:{port}" if net.version == 6 else f"{host}:{port}"
    return f"{text}/{PROTO_NAMES[proto]}" if proto is not None else text


def _port(text: str, whole: str) -> int:
    if not _DIGITS.match(text) or len(text) > 5 or not 1 <= int(text) <= 65535:
        raise EntryError("bad-port", f"port must be 1–65535: {whole!r}")
    return int(text)


def _split_endpoint(item: str) -> tuple[str, int | None, int | None]:
    """`host[:port][/proto]` → (host, port, proto); the host is not validated yet."""
    proto: int | None = None
    head, sep, tail = item.rpartition("/")
    if sep and tail.lower() in _PROTO_BY_NAME:
        item, proto = head, _PROTO_BY_NAME[tail.lower()]
    port: int | None = None
    if item.startswith("["):
        host, close, rest = item[1:].partition("]")
        if not close or (rest and not rest.startswith(":")) or ":" not in host:
            raise EntryError("bad-endpoint", f"expected [IPv6]:port: {item!r}")
        item, port = host, (_port(rest[1:], item) if rest else None)
    elif item.count(":") == 1:
        host, _, port_text = item.partition(":")
        if not host:
            raise EntryError("bad-endpoint", f"missing host before the port: {item!r}")
        if not _IPV4_SHAPE.match(host.partition("/")[0]):
            raise EntryError("domain-port", f"ports are only supported on IP hosts: {item!r}")
        if "/" in host:
            raise EntryError("bad-endpoint", f"a port needs a single address: {item!r}")
        item, port = host, _port(port_text, item)
    if proto is not None and port is None:
        raise EntryError("proto-without-port", f"/tcp or /udp needs a port: {item!r}")
    return item, port, proto


def _is_glued(item: str) -> bool:
    """`0.0.0.0pool.com` / `0.0.0.0.pool.com`: a hosts line that lost its space."""
    for sink in ("0.0.0.0", "127.0.0.1"):
        rest = item[len(sink) :]
        if item.startswith(sink) and rest and rest[0] not in "/:":
            return not _IPV4_SHAPE.match(item)
    return False


def parse_item(
    text: str,
    *,
    source: str = "",
    category: Category = Category.POOL,
    confidence: float = 0.5,
    subdomains: bool = True,
    raw: str | None = None,
    line: int = 0,
    public_only: bool = True,
) -> Entry:
    """One indicator in the `--blocklist` item syntax (see `blacklist.parsers.plain`).

    `subdomains` is the default for a bare domain; `*.name` and `.name` always cover
    subdomains. `public_only=False` (labs, sample captures, internal networks) and allowlist
    entries skip the public-space check; the syntax stays strict. Raises `EntryError` and
    nothing else, whatever the text.
    """
    raw = text if raw is None else raw
    item = text.strip()
    if "://" in item:
        raise EntryError("url", f"URL, not a host (needs a URL feed format): {item[:80]!r}")
    if _is_glued(item):
        raise EntryError("hosts-glued", f"hosts address glued to a name: {item[:80]!r}")
    item, port, proto = _split_endpoint(item)
    addr_part = item.partition("/")[0]
    if ":" in addr_part or _IPV4_SHAPE.match(addr_part):
        net = parse_network(item) if "/" in item else ipaddress.ip_network(parse_address(item))
        if public_only and category is not Category.ALLOWLIST:
            check_public(net)
        if port is not None:
            if net.prefixlen != net.max_prefixlen:
                raise EntryError("bad-endpoint", f"a port needs a single address: {item!r}")
            value = _endpoint_value(net, port, proto)
            kind = Kind.ENDPOINT
        else:
            kind = Kind.IP if net.prefixlen == net.max_prefixlen else Kind.CIDR
            value = str(net.network_address) if kind is Kind.IP else str(net)
        return Entry(kind, value, net, port, proto, source, category, confidence, False, raw, line)
    if "/" in item:
        raise EntryError("path", f"a path or URL is not a host: {item[:80]!r}")
    if item.startswith("*."):
        item, subdomains = item[2:], True
    elif item.startswith(".") and not item.startswith(".."):
        item, subdomains = item[1:], True
    if "*" in item:
        raise EntryError("wildcard", f"a wildcard is only allowed as a leading '*.': {item!r}")
    name = canonical_domain(item)
    return Entry(
        Kind.DOMAIN, name, None, None, None, source, category, confidence, subdomains, raw, line
    )
