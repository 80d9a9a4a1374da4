"""Router configuration snippets: Cisco IOS-XE, Juniper Junos (`load set`), MikroTik RouterOS.

- cisco ip: `object-group network MINEWATCH-IP4` (` host A`, ` A MASK`) and, for IPv6, an
  `ipv6 access-list MINEWATCH-IP6` of deny lines; endpoint: `ip access-list extended
  MINEWATCH-EP4` / `ipv6 access-list MINEWATCH-EP6` with `deny tcp any host A eq PORT` lines and
  a closing permit (an ACL ends in an implicit deny). A full list removes and re-creates the
  objects; the diff form edits the object group / ACL lines in place (`no host A`).
- juniper ip: `policy-options prefix-list MINEWATCH-IP4`/`-IP6` (deleted and re-set: one commit;
  statements only, no comment lines);
  endpoint: firewall filters `MINEWATCH-EP4`/`-EP6` with one term per pool port. No diff form.
- mikrotik ip: address list `minewatch-ip` under `/ip` and `/ipv6 firewall address-list`;
  endpoint: drop rules in chain `minewatch-ep` (`jump` to it from forward). Comments carry the
  provenance. Diff: `remove [find …]` / `add …`.
Domains are refused: none of these objects match DNS names (use rpz or edl).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from blacklist.render.model import Format, ListType, Member, Meta, header, provenance

OBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$")


def object_name(name: str) -> str:
    """A device object name: a letter, then letters, digits, `_ . -`; ≤ 63 characters."""
    if not OBJECT_NAME.match(name):
        raise ValueError(f"not a valid device object name: {name!r}")
    return name


def _mask(plen: int) -> str:
    bits = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
    return ".".join(str((bits >> s) & 0xFF) for s in (24, 16, 8, 0))


def _host(m: Member) -> bool:
    return m.plen == (32 if m.family == 4 else 128)


class Cisco(Format):
    name = "cisco"
    types = frozenset({ListType.IP, ListType.ENDPOINT})
    has_diff = True

    def _lines(self, m: Member, ltype: ListType) -> list[str]:
        if ltype is ListType.IP:
            if m.family == 4:
                return [f" host {m.addr}" if _host(m) else f" {m.addr} {_mask(m.plen)}"]
            return [f" deny ipv6 any host {m.addr}" if _host(m) else f" deny ipv6 any {m.value}"]
        return [f" deny {p} any host {m.addr} eq {m.port}" for p in m.protos]

    def _group(self, ltype: ListType, family: int) -> tuple[str, str]:
        """(object header line, name) of a family's object."""
        if ltype is ListType.IP and family == 4:
            name = object_name("MINEWATCH-IP4")
            return f"object-group network {name}", name
        name = object_name(f"MINEWATCH-{'IP' if ltype is ListType.IP else 'EP'}{family}")
        return (f"ip access-list extended {name}" if family == 4 else f"ipv6 access-list {name}",
                name)  # fmt: skip

    def elements(self, members: Sequence[Member], ltype: ListType) -> dict[str, Member]:
        return {f"{m.family}{line}": m for m in members for line in self._lines(m, ltype)}

    def render(self, members: Sequence[Member], meta: Meta) -> Iterator[str]:
        yield from header(meta, self, "! ")
        elems = self.elements(members, meta.ltype)
        for family in (4, 6):
            head, _ = self._group(meta.ltype, family)
            yield f"no {head}\n{head}\n"
            yield "".join(k[1:] + "\n" for k in elems if k[0] == str(family))
            if not head.startswith("object-group"):
                yield " permit ip any any\n" if family == 4 else " permit ipv6 any any\n"
        yield "end\n"

    def render_diff(
        self, added: Sequence[tuple[str, Member]], removed: Sequence[tuple[str, Member]],
        meta: Meta,
    ) -> Iterator[str]:  # fmt: skip
        yield from header(meta, self, "! ")
        for family in (4, 6):
            head, _ = self._group(meta.ltype, family)
            gone = [k[1:] for k, _ in removed if k[0] == str(family)]
            new = [k[1:] for k, _ in added if k[0] == str(family)]
            if not gone and not new:
                continue
            yield head + "\n" + "".join(f" no{line}\n" for line in gone)
            if new and not head.startswith("object-group"):  # new denies before the permit
                permit = " permit ip any any" if family == 4 else " permit ipv6 any any"
                yield f" no{permit}\n" + "".join(f"{line}\n" for line in new) + permit + "\n"
            else:
                yield "".join(f"{line}\n" for line in new)
        yield "end\n"


