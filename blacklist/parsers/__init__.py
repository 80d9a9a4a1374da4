"""Feed formats: one module per format, one line per format in `PARSERS`.

A feed definition's `format:` picks the parser by name; no directory scanning, no import-time
registration (STYLE 2). Adding a format is one module plus one line here.
"""

from __future__ import annotations

from pathlib import Path

from blacklist.parsers import (
    adblock,
    csvfeed,
    jsonfeed,
    maltrail,
    misp,
    plain,
    poolurls,
    regulator,
    suricata,
    urls,
    webext,
)
from blacklist.parsers.base import Parser, ParseResult, SourceMeta, read_lines

PARSERS: dict[str, Parser] = {
    "plain": plain.parse,
    # hosts files are a subset of the plain grammar (hosts lines are exact-name entries there)
    "hosts": plain.parse,
    "maltrail": maltrail.parse,
    "adblock": adblock.parse,
    "webext": webext.parse,
    "csv": csvfeed.parse,
    "json": jsonfeed.parse,
    "misp": misp.parse,
    "suricata": suricata.parse,
    "regulator": regulator.parse,
    "urls": urls.parse,
    "pool-urls": poolurls.parse,
}


def parse_path(path: Path, fmt: str, source: SourceMeta) -> ParseResult:
    """Parse one feed file with the registered parser `fmt` (KeyError for an unknown format)."""
    return PARSERS[fmt](read_lines(path), source)


__all__ = ["PARSERS", "ParseResult", "Parser", "SourceMeta", "parse_path", "read_lines"]
