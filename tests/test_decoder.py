"""Packet decoder: every supported link type and layer, against scapy-built frames, plus fuzzing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import CookedLinux, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.packet import Packet, Raw

from pipelines.batch import (
    RECORD_DTYPE,
    ST_FRAGMENT,
    ST_MALFORMED,
    ST_NOT_IP,
    ST_OK,
    ST_UNSUPPORTED_LINK,
    addr_text,
)
from pipelines.decoders.packet import decode

PAYLOAD = b'{"id":1,"method":"mining.subscribe","params":[]}\n'
TCP4 = (
    IP(src="10.20.0.5", dst="203.0.113.9") / TCP(sport=50000, dport=3333, flags="PA") / Raw(PAYLOAD)
)
TCP6 = (
    IPv6(src="2001:db8:20::5", dst="2001:db8:99::9")
    / TCP(sport=50000, dport=3333, flags="PA")
    / Raw(PAYLOAD)
)


def _decode(frames: list[bytes], linktype: int) -> np.ndarray:
    buf = np.frombuffer(b"".join(frames), dtype=np.uint8).copy()
    recs = np.zeros(len(frames), dtype=RECORD_DTYPE)
    off = 0
    for i, f in enumerate(frames):
        recs[i]["off"], recs[i]["caplen"], recs[i]["wirelen"], recs[i]["linktype"] = (
            off,
            len(f),
            len(f),
            linktype,
        )
        off += len(f)
    pk = decode(buf, recs)
    for p in pk:  # payload never points outside its own frame
        if p["payload_len"]:
            assert p["payload_off"] + p["payload_len"] <= len(buf)
    pk.flags.writeable = False
    return pk


def _payload(frames: list[bytes], pk: np.ndarray, i: int = 0) -> bytes:
    blob = b"".join(frames)
    return blob[int(pk[i]["payload_off"]) : int(pk[i]["payload_off"] + pk[i]["payload_len"])]


@pytest.mark.parametrize(
    ("name", "frame", "linktype"),
    [
        ("ethernet", Ether() / TCP4, 1),
        ("vlan", Ether() / Dot1Q(vlan=7) / TCP4, 1),
        ("qinq", Ether() / Dot1AD(vlan=100) / Dot1Q(vlan=7) / TCP4, 1),
        ("pppoe", Ether() / PPPoE(sessionid=3) / PPP(proto=0x0021) / TCP4, 1),
        ("sll", CookedLinux(proto=0x0800) / TCP4, 113),
        ("raw", TCP4, 101),
        ("raw-ipv4", TCP4, 228),
        (
            "ipv6-hbh",
            Ether()
            / IPv6(src="2001:db8:20::5", dst="2001:db8:99::9")
            / IPv6ExtHdrHopByHop()
            / TCP(sport=50000, dport=3333, flags="PA")
            / Raw(PAYLOAD),
            1,
        ),
        ("6in4", Ether() / IP(src="192.0.2.1", dst="192.0.2.2") / TCP6, 1),
        ("pppoe-v6", Ether() / PPPoE(sessionid=3) / PPP(proto=0x0057) / TCP6, 1),
    ],
)
def test_link_types_decode_to_the_same_flow(name: str, frame: Packet, linktype: int) -> None:
    raw = bytes(frame)
    pk = _decode([raw], linktype)
    p = pk[0]
    assert p["status"] == ST_OK, name
    assert p["proto"] == 6 and p["sport"] == 50000 and p["dport"] == 3333
    assert _payload([raw], pk) == PAYLOAD
    src = addr_text(int(p["src_hi"]), int(p["src_lo"]))
    assert src in ("10.20.0.5", "2001:db8:20::5")


def test_udp_and_ethernet_padding() -> None:
    frame = bytes(
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5353, dport=53) / Raw(b"ab")
    )
    padded = frame + b"\x00" * 20  # minimum-size Ethernet padding must not count as payload
    pk = _decode([padded], 1)
    assert pk[0]["status"] == ST_OK and pk[0]["payload_len"] == 2


def test_statuses_for_broken_and_other_packets() -> None:
    arp = bytes(Ether(type=0x0806) / Raw(b"\x00" * 28))
    bad_ihl = bytearray(bytes(Ether() / TCP4))
    bad_ihl[14] = 0x43
    frag = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2", frag=100) / Raw(b"x" * 30))
    short = bytes(Ether() / TCP4)[:40]
    pk = _decode([arp, bytes(bad_ihl), frag, short, b""], 1)
    assert list(pk["status"]) == [ST_NOT_IP, ST_MALFORMED, ST_FRAGMENT, ST_MALFORMED, ST_MALFORMED]
    assert _decode([bytes(TCP4)], 147)[0]["status"] == ST_UNSUPPORTED_LINK


@settings(max_examples=500, deadline=1000)
@given(
    frames=st.lists(st.binary(max_size=200), min_size=1, max_size=20),
    linktype=st.sampled_from([0, 1, 12, 101, 108, 113, 228, 229, 276, 9999]),
)
def test_fuzz_decoder_never_reads_outside_a_frame(frames: list[bytes], linktype: int) -> None:
    pk = _decode(frames, linktype)
    starts = np.cumsum([0, *map(len, frames)])
    for i, p in enumerate(pk):
        assert p["status"] <= ST_UNSUPPORTED_LINK
        if p["payload_len"]:
            assert (
                starts[i] <= p["payload_off"]
                and p["payload_off"] + p["payload_len"] <= starts[i + 1]
            )


@settings(max_examples=300, deadline=1000)
@given(
    cut=st.integers(min_value=0, max_value=120),
    flip=st.integers(min_value=0, max_value=119),
    value=st.integers(min_value=0, max_value=255),
)
def test_fuzz_mutated_real_frame(cut: int, flip: int, value: int) -> None:
    frame = bytearray(bytes(Ether() / Dot1Q() / TCP4))
    frame[flip % len(frame)] = value
    keep = max(len(frame) - cut, 0)
    pk = _decode([bytes(frame[:keep])], 1)
    if pk[0]["payload_len"]:
        assert pk[0]["payload_off"] + pk[0]["payload_len"] <= keep
