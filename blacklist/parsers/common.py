"""Helpers shared by the feed parsers: line numbering, result collection, URL hosts.

Every parser keeps the plain-parser contract (see `base`): `raw` is the physical line without its
line ending, the first line may start with a BOM, and each line is skipped explicitly or yields
entries/problems. `Collector` holds that bookkeeping so each format module is only its grammar.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from blacklist.entries import Category, Entry, Problem
from blacklist.parsers.base import ParseResult, SourceMeta
from blacklist.syntax import EntryError, parse_item

_IPV4_SHAPE = re.compile(r"[0-9.]+\Z")
_PORT = re.compile(r"[0-9]{1,5}\Z")


def numbered(lines: Iterable[str]) -> Iterator[tuple[int, str, str]]:
    """(line number, raw line without line ending, text without a leading BOM on line 1)."""
    for count, line in enumerate(lines, 1):
        raw = line.rstrip("\r\n")
        yield count, raw, raw.removeprefix("\ufeff") if count == 1 else raw


@dataclass
class Collector:
    """Entries, problems and skipped lines of one parse, with the source's defaults applied.

    `public_only` overrides the source's setting (the regulator list must accept subscriber
    space whatever the source index says); `category` likewise.
    """

    source: SourceMeta
    public_only: bool | None = None
    category: Category | None = None
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: int = 0

    def item(self, text: str, raw: str, line: int, *, subdomains: bool = True) -> Entry:
        """Validate one indicator (raises `EntryError`, and nothing else) and keep it."""
        src = self.source
        try:
            entry = parse_item(
                text,
                source=src.name,
                category=src.category if self.category is None else self.category,
                confidence=src.confidence,
                subdomains=subdomains,
                raw=raw,
                line=line,
                public_only=src.public_only if self.public_only is None else self.public_only,
            )
        except EntryError:
            raise
        except ValueError as exc:  # `int()` of a >4300-digit port or prefix length in syntax
            raise EntryError("invalid", f"unreadable indicator: {exc}"[:120]) from None
        self.entries.append(entry)
        return entry

    def add(self, text: str, raw: str, line: int, *, subdomains: bool = True) -> bool:
        """`item`, with a rejection recorded as a problem instead of raised."""
        try:
            self.item(text, raw, line, subdomains=subdomains)
        except EntryError as exc:
            self.problem(line, raw, exc.code, exc.reason)
            return False
        return True

    def problem(self, line: int, raw: str, code: str, reason: str) -> None:
        self.problems.append(Problem(self.source.name, line, raw, reason, code))

    def skip(self) -> None:
        self.skipped += 1

    def result(self, lines: int) -> ParseResult:
        return ParseResult(tuple(self.entries), tuple(self.problems), lines, self.skipped)


def split_url(text: str) -> tuple[str, str, str | None, str]:
    """`scheme://user@host:port/path` → (scheme, host, port text or None, path); no validation.

    The scheme is optional (`host/path` as in UT1 and Maltrail). IPv6 hosts must be bracketed,
    as in any URL; the brackets are removed.
    """
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    cut = re.search(r"[/?#]", rest)
    authority, path = (rest[: cut.start()], rest[cut.start() :]) if cut else (rest, "")
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        host, close, after = hostport[1:].partition("]")
        if not close or (after and not after.startswith(":")):
            raise EntryError("bad-url", f"unclosed or malformed [IPv6] host: {text[:80]!r}")
        return scheme, host, after[1:] if after else None, path
    if hostport.count(":") > 1:
        raise EntryError("bad-url", f"IPv6 host must be bracketed in a URL: {text[:80]!r}")
    host, colon, port = hostport.partition(":")
    return scheme, host, port if colon else None, path


def host_item(host: str, port: str | None, text: str) -> str:
    """The item text for a URL host: `ip:port` (an endpoint) or just the host.

    A domain cannot carry a port (an `Entry` rule, see `syntax`), so the port is validated and
    dropped; it stays visible in the entry's raw line.
    """
    if not host:
        raise EntryError("no-host", f"no host in {text[:80]!r}")
    if port is not None and not (_PORT.match(port) and 1 <= int(port) <= 65535):
        raise EntryError("bad-port", f"port must be 1–65535: {text[:80]!r}")
    if port is None or not (":" in host or _IPV4_SHAPE.match(host.partition("/")[0])):
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def add_url_host(col: Collector, url: str, raw: str, line: int) -> bool:
    """Keep the host of `url` as an exact name (a URL names one host, not its subdomains)."""
    try:
        _, host, port, _ = split_url(url)
        col.item(host_item(host, port, url), raw, line, subdomains=False)
    except EntryError as exc:
        col.problem(line, raw, exc.code, exc.reason)
        return False
    return True