class Juniper(Format):
    name = "juniper"
    types = frozenset({ListType.IP, ListType.ENDPOINT})

    def render(self, members: Sequence[Member], meta: Meta) -> Iterator[str]:
        # no comment lines: `load set` takes configuration statements only
        for family, inet in ((4, "inet"), (6, "inet6")):
            mine = [m for m in members if m.family == family]
            if meta.ltype is ListType.IP:
                name = object_name(f"MINEWATCH-IP{family}")
                yield f"delete policy-options prefix-list {name}\n"
                yield "".join(
                    f"set policy-options prefix-list {name} {m.addr}/{m.plen}\n" for m in mine
                )
                continue
            name = object_name(f"MINEWATCH-EP{family}")
            base = f"set firewall family {inet} filter {name} term"
            yield f"delete firewall family {inet} filter {name}\n"
            i = 0
            for m in mine:
                for proto in m.protos:
                    i += 1
                    yield (
                        f"{base} ep{i} from destination-address {m.addr}/{m.plen}\n"
                        f"{base} ep{i} from protocol {proto}\n"
                        f"{base} ep{i} from destination-port {m.port}\n"
                        f"{base} ep{i} then count minewatch-ep\n{base} ep{i} then discard\n"
                    )
            yield f"{base} rest then accept\n"


def _ros(text: str) -> str:
    """A RouterOS double-quoted string body: `provenance` already removed quotes, `\\`, `$`."""
    return text.replace("?", "_")


class Mikrotik(Format):
    name = "mikrotik"
    types = frozenset({ListType.IP, ListType.ENDPOINT})
    has_diff = True
    LIST = "minewatch-ip"
    CHAIN = "minewatch-ep"

    def _menu(self, ltype: ListType, family: int) -> str:
        ip = "/ip" if family == 4 else "/ipv6"
        return f"{ip} firewall {'address-list' if ltype is ListType.IP else 'filter'}"

    def elements(self, members: Sequence[Member], ltype: ListType) -> dict[str, Member]:
        if ltype is ListType.IP:
            return {f"{m.family} list={self.LIST} address={m.value}": m for m in members}
        return {
            f"{m.family} chain={self.CHAIN} dst-address={m.addr} protocol={p} dst-port={m.port}": m
            for m in members
            for p in m.protos
        }

    def _add(self, key: str, m: Member, ltype: ListType) -> str:
        action = "" if ltype is ListType.IP else " action=drop"
        return f'add {key.partition(" ")[2]}{action} comment="{_ros(provenance(m))}"\n'

    def render(self, members: Sequence[Member], meta: Meta) -> Iterator[str]:
        yield from header(meta, self)
        elems = list(self.elements(members, meta.ltype).items())
        sel = f"list={self.LIST}" if meta.ltype is ListType.IP else f"chain={self.CHAIN}"
        for family in (4, 6):
            yield f"{self._menu(meta.ltype, family)}\nremove [find {sel}]\n"
            mine = [(k, m) for k, m in elems if k[0] == str(family)]
            for i in range(0, len(mine), 4096):
                yield "".join(self._add(k, m, meta.ltype) for k, m in mine[i : i + 4096])
            if meta.ltype is ListType.ENDPOINT:
                yield f"add chain={self.CHAIN} action=return\n"

    def render_diff(
        self, added: Sequence[tuple[str, Member]], removed: Sequence[tuple[str, Member]],
        meta: Meta,
    ) -> Iterator[str]:  # fmt: skip
        yield from header(meta, self)
        for family in (4, 6):
            gone = [k for k, _ in removed if k[0] == str(family)]
            new = [(k, m) for k, m in added if k[0] == str(family)]
            if not gone and not new:
                continue
            yield self._menu(meta.ltype, family) + "\n"
            yield "".join(f"remove [find {k.partition(' ')[2]}]\n" for k in gone)
            if meta.ltype is ListType.ENDPOINT and new:  # keep the return rule last
                yield f"remove [find chain={self.CHAIN} action=return]\n"
            yield "".join(self._add(k, m, meta.ltype) for k, m in new)
            if meta.ltype is ListType.ENDPOINT and new:
                yield f"add chain={self.CHAIN} action=return\n"
