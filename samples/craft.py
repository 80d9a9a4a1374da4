"""Packet-crafting helpers for `make_samples.py`: clocks, TCP conversations, link layers, writers.

Everything here is deterministic: timestamps are integer nanoseconds, initial sequence numbers,
IP IDs, TCP timestamp bases and IPv6 flow labels are derived from a label with SHA-256, and the
only pseudo-random bytes come from `rng(label)` (a `random.Random` seeded with a string).

A conversation is built from a list of steps ``(direction, payload[, gap_ms])`` where direction
is ``"c"`` (client to server) or ``"s"`` (server to client). The builder emits the data segments
(split at the MSS), the peer's ACKs following delayed-ACK rules (piggy-backed on the reply when
it comes within 40 ms, a pure ACK otherwise), and optionally the 3-way handshake and FIN close.
Checksums and lengths are left for scapy to compute.
"""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRROPT
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import CookedLinux, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.packet import Packet

# 2024-05-01T00:00:00Z
EPOCH_NS = 1_714_521_600 * 1_000_000_000
MS = 1_000_000  # nanoseconds per millisecond

DLT_EN10MB = 1
DLT_RAW = 101
DLT_LINUX_SLL = 113

CLIENT_MAC = "0a:20:14:00:00:17"  # subscriber CPE
GATEWAY_MAC = "0a:20:fe:00:00:01"  # carrier BNG / gateway
RESOLVER = "192.0.2.53"

DELAYED_ACK_NS = 40 * MS

Step = tuple[str, bytes] | tuple[str, bytes, float]


def derive(label: str, bits: int = 32) -> int:
    """A stable pseudo-random integer for `label` (ISNs, IP IDs, flow labels...)."""
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big") % (1 << bits)


def rng(label: str) -> random.Random:
    """A seeded generator for opaque bytes (TLS ciphertext, nonces, solutions)."""
    return random.Random("minewatch-samples:" + label)


def hexid(label: str, nbytes: int) -> str:
    """`nbytes` stable pseudo-random bytes as lower-case hex (hashes, job ids, blobs)."""
    out = b""
    counter = 0
    while len(out) < nbytes:
        out += hashlib.sha256(f"{label}/{counter}".encode()).digest()
        counter += 1
    return out[:nbytes].hex()


@dataclass(slots=True)
class Pkt:
    """One packet at the network layer, before the link layer is chosen."""

    ts_ns: int
    l3: Packet
    from_client: bool


@dataclass(slots=True)
class Frame:
    """One capture record: timestamp, captured bytes, original length on the wire."""

    ts_ns: int
    data: bytes
    orig_len: int | None = None  # None: same as len(data)
    iface: int = 0  # pcapng interface id


def ip_layer(src: str, dst: str, *, ttl: int, ident: int, flow_label: int = 0) -> Packet:
    if ":" in src:
        return IPv6(src=src, dst=dst, hlim=ttl, fl=flow_label)
    return IP(src=src, dst=dst, ttl=ttl, id=ident & 0xFFFF, flags="DF")


@dataclass
class _Side:
    ip: str
    port: int
    seq: int
    ttl: int
    ts_base: int
    ip_id: int
    window: int
    syn_window: int
    wscale: int
    last_tsval: int = 0
    pending_ack: bool = False  # has received data it has not acknowledged yet


