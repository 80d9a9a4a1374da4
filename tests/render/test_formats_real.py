"""Renderings checked by the real consumers: nft (loaded in a network namespace we create),
ipset (restored in such a namespace, members listed back), named-checkzone for RPZ; the diff
forms applied on top of the old list give exactly the new one. Hostile provenance (quotes,
newlines, braces, unicode, very long text) must not break any of them."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blacklist.render import FORMATS, ListType, Member, Meta
from blacklist.render.model import diff_elements
from blacklist.render.snapshot import members_of

from .support import entries, expected_elements, read_ipset, read_nft

IPS = ["5.9.0.10", "45.9.100.0/24", "45.9.100.7", "45.9.0.0/16", "2a01:4f8::1", "2a01:4f9::/32",
       "81.2.3.4"]  # fmt: skip
EPS = ["45.10.113.5:3333/tcp", "45.10.113.9:4444", "[2a01:4f8::5]:443/udp", "81.2.3.4:14444"]
HOSTILE = 'ev"il\r\n; } drop {\\ $x `rm` \u00fc\u2028' + "x" * 400


def members(values: list[str], ltype: ListType, source: str = "feed-a") -> tuple[Member, ...]:
    es = entries(values, source=source)
    return members_of(es, {id(e): "2024-05-01" for e in es})[ltype]


def text(fmt: str, ms: tuple[Member, ...], ltype: ListType) -> str:
    return "".join(FORMATS[fmt].render(ms, Meta("7.abc", ltype, len(ms), serial=7)))


def diff_text(fmt: str, old: tuple[Member, ...], new: tuple[Member, ...], lt: ListType) -> str:
    added, removed = diff_elements(FORMATS[fmt], old, new, lt)
    return "".join(FORMATS[fmt].render_diff(added, removed, Meta("8.x", lt, len(new), "7.abc")))


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("SKIPPED LOUDLY: network namespaces need root and iproute2")
    name = f"h1-render-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def run(ns: str, *cmd: str, stdin: str | None = None) -> str:
    proc = subprocess.run(["ip", "netns", "exec", ns, *cmd], input=stdin, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, f"{cmd}: {proc.stderr[:2000]}"
    return proc.stdout


def nft_members(ns: str, ltype: ListType) -> set[Any]:
    out: set[Any] = set()
    prefix = "ip" if ltype is ListType.IP else "ep"
    for fam in (4, 6):
        listing = run(ns, "nft", "list", "set", "inet", "minewatch", f"mw_{prefix}{fam}")
        out |= read_nft("add element x { " + _elements(listing) + " }")
    return out


def _elements(listing: str) -> str:
    """The `elements = { … }` body of `nft list set`, one-lined."""
    if "elements = {" not in listing:
        return ""
    body = listing.split("elements = {", 1)[1].split("}", 1)[0]
    return " ".join(body.split())


@pytest.mark.parametrize("ltype", [ListType.IP, ListType.ENDPOINT])
def test_nft_loads_and_diff_applies(netns: str, tmp_path: Path, ltype: ListType) -> None:
    vals = IPS if ltype is ListType.IP else EPS
    old = members(vals, ltype, HOSTILE)
    new = members(vals[1:] + (["82.1.1.1"] if ltype is ListType.IP else ["82.1.1.1:3333"]), ltype)
    full = tmp_path / "full.nft"
    full.write_text(text("nft", old, ltype))
    run(netns, "nft", "-c", "-f", str(full))
    run(netns, "nft", "-f", str(full))
    listed = nft_members(netns, ltype)
    expected = expected_elements([m.value for m in old], ltype is ListType.ENDPOINT)
    if ltype is ListType.IP:  # nested prefixes fold into the covering one
        expected = {
            n
            for n in expected
            if not any(n != o and n.version == o.version and n.subnet_of(o) for o in expected)
        }
        listed = {ipaddress.ip_network(n) for n in listed}
    assert listed == expected
    run(netns, "nft", "-f", str(full))  # reloading the same file is idempotent
    patch = tmp_path / "diff.nft"
    patch.write_text(diff_text("nft", old, new, ltype))
    run(netns, "nft", "-f", str(patch))
    after = nft_members(netns, ltype)
    run(netns, "nft", "-f", str(_write(tmp_path / "new.nft", text("nft", new, ltype))))
    assert after == nft_members(netns, ltype)


def _write(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def ipset_members(ns: str, ltype: ListType) -> set[Any]:
    out: set[Any] = set()
    prefix = "ip" if ltype is ListType.IP else "ep"
    for fam in (4, 6):
        saved = run(ns, "ipset", "save", f"minewatch-{prefix}{fam}")
        lines = [ln.replace(f"minewatch-{prefix}{fam} ", f"minewatch-{prefix}{fam}-new ", 1)
                 for ln in saved.splitlines() if ln.startswith("add ")]  # fmt: skip
        out |= read_ipset("\n".join(lines))
    return out


@pytest.mark.parametrize("ltype", [ListType.IP, ListType.ENDPOINT])
def test_ipset_restore_swap_and_diff(netns: str, ltype: ListType) -> None:
    vals = IPS if ltype is ListType.IP else EPS
    old = members(vals, ltype, HOSTILE)
    new = members(vals[2:] + (["82.1.1.1"] if ltype is ListType.IP else ["82.1.1.1:3333"]), ltype)
    try:
        run(netns, "ipset", "restore", stdin=text("ipset", old, ltype))
        want = expected_elements([m.value for m in old], ltype is ListType.ENDPOINT)
        assert _norm(ipset_members(netns, ltype)) == _norm(want)
        run(netns, "ipset", "restore", stdin=text("ipset", old, ltype))  # reload: swap again
        run(netns, "ipset", "restore", stdin=diff_text("ipset", old, new, ltype))
        want = expected_elements([m.value for m in new], ltype is ListType.ENDPOINT)
        assert _norm(ipset_members(netns, ltype)) == _norm(want)
    finally:  # ipset sets are per namespace, but destroy them anyway
        for fam in (4, 6):
            prefix = "ip" if ltype is ListType.IP else "ep"
            cmd = ["ip", "netns", "exec", netns, "ipset", "destroy", f"minewatch-{prefix}{fam}"]
            subprocess.run(cmd, capture_output=True, check=False)


def _norm(items: set[Any]) -> set[Any]:
    """ipset lists /32 and /128 members without a length: compare networks as networks."""
    return {ipaddress.ip_network(i) if isinstance(i, str) else i for i in items}


@pytest.mark.parametrize("ltype", [ListType.IP, ListType.DOMAIN])
def test_rpz_zone_passes_named_checkzone(tmp_path: Path, ltype: ListType) -> None:
    if shutil.which("named-checkzone") is None:
        pytest.skip("SKIPPED LOUDLY: named-checkzone (bind9-utils) not installed")
    long_label = "a" * 63
    long_name = ".".join([long_label] * 3 + ["b" * 50]) + ".com"  # 246: no room for the origin
    vals = IPS if ltype is ListType.IP else ["pool.example.net", long_name, "xn--mnchen-3ya.de"]
    ms = members(vals, ltype, HOSTILE)
    body = text("rpz", ms, ltype)
    zone = _write(tmp_path / "rpz.zone", body)
    proc = subprocess.run(["named-checkzone", "-i", "full", "rpz.minewatch", str(zone)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if ltype is ListType.DOMAIN:
        assert "WARNING: 2 names longer than DNS allows" in body
        assert "*.pool.example.net CNAME ." in body
    else:
        assert "32.10.0.9.5.rpz-ip CNAME ." in body
        assert "\n32.zz.4f9.2a01.rpz-ip CNAME" in body
        assert "\n128.1.zz.4f8.2a01.rpz-ip CNAME" in body


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_hostile_provenance_stays_inside_its_comment(fmt: str) -> None:
    for ltype in FORMATS[fmt].types:
        vals = {ListType.IP: IPS, ListType.ENDPOINT: EPS, ListType.DOMAIN: ["pool.example.net"]}
        ms = members(vals[ltype], ltype, HOSTILE)
        body = text(fmt, ms, ltype)
        if fmt == "csv":  # quoted, not stripped: the exact text comes back
            rows = list(csv.DictReader(io.StringIO(body)))
            assert {r["source"] for r in rows} == {HOSTILE}
        elif fmt == "json":
            assert {e["source"] for e in json.loads(body)["entries"]} == {HOSTILE}
        else:
            assert "\u2028" not in body and "\r" not in body
            assert "rm`" not in body and '"evil' not in body and "drop {" not in body
            plain = text(fmt, members(vals[ltype], ltype, "plain"), ltype)
            assert len(body.splitlines()) == len(plain.splitlines())  # no line was added


def test_capacity_warning_is_said_not_cut() -> None:
    many = tuple(
        Member(f"5.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 4,
               f"5.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 32, source="f")
        for i in range(50_001)
    )  # fmt: skip
    body = text("edl", many, ListType.IP)
    lines = body.splitlines()
    assert len(lines) == 50_001 and not any(ln.startswith("#") for ln in lines)
    assert lines[0].startswith("5.0.0.0 WARNING: 50001 entries exceed 50000")
    assert all(len(ln) <= 255 for ln in lines[:10])
    assert "WARNING" not in text("edl", many[:100], ListType.IP)
