"""Plain formats: txt (one value a line), csv, json and Palo Alto EDL.

- txt: bare values under a `#` header — what FortiGate external resources, Cisco FTD network
  feeds and `while read` scripts take; no trailing comments (several consumers reject them).
  Diff: `+value` / `-value` lines.
- csv: `value,type,source,first_seen,category` (RFC 4180: CRLF lines, quoting where a field
  holds a comma, quote, CR or LF); diff adds an `op` column.
- json: `{"type", "count", "entries": [{value, source, first_seen, category, ...}]}`;
  diff: `{"version", "since", "added": [...], "removed": [...]}`.
- edl: PAN-OS EDL, no header lines. IP lines `value comment` (comment after one space, line
  ≤ 255 chars); domains `name` + `*.name` for a name with its subdomains, `^name` for the
  exact name only (PAN-OS domain-list rules; entries ≤ 255 chars). Endpoints cannot be
  expressed (§E5).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

import orjson

from blacklist.render.model import Format, ListType, Member, Meta, header, note, provenance

ALL = frozenset(ListType)
EDL_MAX_LINE = 255


class Txt(Format):
    name = "txt"
    types = ALL
    has_diff = True

    def render(self, members: Sequence[Member], meta: Meta) -> Iterator[str]:
        yield from header(meta, self)
        for i in range(0, len(members), 4096):
            yield "".join(m.value + "\n" for m in members[i : i + 4096])

    def render_diff(
        self, added: Sequence[tuple[str, Member]], removed: Sequence[tuple[str, Member]],
        meta: Meta,
    ) -> Iterator[str]:  # fmt: skip
        yield from header(meta, self)
        yield "".join(f"-{k}\n" for k, _ in removed)
        yield "".join(f"+{k}\n" for k, _ in added)


def _csv_row(row: Sequence[object]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(row)
    return buf.getvalue()


class Csv(Format):
    name = "csv"
    types = ALL
    has_diff = True
    media_type = "text/csv; charset=utf-8"
    COLUMNS = ("value", "type", "source", "first_seen", "category")

    def _rows(self, members: Sequence[Member], ltype: ListType, op: str | None) -> Iterator[str]:
        for i in range(0, len(members), 4096):
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\r\n")
            for m in members[i : i + 4096]:
                row = (m.value, str(ltype), m.source, m.first_seen, m.category)
                w.writerow(row if op is None else (op, *row))
            yield buf.getvalue()

    def render(self, members: Sequence[Member], meta: Meta) -> Iterator[str]:
        yield _csv_row(self.COLUMNS)
        yield from self._rows(members, meta.ltype, None)

    def render_diff(
        self, added: Sequence[tuple[str, Member]], removed: Sequence[tuple[str, Member]],
        meta: Meta,
    ) -> Iterator[str]:  # fmt: skip
        yield _csv_row(("op", *self.COLUMNS))
        yield from self._rows([m for _, m in removed], meta.ltype, "-")
        yield from self._rows([m for _, m in added], meta.ltype, "+")


def _json_entry(m: Member) -> dict[str, object]:
    d: dict[str, object] = {"value": m.value, "source": m.source, "first_seen": m.first_seen,
                            "category": m.category}  # fmt: skip
    if m.family:
        d["family"] = m.family
    if m.port:
        d["port"], d["proto"] = m.port, m.proto or "any"
    if not m.family:
        d["subdomains"] = m.subdomains
    return d


def _json_array(members: Sequence[Member]) -> Iterator[str]:
    yield "["
    for i in range(0, len(members), 4096):
        chunk = b",".join(orjson.dumps(_json_entry(m)) for m in members[i : i + 4096])
        yield ("," if i else "") + chunk.decode()
    yield "]"


class Json(Format):
    name = "json"
    types = ALL
    has_diff = True
    media_type = "application/json"

    def render(self, members: Sequence[Member], meta: Meta) -> Iterator[str]:
        head = {"type": str(meta.ltype), "count": meta.count}
        yield orjson.dumps(head).decode()[:-1] + ',"entries":'
        yield from _json_array(members)
        yield "}\n"

    def render_diff(
        self, added: Sequence[tuple[str, Member]], removed: Sequence[tuple[str, Member]],
        meta: Meta,
    ) -> Iterator[str]:  # fmt: skip
        head = {"version": meta.version, "since": meta.since, "type": str(meta.ltype)}
        yield orjson.dumps(head).decode()[:-1] + ',"added":'
        yield from _json_array([m for _, m in added])
        yield ',"removed":'
        yield from _json_array([m for _, m in removed])
        yield "}\n"


class Edl(Format):
    """No header lines: PAN-OS reads every line as an entry (an IP line's comment follows the
    address after one space), so the capacity warning rides in the first IP entry's comment."""

    name = "edl"
    types = frozenset({ListType.IP, ListType.DOMAIN})
    max_entries = 50_000
    limit_note = "PAN-OS holds 50,000 IPs (150,000 on PA-5000/7000) and 50,000 domains in total"

    def render(self, members: Sequence[Member], meta: Meta) -> Iterator[str]:
        warn = self.warning(meta)
        for i in range(0, len(members), 4096):
            chunk = members[i : i + 4096]
            if i == 0 and warn and chunk and chunk[0].family:
                first = chunk[0]
                yield f"{first.value} {note(warn, EDL_MAX_LINE - len(first.value) - 1)}\n"
                chunk = chunk[1:]
            yield "".join(self._line(m) for m in chunk)

    def _line(self, m: Member) -> str:
        if m.family:
            room = EDL_MAX_LINE - len(m.value) - 1
            comment = provenance(m, room) if room > 0 else ""
            return f"{m.value} {comment}\n" if comment else m.value + "\n"
        if not m.subdomains:
            return f"^{m.value}\n"
        wild = f"*.{m.value}"  # ≤ 255: names are ≤ 253 characters
        return f"{m.value}\n{wild}\n"
