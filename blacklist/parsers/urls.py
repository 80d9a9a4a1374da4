"""URL lists (imbytecat `pools.txt`, UT1 `urls`): one URL per line, the host is the indicator.

    https://solo.ckpool.org          → solo.ckpool.org (exact name)
    http://sha256.p2p-spb.xyz:9334   → sha256.p2p-spb.xyz (a domain cannot carry the port)
    http://192.0.2.10:8080/x         → 192.0.2.10:8080 (an endpoint)
    husnulkhoir.sch.id/12            → husnulkhoir.sch.id (UT1 writes URLs without a scheme)

A URL names one host, so names are exact (no subdomains); the path is dropped because the wire
mostly shows us the host (DNS, SNI), and the raw line keeps it. `#` comments and blank lines are
skipped; a line with more than one token is `extra-text`; a URL without a usable host is a
problem with the item grammar's code (`no-host`, `bad-port`, `single-label`, ...).
"""

from __future__ import annotations

from collections.abc import Iterable

from blacklist.parsers.base import ParseResult, SourceMeta
from blacklist.parsers.common import Collector, add_url_host, numbered


def parse(lines: Iterable[str], source: SourceMeta) -> ParseResult:
    """Parse one URL per line; each gives its host or a problem."""
    col = Collector(source)
    count = 0
    for count, raw, text in numbered(lines):
        tokens = text.split()
        if not tokens or tokens[0].startswith("#"):
            col.skip()
        elif len(tokens) > 1 and not tokens[1].startswith("#"):
            col.problem(count, raw, "extra-text", "more than one URL on a line")
        else:
            add_url_host(col, tokens[0], raw, count)
    return col.result(count)
