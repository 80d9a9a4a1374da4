"""Stratum pool URLs found anywhere in text (miner docs, Markdown, configs, READMEs).

Miners take pools as `scheme://[user[:pass]@]host:port[/...]` with a `stratum*` scheme
(`stratum+tcp`, `stratum1+ssl`, `stratum2+tcp`, `stratums`, ...); ethminer's
`POOL_EXAMPLES_ETH.md` lists ~80 such lines. Every `stratum*://` URL with a host and a numeric
port becomes an entry: `ip:port` for an IP host, else the exact domain name (the port is then
only in the raw line). Other text — prose, `https://` links to pool websites, placeholders such
as `stratum://` or `stratum+tls://[...]` without host and port — is not a pool URL: a line with
none is skipped. One line may give several entries; an invalid host is a problem with the item
grammar's code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from blacklist.parsers.base import ParseResult, SourceMeta
from blacklist.parsers.common import Collector, host_item, numbered
from blacklist.syntax import EntryError

_POOL_URL = re.compile(
    r"\bstratum[a-z0-9+]*://"  # scheme
    r"(?:[^\s@/]*@)?"  # user[.worker][:password]@
    r"(\[[0-9a-f:.]+\]|[a-z0-9_.-]+):([0-9]+)",  # host:port
    re.IGNORECASE,
)


def parse(lines: Iterable[str], source: SourceMeta) -> ParseResult:
    """Collect the stratum URLs of every line; lines without one are skipped."""
    col = Collector(source)
    count = 0
    for count, raw, text in numbered(lines):
        found = False
        for match in _POOL_URL.finditer(text):
            found = True
            host, port = match[1].strip("[]"), match[2]
            try:
                col.item(host_item(host, port, match[0]), raw, count, subdomains=False)
            except EntryError as exc:
                col.problem(count, raw, exc.code, exc.reason)
        if not found:
            col.skip()
    return col.result(count)
