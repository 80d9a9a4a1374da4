"""The `--blocklist FILE` format: one indicator per line, hosts lines understood as well.

Accepted items (item syntax and validation: `blacklist.syntax.parse_item`):

    1.2.3.4            2001:db8::1         1.2.3.0/24        2001:db8::/32
    1.2.3.4:3333       [2001:db8::1]:443   1.2.3.4:3333/tcp  1.2.3.4:53/udp
    pool.example       *.pool.example      .pool.example     (all three: name and subdomains)
    0.0.0.0 name       127.0.0.1 name      :: name   ::1 name  (hosts lines: exact names only)

`#` and `;` start a comment anywhere on a line; blank lines, CRLF and a leading BOM are fine.

Hosts-derived names get `subdomains=False`: a hosts file can only ever block the exact names it
lists, and hosts-format lists enumerate subdomains one by one (CoinBlocker lists 000–009.<x>);
widening them would also widen their scope creep (whole exchanges). Standard hosts boilerplate
(`127.0.0.1 localhost`, `255.255.255.255 broadcasthost`, ...) is skipped, not reported. A hosts
line that maps names to a real address is a name→IP statement, not a block entry: a problem.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from blacklist.entries import Entry, Kind, Problem
from blacklist.parsers.base import ParseResult, SourceMeta
from blacklist.syntax import EntryError, parse_item

_COMMENT = re.compile(r"[#;]")
_BOILERPLATE = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
        "0.0.0.0",
    }
)


def parse(lines: Iterable[str], source: SourceMeta) -> ParseResult:
    """Parse plain/hosts lines; a bad line becomes a `Problem` and parsing goes on."""
    entries: list[Entry] = []
    problems: list[Problem] = []
    count = skipped = 0
    for count, line in enumerate(lines, 1):
        raw = line.rstrip("\r\n")
        text = raw.removeprefix("\ufeff") if count == 1 else raw
        tokens = _COMMENT.split(text, maxsplit=1)[0].split()
        try:
            if len(tokens) == 1:
                entries.append(_item(tokens[0], source, raw, count, subdomains=True))
            elif tokens and _hosts_line(tokens, source, raw, count, entries, problems):
                continue
            else:
                skipped += 1
        except EntryError as exc:
            problems.append(Problem(source.name, count, raw, exc.reason, exc.code))
    return ParseResult(tuple(entries), tuple(problems), count, skipped)


def _item(text: str, source: SourceMeta, raw: str, line: int, *, subdomains: bool) -> Entry:
    return parse_item(
        text,
        source=source.name,
        category=source.category,
        confidence=source.confidence,
        subdomains=subdomains,
        raw=raw,
        line=line,
        public_only=source.public_only,
    )


def _hosts_line(
    tokens: list[str],
    source: SourceMeta,
    raw: str,
    line: int,
    entries: list[Entry],
    problems: list[Problem],
) -> bool:
    """Handle `address name [name ...]`; False when the line is pure boilerplate (skipped)."""
    try:
        address = ipaddress.ip_address(tokens[0])
    except ValueError:
        raise EntryError(
            "extra-text", "more than one item on a line (hosts lines start with an address)"
        ) from None
    names = [n for n in tokens[1:] if n.lower().rstrip(".") not in _BOILERPLATE]
    if not names:
        return False
    if not (address.is_unspecified or address.is_loopback):
        raise EntryError("hosts-address", f"hosts line maps names to a real address {address}")
    for name in names:
        try:
            entry = _item(name, source, raw, line, subdomains=False)
            if entry.kind is not Kind.DOMAIN:
                raise EntryError("hosts-name", f"hosts name is not a domain: {name!r}")
            entries.append(entry)
        except EntryError as exc:
            problems.append(Problem(source.name, line, raw, exc.reason, exc.code))
    return True