@dataclass
class TcpConversation:
    """A TCP connection seen from a tap close to the subscriber.

    Packets from the client appear at the tap immediately; the server's ACKs and replies appear
    one round trip (`rtt_ms`) after the client packet that caused them. TCP options are those of
    a Linux stack (MSS, SACK permitted, timestamps, window scale).
    """

    client: str
    cport: int
    server: str
    sport: int
    start_ns: int = EPOCH_NS
    rtt_ms: float = 28.0
    mss: int | None = None  # default 1460 (IPv4) / 1440 (IPv6)
    hop_by_hop: bool = False  # IPv6 only: put a Hop-by-Hop header in front of TCP
    packets: list[Pkt] = field(default_factory=list)

    def __post_init__(self) -> None:
        key = f"{self.client}:{self.cport}>{self.server}:{self.sport}"
        self.ipv6 = ":" in self.client
        if self.mss is None:
            self.mss = 1440 if self.ipv6 else 1460
        self.seg_payload = self.mss - 12  # the timestamps option takes 12 bytes of each segment
        self.now = self.start_ns - 1_000  # time of the last packet emitted
        self.anchor = self.start_ns  # time of the last data segment; steps are timed from it
        self.c = _Side(
            self.client,
            self.cport,
            derive("isn-c" + key),
            64,
            derive("ts-c" + key),
            derive("id-c" + key, 16),
            502,
            64240,
            7,
        )
        self.s = _Side(
            self.server,
            self.sport,
            derive("isn-s" + key),
            52,
            derive("ts-s" + key),
            derive("id-s" + key, 16),
            509,
            65160,
            9,
        )
        for side in (self.c, self.s):
            side.last_tsval = side.ts_base
        self.flow_label = derive("fl" + key, 20)

    # -- low level -------------------------------------------------------------------------
    def _emit(self, sender: _Side, flags: str, payload: bytes = b"", *, ts_ns: int) -> None:
        ts_ns = max(ts_ns, self.now + 1_000)  # keep the capture in time order
        peer = self.s if sender is self.c else self.c
        tsval = (sender.ts_base + (ts_ns - self.start_ns) // MS) & 0xFFFFFFFF
        opts: list[tuple[str, object]]
        if "S" in flags:
            tsecr = peer.last_tsval if "A" in flags else 0
            opts = [
                ("MSS", self.mss),
                ("SAckOK", b""),
                ("Timestamp", (tsval, tsecr)),
                ("NOP", None),
                ("WScale", sender.wscale),
            ]
            window = sender.syn_window
        else:
            opts = [("NOP", None), ("NOP", None), ("Timestamp", (tsval, peer.last_tsval))]
            window = sender.window
        tcp = TCP(
            sport=sender.port,
            dport=peer.port,
            seq=sender.seq,
            ack=peer.seq if "A" in flags else 0,
            flags=flags,
            window=window,
            options=opts,
        )
        l3 = ip_layer(
            sender.ip, peer.ip, ttl=sender.ttl, ident=sender.ip_id, flow_label=self.flow_label
        )
        if self.hop_by_hop and self.ipv6:
            l3 = l3 / IPv6ExtHdrHopByHop()
        pkt = l3 / tcp / payload if payload else l3 / tcp
        self.packets.append(Pkt(ts_ns, pkt, sender is self.c))
        sender.ip_id += 1
        sender.last_tsval = tsval
        sender.seq = (sender.seq + len(payload) + ("S" in flags) + ("F" in flags)) & 0xFFFFFFFF
        if "A" in flags:
            sender.pending_ack = False
        if payload or "F" in flags:
            peer.pending_ack = True
        self.now = ts_ns

    def _side(self, direction: str) -> tuple[_Side, _Side]:
        if direction not in ("c", "s"):
            raise ValueError(f"direction must be 'c' or 's', not {direction!r}")
        return (self.c, self.s) if direction == "c" else (self.s, self.c)

    # -- public API ------------------------------------------------------------------------
    def handshake(self) -> TcpConversation:
        rtt = int(self.rtt_ms * MS)
        t = self.now
        self._emit(self.c, "S", ts_ns=t)
        self._emit(self.s, "SA", ts_ns=t + rtt)
        self._emit(self.c, "A", ts_ns=t + rtt + 60_000)
        self.anchor = self.now
        return self

    def exchange(self, steps: Sequence[Step], *, ack_last: bool = True) -> None:
        """Send each step's payload and the ACKs a real stack would send around it.

        A step is ``(direction, payload)`` or ``(direction, payload, gap_ms)``; `gap_ms` is the
        time since the previous data segment (default: one RTT for a server reply, ~2 ms for a
        client reply, 50 µs for a back-to-back segment from the same side). Payloads larger
        than the MSS are split. The receiver's ACK rides on its reply if that comes within the
        40 ms delayed-ACK timer (plus one RTT for the server, as seen from the tap); otherwise
        a pure ACK is sent when that timer fires.
        """
        norm = [(s[0], s[1], s[2] if len(s) > 2 else None) for s in steps]
        prev_dir: str | None = None
        for i, (direction, payload, gap) in enumerate(norm):
            sender, receiver = self._side(direction)
            gap_ms = self._default_gap(prev_dir, direction) if gap is None else gap
            t = self.anchor + int(gap_ms * MS)
            size = self.seg_payload
            chunks = [payload[o : o + size] for o in range(0, len(payload), size)] or [b""]
            for n, chunk in enumerate(chunks):
                self._emit(sender, "PA" if n == len(chunks) - 1 else "A", chunk, ts_ns=t)
                t = self.now + 12_000
            self.anchor = self.now
            nxt = norm[i + 1] if i + 1 < len(norm) else None
            if nxt is None:
                if ack_last:  # off when a FIN follows at once (it carries the ACK)
                    self._pure_ack(receiver)
            else:
                nxt_gap = self._default_gap(direction, nxt[0]) if nxt[2] is None else nxt[2]
                if nxt_gap * MS > self._ack_delay(receiver):
                    self._pure_ack(receiver)
            prev_dir = direction

    def _default_gap(self, prev_dir: str | None, direction: str) -> float:
        if prev_dir is None:
            return 0.4 if direction == "c" else self.rtt_ms + 0.5
        if prev_dir == direction:
            return 0.05
        return self.rtt_ms + 0.6 if direction == "s" else 1.8

    def _ack_delay(self, receiver: _Side) -> int:
        """When the receiver's delayed ACK shows up at the tap, counted from the data."""
        return DELAYED_ACK_NS + (int(self.rtt_ms * MS) if receiver is self.s else 0)

    def _pure_ack(self, receiver: _Side) -> None:
        if receiver.pending_ack:
            self._emit(receiver, "A", ts_ns=self.anchor + self._ack_delay(receiver))

    def idle(self, seconds: float) -> None:
        """Let time pass without traffic (the next step is timed from the end of the idle)."""
        self.anchor = self.now = self.now + int(seconds * 1_000_000_000)

    def close(self, initiator: str = "c", gap_ms: float | None = None) -> None:
        """FIN/ACK from `initiator` (`gap_ms` after the last packet), FIN/ACK back, final ACK."""
        a, b = self._side(initiator)
        rtt = int(self.rtt_ms * MS)
        if gap_ms is None:
            gap_ms = 2.0 if initiator == "c" else self.rtt_ms
        self._emit(a, "FA", ts_ns=self.now + int(gap_ms * MS))
        if initiator == "c":
            self._emit(b, "FA", ts_ns=self.now + rtt)
            self._emit(a, "A", ts_ns=self.now + 50_000)
        else:
            self._emit(b, "FA", ts_ns=self.now + 300_000)
            self._emit(a, "A", ts_ns=self.now + rtt)


def tcp_session(
    client: str,
    cport: int,
    server: str,
    sport: int,
    steps: Sequence[Step],
    *,
    start_ns: int = EPOCH_NS,
    handshake: bool = True,
    close: str | None = "c",
    **kw: object,
) -> list[Pkt]:
    """The common case: handshake, the steps, FIN close (any of which can be switched off)."""
    conv = TcpConversation(client, cport, server, sport, start_ns=start_ns, **kw)  # type: ignore[arg-type]
    if handshake:
        conv.handshake()
    conv.exchange(steps)
    if close:
        conv.close(close)
    return conv.packets


def udp_exchange(
    client: str,
    cport: int,
    server: str,
    sport: int,
    query: Packet | bytes,
    reply: Packet | bytes,
    *,
    start_ns: int,
    rtt_ms: float = 9.0,
) -> list[Pkt]:
    key = f"udp{client}:{cport}>{server}:{sport}"
    q = ip_layer(client, server, ttl=64, ident=derive("id-c" + key, 16), flow_label=derive(key, 20))
    r = ip_layer(server, client, ttl=61, ident=derive("id-s" + key, 16), flow_label=derive(key, 20))
    return [
        Pkt(start_ns, q / UDP(sport=cport, dport=sport) / query, True),
        Pkt(start_ns + int(rtt_ms * MS), r / UDP(sport=sport, dport=cport) / reply, False),
    ]


def dns_lookup(
    client: str,
    cport: int,
    name: str,
    qtype: str,
    answers: Iterable[str],
    *,
    txid: int,
    start_ns: int,
    ttl: int = 300,
    resolver: str = RESOLVER,
) -> list[Pkt]:
    """A stub-resolver query (RD, EDNS0 1232) and the recursive resolver's answer."""
    question = DNSQR(qname=name, qtype=qtype)
    query = DNS(id=txid, rd=1, ad=1, qd=[question], ar=[DNSRROPT(rclass=1232, z=0)])
    rrs = [DNSRR(rrname=name, type=qtype, ttl=ttl, rdata=a) for a in answers]
    reply = DNS(
        id=txid, qr=1, rd=1, ra=1, qd=[question], an=rrs, ar=[DNSRROPT(rclass=1232, z=0)]
    ).compress()
    return udp_exchange(client, cport, resolver, 53, query, reply, start_ns=start_ns)


# -- link layers -----------------------------------------------------------------------------

LinkFn = Callable[[Pkt], bytes]


def _macs(p: Pkt) -> tuple[str, str]:
    return (CLIENT_MAC, GATEWAY_MAC) if p.from_client else (GATEWAY_MAC, CLIENT_MAC)


def link_ethernet(p: Pkt) -> bytes:
    src, dst = _macs(p)
    return bytes(Ether(src=src, dst=dst) / p.l3)


def link_vlan(p: Pkt, vid: int = 120) -> bytes:
    src, dst = _macs(p)
    return bytes(Ether(src=src, dst=dst) / Dot1Q(vlan=vid) / p.l3)


def link_qinq(p: Pkt, svid: int = 300, cvid: int = 120) -> bytes:
    src, dst = _macs(p)
    return bytes(Ether(src=src, dst=dst, type=0x88A8) / Dot1AD(vlan=svid) / Dot1Q(vlan=cvid) / p.l3)


def link_pppoe(p: Pkt, session: int = 0x2A17) -> bytes:
    src, dst = _macs(p)
    return bytes(
        Ether(src=src, dst=dst, type=0x8864)
        / PPPoE(version=1, type=1, code=0, sessionid=session)
        / PPP(proto=0x0021)
        / p.l3
    )


def link_sll(p: Pkt) -> bytes:
    # Captured on the gateway: packets from the subscriber arrive (PACKET_HOST = 0),
    # packets towards the subscriber are sent (PACKET_OUTGOING = 4).
    src = CLIENT_MAC if p.from_client else GATEWAY_MAC
    addr = bytes.fromhex(src.replace(":", "")) + b"\x00\x00"
    proto = 0x86DD if p.l3.version == 6 else 0x0800
    hdr = CookedLinux(
        pkttype=0 if p.from_client else 4, lladdrtype=1, lladdrlen=6, src=addr, proto=proto
    )
    return bytes(hdr / p.l3)


def link_raw(p: Pkt) -> bytes:
    return bytes(p.l3)


def frames(pkts: Iterable[Pkt], link: LinkFn = link_ethernet, iface: int = 0) -> list[Frame]:
    return [Frame(p.ts_ns, link(p), iface=iface) for p in pkts]


def by_time(*groups: Iterable[Pkt]) -> list[Pkt]:
    """Merge packet lists in timestamp order (stable for equal timestamps)."""
    merged = [p for g in groups for p in g]
    return sorted(merged, key=lambda p: p.ts_ns)


# -- file writers ----------------------------------------------------------------------------

PCAP_SNAPLEN = 262144


def pcap_bytes(records: Iterable[Frame], linktype: int) -> bytes:
    """Classic libpcap file, little-endian, microsecond timestamps."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, PCAP_SNAPLEN, linktype)]
    for f in records:
        sec, nsec = divmod(f.ts_ns, 1_000_000_000)
        orig = len(f.data) if f.orig_len is None else f.orig_len
        out.append(struct.pack("<IIII", sec, nsec // 1000, len(f.data), orig))
        out.append(f.data)
    return b"".join(out)


def _pad4(b: bytes) -> bytes:
    return b + b"\x00" * (-len(b) % 4)


def _opt(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad4(value)


def _block(btype: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


@dataclass(frozen=True, slots=True)
class Interface:
    linktype: int
    name: str
    tsresol: int  # decimal exponent: 6 = microseconds, 9 = nanoseconds


def pcapng_bytes(records: Iterable[Frame], interfaces: Sequence[Interface], app: str) -> bytes:
    """pcapng with one Section Header, one IDB per interface and Enhanced Packet Blocks."""
    shb_opts = _opt(4, app.encode()) + _opt(0, b"")  # shb_userappl, opt_endofopt
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)]
    for itf in interfaces:
        opts = _opt(2, itf.name.encode()) + _opt(9, bytes([itf.tsresol])) + _opt(0, b"")
        out.append(_block(1, struct.pack("<HHI", itf.linktype, 0, PCAP_SNAPLEN) + opts))
    for f in records:
        units = f.ts_ns // 10 ** (9 - interfaces[f.iface].tsresol)
        orig = len(f.data) if f.orig_len is None else f.orig_len
        body = struct.pack("<IIIII", f.iface, units >> 32, units & 0xFFFFFFFF, len(f.data), orig)
        out.append(_block(6, body + _pad4(f.data)))
    return b"".join(out)
