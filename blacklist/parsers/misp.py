"""MISP warning-lists (`MISP/misp-warninglists lists/*/list.json`): known-benign ranges and names.

    {"name": "...", "type": "cidr", "list": ["104.16.0.0/13", "1.1.1.1", ...], ...}

These are *allowlist* material (CDN, cloud, public DNS, sinkhole, RFC 1918 space); the category
comes from the source index (`allowlist`), and `syntax.parse_item` lets allowlist entries name
private, documentation and very broad ranges (`0.0.0.0/8`, `240.0.0.0/4`), so `rfc1918` and
`rfc5735` import whole. Per `type`:

- `cidr` → ip/cidr entries; anything else in such a list (a name, `ip:port`) is `not-cidr`.
- `hostname` → domain entries covering subdomains (a hostname entry matches the name and every
  name below it, as in MISP's warning-list search); `string` → exact-name entries (MISP matches
  strings exactly) when the string is a valid name. Other strings are `not-hostname` (or the
  item grammar's code).
- `substring`, `regex` or an unknown type → `unsupported-type` for every element: a name
  fragment or a pattern is no indicator our matcher can hold.

Non-string elements are `not-string`. Each element's entry or problem is reported on the line
the element starts on (the lists are pretty-printed, one element per line).
"""

from __future__ import annotations

from collections.abc import Iterable

from blacklist.entries import Kind
from blacklist.parsers.base import ParseResult, SourceMeta
from blacklist.parsers.common import Collector
from blacklist.parsers.jsondoc import JsonDoc, JsonError, finish
from blacklist.syntax import EntryError

_KINDS = {
    "cidr": ((Kind.IP, Kind.CIDR), "not-cidr"),
    "hostname": ((Kind.DOMAIN,), "not-hostname"),
    "string": ((Kind.DOMAIN,), "not-hostname"),
}


def parse(lines: Iterable[str], source: SourceMeta) -> ParseResult:
    """Parse one warning-list document; each list element gives one entry or one problem."""
    col = Collector(source)
    doc = JsonDoc(lines)
    if not doc.blank:
        try:
            _document(col, doc)
        except JsonError as exc:
            doc.problem(col, exc)
    finish(col, doc)
    return col.result(len(doc.raws))


def _document(col: Collector, doc: JsonDoc) -> None:
    top = doc.load()
    if not isinstance(top, dict):
        raise JsonError("bad-document", "a warning-list is a JSON object", 0)
    kind = top.get("type")
    kinds, code = _KINDS.get(kind, ((), "")) if isinstance(kind, str) else ((), "")
    for line, value in doc.elements("list"):
        raw = doc.raw(line)
        if not isinstance(value, str):
            col.problem(line, raw, "not-string", f"list element is not a string: {value!r:.40}")
        elif not kinds:
            col.problem(line, raw, "unsupported-type", f"warning-list type {kind!r:.20}")
        else:
            _element(col, value, raw, line, kinds, code, exact=kind == "string")


def _element(
    col: Collector,
    value: str,
    raw: str,
    line: int,
    kinds: tuple[Kind, ...],
    code: str,
    *,
    exact: bool,
) -> None:
    try:
        entry = col.item(value, raw, line, subdomains=not exact)
    except EntryError as exc:
        col.problem(line, raw, exc.code, exc.reason)
        return
    if entry.kind not in kinds:
        col.entries.pop()
        col.problem(line, raw, code, f"{entry.kind} {entry.value!r} in a list of another type")
