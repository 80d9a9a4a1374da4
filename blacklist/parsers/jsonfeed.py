"""Pool endpoint JSON (RainbowMiner `mrrpoolsall.json`): an array of records with host and port.

`SourceMeta.options` (field names are case-sensitive, as in the data):

    path   dotted path to the array: `$` (default, the document itself), `data.pools`, `$.list`
    host   field holding the host (default `host`); `$` means the element itself is the host
    port   field holding the port (default `port`); an int or a digit string (`"5555"`)
    tls    field holding the TLS flag (default `tls`); must be a boolean or null if present

A record becomes `ip:port` (an endpoint) when the host is an IP address and the port is set,
otherwise an IP or an exact domain name (an endpoint list names the hosts to connect to, not
their subdomains). A domain entry cannot carry the port or TLS flag; they stay in the entry's
raw line — for one-line documents like RainbowMiner's that is the whole document, so consumers
should show `raw` truncated. Per record problems: `not-object`, `no-host`, `bad-port`,
`bad-tls`, and the item grammar's codes. `Entry.line` is the line the record starts on; lines
without a record start are skipped. A UTF-8 BOM is fine (`read_lines` keeps it, we drop it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from blacklist.parsers.base import ParseResult, SourceMeta
from blacklist.parsers.common import Collector, host_item
from blacklist.parsers.jsondoc import JsonDoc, JsonError, finish
from blacklist.syntax import EntryError


def parse(lines: Iterable[str], source: SourceMeta) -> ParseResult:
    """Parse one JSON document; every array element gives an entry or a problem."""
    col = Collector(source)
    doc = JsonDoc(lines)
    opts = source.options
    if not doc.blank:
        try:
            doc.load()
            for line, record in doc.elements(opts.get("path", "$")):
                _record(col, opts, record, doc.raw(line), line)
        except JsonError as exc:
            doc.problem(col, exc)
    finish(col, doc)
    return col.result(len(doc.raws))


def _record(col: Collector, opts: Mapping[str, str], record: Any, raw: str, line: int) -> None:
    host_key, port_key = opts.get("host", "host"), opts.get("port", "port")
    tls_key = opts.get("tls", "tls")
    if host_key == "$":
        record = {host_key: record}
    if not isinstance(record, dict):
        col.problem(line, raw, "not-object", f"array element is not an object: {record!r:.60}")
        return
    host, port, tls = record.get(host_key), record.get(port_key), record.get(tls_key)
    if not isinstance(host, str) or not host.strip():
        col.problem(line, raw, "no-host", f"no {host_key!r} string in {record!r:.60}")
    elif not (port is None or _port_text(port)):
        col.problem(line, raw, "bad-port", f"{port_key!r} is not a port number: {port!r:.30}")
    elif not (tls is None or isinstance(tls, bool)):
        col.problem(line, raw, "bad-tls", f"{tls_key!r} is not true/false/null: {tls!r:.30}")
    else:
        text = host.strip()
        try:
            col.item(host_item(text, _port_text(port), text), raw, line, subdomains=False)
        except EntryError as exc:
            col.problem(line, raw, exc.code, exc.reason)


def _port_text(port: object) -> str | None:
    """`3333` and `"3333"` → "3333"; anything else (bools, floats, words) → None."""
    if isinstance(port, int) and not isinstance(port, bool):
        return str(port)
    if isinstance(port, str) and port.strip().isdigit():
        return port.strip()
    return None
