"""Block-list entry types: what one feed line means once validated.

An `Entry` is immutable and carries its provenance (source name, raw line, line number) because
every hit must say which list and which line made it (intelmq keeps `raw` on every event).
`value` is canonical text, so equal indicators from different feeds compare equal and a list
version can be hashed from values alone. Validation lives in `blacklist.syntax`; this module only
holds the types and their invariants.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

TCP = 6
UDP = 17
PROTO_NAMES: dict[int, str] = {TCP: "tcp", UDP: "udp"}


class Kind(enum.StrEnum):
    """What an entry matches: an address, a prefix, an address plus port, or a DNS name."""

    IP = "ip"
    CIDR = "cidr"
    ENDPOINT = "endpoint"
    DOMAIN = "domain"


class Category(enum.StrEnum):
    """Why an indicator is listed; lets the operator choose block vs. report per category.

    `ALLOWLIST` entries are exceptions: when one is the best match, the caller must not alert.
    """

    POOL = "pool"
    BROWSER_MINER = "browser-miner"
    CRYPTO_SERVICE = "crypto-service"
    PROXY = "proxy"
    ALLOWLIST = "allowlist"
    # the regulator's weekly mining-IP list: mostly subscriber egress addresses to verify, not
    # pools; detectors must not flag every flow of such an address on the list's word
    REGULATOR = "regulator"


@dataclass(frozen=True, slots=True)
class Entry:
    """One validated indicator.

    - `value`: canonical text (`1.2.3.4`, `2001:db8::/32`, `1.2.3.4:3333/tcp`,
      `[2001:db8::1]:443`, `xn--mnchen-3ya.de`); feeding it back to `syntax.parse_item` gives the
      same entry.
    - `network`: the prefix for ip/cidr/endpoint entries (a /32 or /128 for ip and endpoint),
      `None` for domains.
    - `port`/`proto`: only endpoints carry a port; `proto` is 6, 17 or `None` (any).
    - `subdomains`: domain entries only; `True` means the name and every name below it.
    """

    kind: Kind
    value: str
    network: Network | None = None
    port: int | None = None
    proto: int | None = None
    source: str = ""
    category: Category = Category.POOL
    confidence: float = 0.5
    subdomains: bool = True
    raw: str = ""
    line: int = 0

    def __post_init__(self) -> None:
        net = self.network
        if self.kind is Kind.DOMAIN:
            ok = net is None and self.port is None and self.proto is None
        elif net is None:
            ok = False
        elif self.kind is Kind.CIDR:  # ip and endpoint entries are single addresses (/32, /128)
            ok = net.prefixlen < net.max_prefixlen and self.port is None and self.proto is None
        else:
            single = net.prefixlen == net.max_prefixlen
            ok = single and (self.port is not None) == (self.kind is Kind.ENDPOINT)
            ok = ok and (self.proto is None or self.port is not None)
        if not ok:
            raise ValueError(f"inconsistent {self.kind} entry: {self.value!r}")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")
        if self.proto is not None and self.proto not in PROTO_NAMES:
            raise ValueError(f"proto must be 6, 17 or None, not {self.proto}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be within [0, 1], not {self.confidence}")

    @property
    def key(self) -> tuple[Kind, str, bool]:
        """Identity of the indicator regardless of provenance (for de-duplication)."""
        return (self.kind, self.value, self.subdomains and self.kind is Kind.DOMAIN)

    def canonical(self) -> str:
        """Everything that changes what a match means, as one stable line (no raw/line)."""
        sub = int(self.subdomains) if self.kind is Kind.DOMAIN else 0
        return "\t".join(
            (self.kind, self.value, str(sub), self.category, f"{self.confidence:.6f}", self.source)
        )


@dataclass(frozen=True, slots=True)
class Problem:
    """A line (or one name of a hosts line) that did not become an entry, and why.

    `code` is a short fixed slug (bounded: usable as a metrics label); `reason` is for humans.
    """

    source: str
    line: int
    raw: str
    reason: str
    code: str = "invalid"
