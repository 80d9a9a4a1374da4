"""Delimited text with one indicator per record (FrantisekHrdina `address,source`, exports).

Which column holds the indicator is feed-specific, so it comes from `SourceMeta.options`:

    column       header name or 0-based index of the indicator column (default `0`)
    port_column  optional header name or index of a port column (IP + port → endpoint)
    delimiter    one character (default `,`; `tab` for TSV)
    header       `yes` (default: the first record names the columns) or `no`

One record per physical line (no quoted newlines: no feed we read has them, and it keeps the
line↔record mapping that provenance needs). `#` lines and blank lines are skipped; other
columns (the `source` URL) stay visible in the entry's raw line. A record without the column is
a problem (`short-row`, `no-column` when the header lacks the named column), as is an empty
value; the value itself goes through the strict item grammar. A port on a domain is validated
and dropped (an `Entry` cannot carry it), as in every format.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping

from blacklist.parsers.base import ParseResult, SourceMeta
from blacklist.parsers.common import Collector, host_item, numbered
from blacklist.syntax import EntryError


class _Columns:
    """Resolves the configured column names/indices once the header (if any) is known."""

    def __init__(self, options: Mapping[str, str]) -> None:
        self.column = options.get("column", "0").strip()
        self.port_column = options.get("port_column", "").strip()
        self.header = options.get("header", "yes").strip().lower() not in ("no", "false", "0")
        names = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
        delim = options.get("delimiter", ",")
        self.delimiter = names.get(delim, delim)[:1] or ","
        self.names: list[str] = []

    def index(self, spec: str) -> int | None:
        if spec.isascii() and spec.isdigit():
            return int(spec)
        lowered = [n.strip().lower() for n in self.names]
        return lowered.index(spec.lower()) if spec.lower() in lowered else None


def parse(lines: Iterable[str], source: SourceMeta) -> ParseResult:
    """Parse delimited records; a bad record becomes a `Problem` and parsing goes on."""
    col = Collector(source)
    cols = _Columns(source.options)
    want_header = cols.header
    count = 0
    for count, raw, text in numbered(lines):
        if not text.strip() or text.lstrip().startswith("#"):
            col.skip()
            continue
        try:
            row = next(csv.reader([text], delimiter=cols.delimiter), [])
        except csv.Error as exc:
            col.problem(count, raw, "bad-csv", f"unreadable record: {exc}")
            continue
        if want_header:
            cols.names, want_header = row, False
            col.skip()
            continue
        _record(col, cols, row, raw, count)
    return col.result(count)


def _record(col: Collector, cols: _Columns, row: list[str], raw: str, line: int) -> None:
    at = cols.index(cols.column)
    port_at = cols.index(cols.port_column) if cols.port_column else None
    if at is None or (cols.port_column and port_at is None):
        col.problem(line, raw, "no-column", f"no column {cols.column!r}/{cols.port_column!r}")
        return
    if at >= len(row) or (port_at is not None and port_at >= len(row)):
        col.problem(line, raw, "short-row", f"record has {len(row)} fields")
        return
    value = row[at].strip()
    port = row[port_at].strip() if port_at is not None else ""
    if not value:
        col.problem(line, raw, "empty", "empty indicator field")
        return
    try:
        item = host_item(value, port, value) if port else value
        col.item(item, raw, line)
    except EntryError as exc:
        col.problem(line, raw, exc.code, exc.reason)
