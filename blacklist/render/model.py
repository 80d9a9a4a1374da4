"""What renderers see: served list types, members (one per published value) and the `Format`
interface every output format implements.

A `Member` is one published indicator of a list type after de-duplication across sources
(`value` is the canonical text of `blacklist.entries.Entry.value`); provenance is the joined
source names and the earliest first_seen date. Renderers turn a sorted tuple of members into
text chunks; they never see `Entry` objects, the database or the allowlist rules.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


class ListType(enum.StrEnum):
    """One served list holds one indicator type (list-formats §E1)."""

    IP = "ip"  # addresses and prefixes (entry kinds ip and cidr)
    ENDPOINT = "endpoint"  # address + port (+ protocol)
    DOMAIN = "domain"


class RenderError(ValueError):
    """A request a format cannot serve (unknown, unsupported type, no diff form): a 4xx."""


@dataclass(frozen=True, slots=True)
class Member:
    """One published value.

    - `family`: 4 or 6 for address types, 0 for domains.
    - `addr`/`plen`: the address text and prefix length (32/128 for single addresses).
    - `port`/`proto`: endpoints only; `proto` '' means any protocol.
    - `subdomains`: domains only; True = the name and every name below it.
    """

    value: str
    family: int = 0
    addr: str = ""
    plen: int = 0
    port: int = 0
    proto: str = ""
    subdomains: bool = False
    source: str = ""
    first_seen: str = ""  # ISO date, '' when unknown (the built-in list)
    category: str = "pool"
    confidence: float = 0.5  # the highest of the sources listing it

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network((self.addr, self.plen))

    @property
    def protos(self) -> tuple[str, ...]:
        """Protocols an endpoint stands for ('' = any: both TCP and UDP)."""
        return (self.proto,) if self.proto else ("tcp", "udp")


@dataclass(frozen=True, slots=True)
class Meta:
    """Header facts every rendering states (no wall-clock time: bodies must be reproducible)."""

    version: str
    ltype: ListType
    count: int
    since: str | None = None
    serial: int = 1  # monotonic where a format needs one (the DB version id; RPZ SOA serial)


_UNSAFE = re.compile(r"[^\x20-\x7e]|[\"'\\`;{}$#|]")


def note(text: str, limit: int = 120) -> str:
    """Provenance made safe for a comment in any format: printable ASCII only, no quotes,
    backslashes, braces, semicolons or comment characters, at most `limit` characters."""
    return _UNSAFE.sub("_", text)[:limit].strip()


def provenance(m: Member, limit: int = 120) -> str:
    """`source first_seen` as a safe comment text."""
    return note(f"{m.source} {m.first_seen}".strip(), limit)


class Format(ABC):
    """One output format: which list types it serves, its media type, how it renders a full
    list and (optionally) the difference between two lists.

    `elements` turns members into the format's own element keys (e.g. an endpoint with any
    protocol is two ipset elements, nested prefixes fold for nft); the generic diff compares
    element keys, so a diff is exactly what turns the old rendering into the new one."""

    name: str = ""
    types: frozenset[ListType] = frozenset()
    media_type: str = "text/plain; charset=utf-8"
    has_diff: bool = False
    max_entries: int | None = None  # device capacity where documented: warned, never cut
    limit_note: str = ""

    def check(self, ltype: ListType, *, diff: bool = False) -> None:
        """Raise `RenderError` unless this format can serve `ltype` (as a diff if asked)."""
        if ltype not in self.types:
            kinds = ", ".join(sorted(self.types))
            raise RenderError(
                f"format {self.name} cannot express type {ltype} (it serves: {kinds})"
            )
        if diff and not self.has_diff:
            raise RenderError(f"format {self.name} has no diff form; fetch the full list")

    @abstractmethod
    def render(self, members: Sequence[Member], meta: Meta) -> Iterator[str]:
        """The full list as text chunks (deterministic for the same members and meta)."""

    def elements(self, members: Sequence[Member], ltype: ListType) -> dict[str, Member]:
        """Element key -> member; the default is one element per member value."""
        return {m.value: m for m in members}

    def render_diff(
        self, added: Sequence[tuple[str, Member]], removed: Sequence[tuple[str, Member]],
        meta: Meta,
    ) -> Iterator[str]:  # fmt: skip
        """Commands/lines that turn the old list into the new one (formats with `has_diff`)."""
        raise RenderError(f"format {self.name} has no diff form; fetch the full list")

    def warning(self, meta: Meta) -> str | None:
        """A header warning when the list exceeds the documented device capacity."""
        if self.max_entries is not None and meta.count > self.max_entries:
            return (
                f"WARNING: {meta.count} entries exceed {self.max_entries} ({self.limit_note}); "
                "nothing was cut"
            )
        return None


def header(meta: Meta, fmt: Format, prefix: str = "# ") -> Iterator[str]:
    """Comment lines naming the list, count and any capacity warning. A full body does not
    name its version (that is the X-Minewatch-List-Version header), so a list type whose
    content did not change keeps its bytes and ETag across versions: routers see a 304."""
    yield f"{prefix}minewatch block list: format={fmt.name} type={meta.ltype}\n"
    yield f"{prefix}entries={meta.count}\n"
    if meta.since is not None:  # a full body names no version: same content, same ETag
        yield f"{prefix}diff from version {meta.since} to {meta.version}\n"
    warn = fmt.warning(meta)
    if warn:
        yield f"{prefix}{warn}\n"


def diff_elements(
    fmt: Format, old: Sequence[Member], new: Sequence[Member], ltype: ListType
) -> tuple[list[tuple[str, Member]], list[tuple[str, Member]]]:
    """(added, removed) element keys of `fmt` between two member lists, in element order."""
    a, b = fmt.elements(old, ltype), fmt.elements(new, ltype)
    added = [(k, m) for k, m in b.items() if k not in a]
    removed = [(k, m) for k, m in a.items() if k not in b]
    return added, removed
