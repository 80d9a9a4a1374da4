"""Addresses and prefixes as integers, for the attribution indexes and the table range columns.

IPv4 and IPv6 live in separate spaces: an index key is the family (4 or 6) in the top byte and
the 16-byte big-endian address below it, so IPv6 prefixes such as ::/0 never cover IPv4 and
fixed-width keys sort as bytes. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) count as IPv4.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton

_BITS = {4: 32, 6: 128}
KEY_LEN = 17


@dataclass(frozen=True, slots=True)
class Net:
    """A canonical address (host prefix) or prefix: first and last address as integers."""

    text: str  # canonical: "10.0.0.1" for a host, "10.0.0.0/24" for a prefix
    family: int
    prefixlen: int
    lo: int
    hi: int


def parse_net(value: str) -> Net:
    """An address or CIDR prefix; host bits set, scopes and garbage raise ValueError."""
    value = value.strip()
    if not value:
        raise ValueError("missing address")
    if "/" not in value:  # fast path for the common case, a host address
        try:
            family, addr = parse_ip(value)
        except ValueError:
            raise ValueError(f"malformed address or prefix: {value[:60]!r}") from None
        width = _BITS[family]
        packed = addr.to_bytes(width // 8, "big")
        return Net(
            inet_ntop(AF_INET if family == 4 else AF_INET6, packed), family, width, addr, addr
        )
    if "%" in value:
        raise ValueError(f"scoped address not allowed: {value[:60]!r}")
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        if "/" in value:
            try:
                loose = ipaddress.ip_network(value, strict=False)
            except ValueError:
                pass
            else:
                raise ValueError(
                    f"host bits set in {value[:60]!r} (did you mean {loose}?)"
                ) from exc
        raise ValueError(f"malformed address or prefix: {value[:60]!r}") from exc
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None:
        if net.prefixlen < 96:
            raise ValueError(f"prefix spans IPv4-mapped space: {value[:60]!r}")
        net = ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}")
    family = net.version
    lo = int(net.network_address)
    hi = int(net.broadcast_address)
    text = str(net.network_address) if net.prefixlen == _BITS[family] else str(net)
    return Net(text, family, net.prefixlen, lo, hi)


def parse_ip(ip: str) -> tuple[int, int]:
    """(family, integer) of an address; ValueError when it is not one."""
    try:
        return 4, int.from_bytes(inet_pton(AF_INET, ip), "big")
    except (OSError, TypeError, ValueError):
        pass
    try:
        value = int.from_bytes(inet_pton(AF_INET6, ip), "big")
    except (OSError, TypeError, ValueError) as exc:
        raise ValueError(f"not an IP address: {ip[:60]!r}") from exc
    if value >> 32 == 0xFFFF:
        return 4, value & 0xFFFFFFFF
    return 6, value


def bits(family: int) -> int:
    return _BITS[family]


def key(family: int, value: int) -> bytes:
    """The 17-byte sort key: family byte, then the 16-byte big-endian address."""
    return ((family << 128) | value).to_bytes(KEY_LEN, "big")


def hex16(value: int) -> str:
    """The fixed-width hex text of the table's lo/hi columns."""
    return f"{value:032x}"


def mask(family: int, value: int, prefixlen: int) -> int:
    width = _BITS[family]
    return value >> (width - prefixlen) << (width - prefixlen)
