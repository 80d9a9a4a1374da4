"""Walk the shared captures with dpkt (independently of the project's numba decoder) and run tshark.

Only what the extraction tests need: frame number, transport, ports, TCP seq and payload of each
TCP/UDP packet. IP fragments are skipped (tshark reassembles them; we do not).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dpkt

PCAP_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pcaps"
SUFFIXES = (".pcap", ".pcapng", ".cap")
AGGREGATOR = "\x1e"  # tshark multi-value separator; cannot occur unescaped in tshark's text


def capture_files() -> list[Path]:
    return sorted(
        p
        for sub in ("benign", "mining")
        for p in (PCAP_ROOT / sub).glob("*")
        if p.suffix in SUFFIXES
    )


@dataclass(frozen=True, slots=True)
class Segment:
    frame: int  # 1-based, as tshark numbers frames
    proto: int  # 6 or 17
    src: bytes
    sport: int
    dst: bytes
    dport: int
    seq: int  # TCP sequence number (0 for UDP)
    payload: bytes


def _network(linktype: int, buf: bytes) -> Any:
    """Link layer -> dpkt object whose `.data` chain leads to IP (None if unsupported)."""
    if linktype == 1:
        return dpkt.ethernet.Ethernet(buf)
    if linktype == 113:
        return dpkt.sll.SLL(buf)
    if linktype in (0, 108):
        return dpkt.loopback.Loopback(buf)
    if linktype in (12, 14, 101, 228, 229):
        return dpkt.ip.IP(buf) if buf[:1] and buf[0] >> 4 == 4 else dpkt.ip6.IP6(buf)
    if linktype == 192 and len(buf) >= 8:  # PPI: little-endian header length and inner DLT
        return _network(
            int.from_bytes(buf[4:8], "little"), buf[int.from_bytes(buf[2:4], "little") :]
        )
    return None


def _innermost_ip(obj: object) -> dpkt.ip.IP | dpkt.ip6.IP6 | None:
    ip = None
    for _ in range(12):  # Ethernet / VLAN / PPPoE / PPP / IP-in-IP / GRE chains
        if isinstance(obj, dpkt.ip.IP):
            if obj.mf or obj.offset:
                return None
            ip = obj
        elif isinstance(obj, dpkt.ip6.IP6):
            if 44 in obj.extension_hdrs:
                return None
            ip = obj
        elif ip is not None and not isinstance(obj, dpkt.gre.GRE | dpkt.ethernet.Ethernet):
            break
        obj = getattr(obj, "data", None)
        if obj is None or isinstance(obj, bytes):
            break
    return ip


def segments(path: Path, stats: dict[str, int]) -> Iterator[Segment]:
    """Every decodable TCP/UDP packet of a capture; `stats` counts what was skipped and why."""
    with path.open("rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        reader = dpkt.pcapng.Reader(fh) if magic == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(fh)
        linktype = reader.datalink() & 0xFFFF  # the high bits of a pcap linktype carry FCS info
        for frame, (_ts, buf) in enumerate(reader, start=1):
            stats["frames"] += 1
            try:
                ip = _innermost_ip(_network(linktype, buf))
            except Exception:  # dpkt rejects truncated or odd frames in many ways
                ip = None
            l4 = getattr(ip, "data", None)
            if ip is None or not isinstance(l4, dpkt.tcp.TCP | dpkt.udp.UDP):
                stats["skipped: not tcp/udp, fragment or unsupported link"] += 1
                continue
            tcp = isinstance(l4, dpkt.tcp.TCP)
            seq = l4.seq if tcp else 0
            yield Segment(
                frame, 6 if tcp else 17, ip.src, l4.sport, ip.dst, l4.dport, seq, bytes(l4.data)
            )


def tshark_fields(path: Path, display_filter: str, fields: list[str]) -> dict[int, list[list[str]]]:
    """frame number -> one list of values per requested field (after frame.number)."""
    cmd = ["tshark", "-n", "-r", str(path), "-Y", display_filter, "-T", "fields"]
    cmd += ["-E", "separator=/t", "-E", f"aggregator={AGGREGATOR}", "-E", "occurrence=a"]
    for f in ["frame.number", *fields]:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, errors="surrogateescape", check=False)
    rows: dict[int, list[list[str]]] = {}
    for line in out.stdout.split("\n"):  # not splitlines(): it also splits on \x1e
        cols = line.split("\t")
        if cols and cols[0].isdigit():
            rows[int(cols[0])] = [[v for v in c.split(AGGREGATOR) if v] for c in cols[1:]]
    return rows


def have_tshark() -> bool:
    return shutil.which("tshark") is not None
