"""Served block lists: one output format per module, one registry table `FORMATS`.

- `model`: list types, `Member`, the `Format` interface, the element diff.
- `text` (txt, csv, json, edl), `linux` (ipset, nft), `devices` (cisco, juniper, mikrotik),
  `dns` (rpz, suricata-iprep): the formats.
- `snapshot`: the published members of a list version (built-in list + DB version through
  `blacklist.allow.active_blocklist`), computed once per version.
- `cache`: rendered bodies with a strong ETag (sha256), full and `since=` diff renderings.

Adding a format is one module (or class) plus one line in `FORMATS`.
"""

from __future__ import annotations

from blacklist.render.devices import Cisco, Juniper, Mikrotik
from blacklist.render.dns import Rpz, SuricataIprep
from blacklist.render.linux import Ipset, Nft
from blacklist.render.model import Format, ListType, Member, Meta, RenderError
from blacklist.render.text import Csv, Edl, Json, Txt

FORMATS: dict[str, Format] = {
    "txt": Txt(),
    "csv": Csv(),
    "json": Json(),
    "edl": Edl(),
    "ipset": Ipset(),
    "nft": Nft(),
    "cisco": Cisco(),
    "juniper": Juniper(),
    "mikrotik": Mikrotik(),
    "rpz": Rpz(),
    "suricata-iprep": SuricataIprep(),
}


def get_format(name: str, ltype: str, *, diff: bool = False) -> tuple[Format, ListType]:
    """The format and list type named in a request, or `RenderError` saying what is allowed."""
    fmt = FORMATS.get(name)
    if fmt is None:
        raise RenderError(f"unknown format {name!r}; one of: {', '.join(FORMATS)}")
    try:
        kind = ListType(ltype)
    except ValueError:
        kinds = ", ".join(t.value for t in ListType)
        raise RenderError(f"unknown type {ltype!r}; one of: {kinds}") from None
    fmt.check(kind, diff=diff)
    return fmt, kind


__all__ = ["FORMATS", "Format", "ListType", "Member", "Meta", "RenderError", "get_format"]
