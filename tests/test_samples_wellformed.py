"""The committed sample captures are well-formed and reproducible.

Expectations come from the scenario table in samples/make_samples.py (which flows each file
holds), not from running minewatch: every capture parses with dpkt, holds exactly the TCP and
UDP flows its scenario declares, has correct IPv4/TCP/UDP checksums and gap-free sequence
numbers; re-running the generator reproduces every file byte for byte.
"""

from __future__ import annotations

import gzip
import io
import ipaddress
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dpkt
import pytest

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
sys.path.insert(0, str(SAMPLES))
import make_samples  # noqa: E402

SUBSCRIBERS = [ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("2001:db8:20::/48")]
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".pcap.gz")
BY_FILE = {sc.file: sc for sc in make_samples.SCENARIOS}
WELLFORMED = [sc for sc in make_samples.SCENARIOS if sc.file != "malformed.pcap"]


# -- reading ---------------------------------------------------------------------------------


def _pcapng_records(raw: bytes) -> Iterator[tuple[int, bytes]]:
    """(linktype, frame) from a little-endian pcapng with any number of interfaces."""
    linktypes: list[int] = []
    off = 0
    while off < len(raw):
        btype, blen = struct.unpack_from("<II", raw, off)
        assert blen >= 12 and blen % 4 == 0, f"bad block length {blen} at {off}"
        assert struct.unpack_from("<I", raw, off + blen - 4)[0] == blen
        if btype == 0x0A0D0D0A:
            assert struct.unpack_from("<I", raw, off + 8)[0] == 0x1A2B3C4D
        elif btype == 1:
            linktypes.append(struct.unpack_from("<H", raw, off + 8)[0])
        elif btype == 6:
            iface, _, _, caplen, _ = struct.unpack_from("<IIIII", raw, off + 8)
            yield linktypes[iface], raw[off + 28 : off + 28 + caplen]
        off += blen


def records(path: Path) -> list[tuple[int, bytes]]:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    if raw[:4] == b"\x0a\x0d\x0d\x0a":
        return list(_pcapng_records(raw))
    reader = dpkt.pcap.Reader(io.BytesIO(raw))
    return [(reader.datalink(), bytes(buf)) for _, buf in reader]


def network_layer(linktype: int, frame: bytes) -> dpkt.Packet | None:
    if linktype == 101:  # LINKTYPE_RAW
        pkt: object = (dpkt.ip.IP if frame[0] >> 4 == 4 else dpkt.ip6.IP6)(frame)
    elif linktype == 113:  # LINKTYPE_LINUX_SLL
        pkt = dpkt.sll.SLL(frame)
    else:
        assert linktype == 1, linktype  # LINKTYPE_ETHERNET
        pkt = dpkt.ethernet.Ethernet(frame)
    # walk down through VLAN tags / PPPoE / PPP until the IP layer
    while isinstance(pkt, dpkt.Packet) and not isinstance(pkt, dpkt.ip.IP | dpkt.ip6.IP6):
        pkt = pkt.data
    return pkt if isinstance(pkt, dpkt.Packet) else None


def _addr(ip: dpkt.Packet, which: str) -> str:
    family = socket.AF_INET if isinstance(ip, dpkt.ip.IP) else socket.AF_INET6
    return socket.inet_ntop(family, getattr(ip, which))


