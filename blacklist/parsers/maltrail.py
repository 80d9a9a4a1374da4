"""Maltrail static trails (`stamparm/maltrail trails/static/**.txt`): one indicator per line.

A trail is an IP, `IP:port`, a domain, a URL (`http://1.2.3.4`, or scheme-less
`host/path/file.php`) or a bare path (`/xmrig_darwin`). Groups are introduced by
`# Reference: <url>` comment lines; `#` also starts a comment after whitespace.

- IPs, endpoints and domains become entries (Maltrail matches a domain trail for its
  subdomains as well, so domains cover subdomains).
- A URL gives its host: an IP (an endpoint when the URL has a port) or the exact domain name — a
  URL names one host, and the path is not visible on the wire for most traffic we see (TLS).
- A bare path (`/Duck.sh`, `/v1.43/containers/create?...`) is matched by Maltrail inside HTTP
  requests to *any* host; it is no network indicator: a problem with code `path`, so the count
  of such trails stays visible instead of vanishing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from blacklist.parsers.base import ParseResult, SourceMeta
from blacklist.parsers.common import Collector, add_url_host, numbered

_COMMENT = re.compile(r"(?:^|\s)#")
_PREFIX = re.compile(r"[0-9a-fA-F.:\[\]]+/[0-9]{1,3}\Z")  # 1.2.3.0/24, 2001:db8::/32


def parse(lines: Iterable[str], source: SourceMeta) -> ParseResult:
    """Parse a trail file; bad or non-network lines become problems, parsing goes on."""
    col = Collector(source)
    count = 0
    for count, raw, text in numbered(lines):
        tokens = _COMMENT.split(text, maxsplit=1)[0].split()
        if not tokens:
            col.skip()
        elif len(tokens) > 1:
            col.problem(count, raw, "extra-text", "more than one trail on a line")
        else:
            _trail(col, tokens[0], raw, count)
    return col.result(count)


def _trail(col: Collector, trail: str, raw: str, line: int) -> None:
    if "://" in trail:
        add_url_host(col, trail, raw, line)
    elif trail.startswith("/"):
        col.problem(
            line, raw, "path", f"URL path without a host (not a network trail): {trail[:80]!r}"
        )
    elif "/" in trail and not _PREFIX.match(trail):
        add_url_host(col, trail, raw, line)  # scheme-less URL: host/path
    else:
        col.add(trail, raw, line)
