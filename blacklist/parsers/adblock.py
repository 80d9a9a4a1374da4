"""Adblock Plus 2.0 / uBlock Origin filter lists: keep the rules that block a whole host.

Only two rule shapes name a host and nothing else:

    ||pool.example^$third-party     host and its subdomains (options after `$` do not change
    ||pool.example                  which host; `domain=` limits the *pages*, not the target)
    |https://pool.example/          that exact host (the path must be empty or `/`)

Skipped: blank lines, `!` comments, the `[Adblock Plus 2.0]` / `[uBlock Origin]` header and uBO's
`# ` comments. Problems:

- `exception` — `@@` rules. They un-block something *inside* this list's own scope (a site's
  websocket that the list's regexes would catch); they are not a statement that the host is
  safe in general, so they must not become allowlist entries.
- `not-host-rule` — regex rules (`/…/`), path and substring rules (`/miner.js`, `||host/x.js`,
  `||host^*?proxy=`), wildcard hosts and cosmetic/scriptlet rules (`##`, `#@#`, `##+js(...)`):
  they block URLs or page elements, not a host, and widening them to a host would be wrong
  (`||sleeptimer.org/playerc.js` is one script on a video site).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from blacklist.parsers.base import ParseResult, SourceMeta
from blacklist.parsers.common import Collector, host_item, numbered, split_url
from blacklist.syntax import EntryError

_COSMETIC = re.compile(r"#[@?$%]*#")  # ##, #@#, #?#, #$#, #@$#, #%#
_NOT_HOST = re.compile(r"[/^*|?=&]")


def parse(lines: Iterable[str], source: SourceMeta) -> ParseResult:
    """Parse a filter list; every non-host rule is a counted problem, never an error."""
    col = Collector(source)
    count = 0
    for count, raw, text in numbered(lines):
        rule = text.strip()
        if _is_comment(rule):
            col.skip()
        elif rule.startswith("@@"):
            col.problem(count, raw, "exception", "exception rule (@@) of a block list, not ours")
        elif _COSMETIC.search(rule) or rule.startswith("/"):
            _not_host(col, count, raw, "cosmetic, regex or path rule")
        else:
            _network_rule(col, rule, raw, count)
    return col.result(count)


def _is_comment(rule: str) -> bool:
    header = rule.startswith("[") and rule.endswith("]")
    return not rule or rule.startswith("!") or header or rule == "#" or rule.startswith("# ")


def _network_rule(col: Collector, rule: str, raw: str, line: int) -> None:
    body = rule.partition("$")[0]
    if body.startswith("||"):
        host = body[2:].removesuffix("|").removesuffix("^")
        if not host or _NOT_HOST.search(host):
            _not_host(col, line, raw, "not a plain ||host^ rule")
        else:
            col.add(host, raw, line, subdomains=True)
    elif body.startswith("|") and "://" in body:
        url = body[1:].removesuffix("|").removesuffix("^")
        try:
            _, host, port, path = split_url(url)
            if path not in ("", "/") or _NOT_HOST.search(host):
                _not_host(col, line, raw, "URL rule with a path or pattern")
                return
            col.item(host_item(host, port, url), raw, line, subdomains=False)
        except EntryError as exc:
            col.problem(line, raw, exc.code, exc.reason)
    else:
        _not_host(col, line, raw, "substring or option-only rule")


def _not_host(col: Collector, line: int, raw: str, what: str) -> None:
    col.problem(line, raw, "not-host-rule", f"{what}: blocks URLs or page content, not a host")