def _endpoint(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def flow_key(ip: dpkt.Packet, l4: dpkt.Packet) -> tuple[str, bool]:
    """("client:port>server:port", from_client): the subscriber side is the client."""
    src, dst = _addr(ip, "src"), _addr(ip, "dst")
    from_client = any(ipaddress.ip_address(src) in net for net in SUBSCRIBERS)
    a, b = _endpoint(src, l4.sport), _endpoint(dst, l4.dport)
    return (f"{a}>{b}" if from_client else f"{b}>{a}"), from_client


def _ones_complement_ok(data: bytes) -> bool:
    return dpkt.in_cksum(data) == 0


def l4_checksum_ok(ip: dpkt.Packet, proto: int, segment: bytes) -> bool:
    if isinstance(ip, dpkt.ip.IP):
        pseudo = ip.src + ip.dst + struct.pack(">BBH", 0, proto, len(segment))
    else:
        pseudo = ip.src + ip.dst + struct.pack(">IxxxB", len(segment), proto)
    return _ones_complement_ok(pseudo + segment)


def packets(path: Path) -> Iterator[tuple[dpkt.Packet, dpkt.Packet]]:
    """(IP, TCP-or-UDP) for every packet of the file; fails on anything else."""
    for linktype, frame in records(path):
        ip = network_layer(linktype, frame)
        assert ip is not None, f"{path.name}: frame without IP"
        if isinstance(ip, dpkt.ip.IP):
            assert _ones_complement_ok(bytes(ip)[: ip.hl * 4]), "bad IPv4 header checksum"
        l4 = ip.data
        assert isinstance(l4, dpkt.tcp.TCP | dpkt.udp.UDP), f"{path.name}: {type(l4)}"
        proto = 6 if isinstance(l4, dpkt.tcp.TCP) else 17
        assert l4_checksum_ok(ip, proto, bytes(l4)), f"{path.name}: bad L4 checksum"
        yield ip, l4


# -- tests -----------------------------------------------------------------------------------


def test_every_capture_in_samples_has_a_scenario() -> None:
    on_disk = {p.name for p in SAMPLES.iterdir() if p.name.endswith(CAPTURE_SUFFIXES)}
    assert on_disk == set(BY_FILE)
    readme = (SAMPLES / "README.md").read_text()
    for name in [*BY_FILE, *make_samples.EXTRA_FILES]:
        assert f"`{name}`" in readme, f"{name} is not described in samples/README.md"


@pytest.mark.parametrize("sc", WELLFORMED, ids=lambda sc: sc.file)
def test_capture_holds_the_declared_flows(sc: make_samples.Scenario) -> None:
    tcp_flows: set[str] = set()
    udp_flows: set[str] = set()
    for ip, l4 in packets(SAMPLES / sc.file):
        key, _ = flow_key(ip, l4)
        (tcp_flows if isinstance(l4, dpkt.tcp.TCP) else udp_flows).add(key)
    assert tcp_flows == sc.flows("tcp")
    assert udp_flows == sc.flows("udp")


@pytest.mark.parametrize("sc", WELLFORMED, ids=lambda sc: sc.file)
def test_tcp_sequence_numbers_are_gap_free(sc: make_samples.Scenario) -> None:
    """Each direction's seq continues where the last segment ended; ACKs never run ahead."""
    next_seq: dict[tuple[str, bool], int] = {}
    for ip, l4 in packets(SAMPLES / sc.file):
        if not isinstance(l4, dpkt.tcp.TCP):
            continue
        key, from_client = flow_key(ip, l4)
        me, peer = (key, from_client), (key, not from_client)
        if me in next_seq:
            assert l4.seq == next_seq[me], f"{key}: seq gap or overlap"
        if l4.flags & dpkt.tcp.TH_ACK and peer in next_seq:
            assert (next_seq[peer] - l4.ack) % 2**32 < 2**31, f"{key}: ACK beyond sent data"
        used = len(l4.data) + bool(l4.flags & dpkt.tcp.TH_SYN) + bool(l4.flags & dpkt.tcp.TH_FIN)
        next_seq[me] = (l4.seq + used) % 2**32


def test_malformed_has_one_valid_flow_and_the_broken_frames() -> None:
    sc = BY_FILE["malformed.pcap"]
    (valid,) = sc.flows("tcp")
    in_flow = 0
    recs = records(SAMPLES / sc.file)
    for linktype, frame in recs:
        try:
            ip = network_layer(linktype, frame)
            l4 = ip.data if ip is not None else None
        except (dpkt.UnpackError, IndexError, struct.error):
            continue
        if isinstance(l4, dpkt.tcp.TCP) and flow_key(ip, l4)[0] == valid:
            in_flow += 1
    assert in_flow > 0
    assert len(recs) - in_flow == sc.broken_frames


def test_generator_is_deterministic(tmp_path: Path) -> None:
    script = SAMPLES / "make_samples.py"
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, capture_output=True)
    names = [sc.file for sc in make_samples.SCENARIOS] + list(make_samples.EXTRA_FILES)
    for name in names:
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name
