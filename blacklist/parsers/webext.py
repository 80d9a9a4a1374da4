"""WebExtension match patterns (keraf/NoCoin, MinerBlock): `scheme://host/path`, one per line.

    *://coinhive.com/lib*          that exact host     (a match pattern's host is exact ...)
    wss://*.coin-hive.com/proxy*   the host and every subdomain  (... unless it is `*.host`)
    *://*/*cryptonight.wasm        any host: no network indicator → problem `any-host`

The scheme (`*`, `ws`, `wss`, `http`, ...) and the path glob are dropped: these lists name the
hosts that serve browser miners or their websocket proxies, and on the wire we see the host
(DNS, SNI), not the path. A path-scoped pattern therefore widens to its host; the CDN hosts
among them (keraf's `*://*.stackpathdns.com/assets/javascript/cr.js`) are what the CDN
allowlists are for. A port (`wss://*.monerise.com:9333/proxy/*`) keeps an IP as an endpoint and
is dropped from a domain, like everywhere else. `#` lines are MinerBlock's section comments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from blacklist.parsers.base import ParseResult, SourceMeta
from blacklist.parsers.common import Collector, host_item, numbered, split_url
from blacklist.syntax import EntryError

_PATTERN = re.compile(r"(\*|[a-z][a-z0-9+.-]*)://[^/\s]*(/\S*)?\Z", re.IGNORECASE)


def parse(lines: Iterable[str], source: SourceMeta) -> ParseResult:
    """Parse match patterns; the host of each pattern becomes an entry, or a problem says why."""
    col = Collector(source)
    count = 0
    for count, raw, text in numbered(lines):
        pattern = text.strip()
        if not pattern or pattern.startswith("#"):
            col.skip()
        elif pattern == "<all_urls>":
            col.problem(count, raw, "any-host", "<all_urls> matches every host")
        elif not _PATTERN.match(pattern):
            col.problem(count, raw, "bad-pattern", f"not a match pattern: {pattern[:80]!r}")
        else:
            _pattern(col, pattern, raw, count)
    return col.result(count)


def _pattern(col: Collector, pattern: str, raw: str, line: int) -> None:
    try:
        _, host, port, _ = split_url(pattern)
        if host == "*":
            col.problem(line, raw, "any-host", f"pattern for every host: {pattern[:80]!r}")
            return
        subdomains = host.startswith("*.")
        col.item(host_item(host, port, pattern), raw, line, subdomains=subdomains)
    except EntryError as exc:
        col.problem(line, raw, exc.code, exc.reason)
