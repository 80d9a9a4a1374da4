"""DNS response-policy zone (BIND RPZ) and Suricata IP reputation.

rpz: a complete zone (SOA serial = the list's DB version, so secondaries notice changes) with
`name CNAME .` (NXDOMAIN) per domain, `*.name CNAME .` when subdomains are covered, and
`<plen>.<reversed address>.rpz-ip CNAME .` for addresses (answers containing them). Owner
names are relative to the zone (`RPZ_ORIGIN`, or any shorter name); a name that would exceed
253 characters with the origin, or a label over 63, cannot be expressed and is left out with a
counted header warning. Provenance goes in `;` comments.

suricata-iprep: reputation lines `<ip or cidr>,<category id>,<score 1–127>` under `#`
comments; score = highest source confidence × 127. The categories file to install next to it
is `CATEGORIES_FILE` (ids ≤ 60, Suricata's fixed maximum).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence

from blacklist.render.model import Format, ListType, Member, Meta, header, provenance

RPZ_ORIGIN = "rpz.minewatch"
TTL = 300
CATEGORY_IDS = {"pool": 40, "browser-miner": 41, "crypto-service": 42, "proxy": 43}
CATEGORIES_FILE = (
    "40,MiningPool,Cryptocurrency mining pool\n"
    "41,BrowserMiner,In-browser cryptocurrency miner\n"
    "42,CryptoService,Cryptocurrency service used by miners\n"
    "43,MiningProxy,Mining proxy\n"
)


def rpz_ip_owner(m: Member) -> str:
    """`32.10.2.0.192.rpz-ip`; IPv6 `128.1.zz.db8.2001.rpz-ip`, the `::` run written `zz`
    (draft-vixie-dnsop-dns-rpz)."""
    if m.family == 4:
        labels = m.addr.split(".")
    else:
        text = ipaddress.IPv6Address(m.addr).compressed
        if "::" in text:
            left, right = (part.split(":") if part else [] for part in text.split("::"))
            labels = [*left, "zz", *right]
        else:
            labels = text.split(":")
    return ".".join([str(m.plen), *reversed(labels), "rpz-ip"])


def fits(owner: str, origin: str = RPZ_ORIGIN) -> bool:
    """Whether `owner`.`origin` is a valid absolute name (≤ 253 characters, labels ≤ 63)."""
    full = f"{owner}.{origin}"
    return len(full) <= 253 and all(0 < len(label) <= 63 for label in full.split("."))


class Rpz(Format):
    name = "rpz"
    types = frozenset({ListType.DOMAIN, ListType.IP})

    def elements(self, members: Sequence[Member], ltype: ListType) -> dict[str, Member]:
        out: dict[str, Member] = {}
        for m in members:
            if ltype is ListType.IP:
                out[rpz_ip_owner(m)] = m
            else:
                out[m.value] = m
                if m.subdomains:
                    out["*." + m.value] = m
        return out

    def render(self, members: Sequence[Member], meta: Meta) -> Iterator[str]:
        elems = self.elements(members, meta.ltype)
        keep = {k: m for k, m in elems.items() if fits(k)}
        yield from header(meta, self, "; ")
        if len(keep) < len(elems):
            yield (
                f"; WARNING: {len(elems) - len(keep)} names longer than DNS allows under "
                f"{RPZ_ORIGIN}. were left out\n"
            )
        serial = meta.serial % (1 << 32) or 1
        yield (
            f"$TTL {TTL}\n@ IN SOA localhost. hostmaster.localhost. "
            f"({serial} 3600 600 86400 {TTL})\n@ IN NS localhost.\n"
        )
        items = list(keep.items())
        for i in range(0, len(items), 4096):
            yield "".join(f"{k} CNAME . ; {provenance(m)}\n" for k, m in items[i : i + 4096])


class SuricataIprep(Format):
    name = "suricata-iprep"
    types = frozenset({ListType.IP})

    def render(self, members: Sequence[Member], meta: Meta) -> Iterator[str]:
        yield from header(meta, self)
        yield "# categories file: " + CATEGORIES_FILE.replace("\n", "; ").rstrip("; ") + "\n"
        for i in range(0, len(members), 4096):
            yield "".join(
                f"{m.value},{CATEGORY_IDS.get(m.category, 40)},"
                f"{max(1, min(127, round(m.confidence * 127)))}\n"
                for m in members[i : i + 4096]
            )
