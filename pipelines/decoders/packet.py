"""Packet header decoding for a whole chunk at once (compiled with numba).

One pass per packet from the link layer to the transport header, filling numpy columns. Supported
link types: Ethernet (with any stack of 802.1Q / 802.1ad / QinQ tags, PPPoE sessions, MPLS
labels and Cisco FabricPath), Linux cooked capture v1/v2, raw IP (101, 12, 14, 228, 229),
BSD null/loopback (0, 108), PPI (192) wrapping one of those (802.11 inside PPI is counted as
unsupported).
IPv4 and IPv6 (extension headers skipped, IP-in-IP and 6in4 tunnels opened to the inner header),
TCP and UDP. Anything inconsistent is marked malformed instead of raising.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from pipelines.batch import (
    PACKET_DTYPE,
    ST_FRAGMENT,
    ST_MALFORMED,
    ST_NOT_IP,
    ST_OK,
    ST_OTHER_L4,
    ST_UNSUPPORTED_LINK,
    U8,
    Packets,
    Records,
)
from pipelines.decoders.bigendian import be16 as _be16
from pipelines.decoders.bigendian import be64 as _be64

LINKTYPE_NAMES = {
    0: "null",
    1: "ethernet",
    12: "raw",
    14: "raw",
    101: "raw",
    108: "loop",
    113: "linux-sll",
    192: "ppi",
    228: "ipv4",
    229: "ipv6",
    276: "linux-sll2",
}
SUPPORTED_LINKTYPES = frozenset(LINKTYPE_NAMES)

_V6_EXT = (0, 43, 44, 60, 51, 135, 139, 140)


@nb.njit(cache=True)
def _l3_start(buf, off, end, linktype):  # type: ignore[no-untyped-def]
    """Return (l3 offset, ethertype-ish: 4, 6, 0 = not IP, -1 = malformed, -2 = unsupported)."""
    if linktype == 192:  # PPI: little-endian header length and inner DLT, then that frame
        if off + 8 > end:
            return 0, -1
        hlen = np.int64(buf[off + 2]) | (np.int64(buf[off + 3]) << 8)
        inner = np.int64(buf[off + 4]) | (np.int64(buf[off + 5]) << 8)
        if hlen < 8 or inner not in (1, 101, 113, 228, 229):
            return 0, -2 if hlen >= 8 else -1
        off += hlen
        linktype = inner
    if linktype == 1:
        p = off + 12
        if p + 2 > end:
            return 0, -1
        et = _be16(buf, p)
        p += 2
        if et == 0x8903:  # Cisco FabricPath: 2 bytes FTAG/TTL, then a whole inner Ethernet header
            if p + 16 > end:
                return 0, -1
            et = _be16(buf, p + 14)
            p += 16
        for _ in range(8):  # VLAN / QinQ stacks
            if et == 0x8100 or et == 0x88A8 or et == 0x9100:
                if p + 4 > end:
                    return 0, -1
                et = _be16(buf, p + 2)
                p += 4
            else:
                break
        if et == 0x8864:  # PPPoE session: 6-byte header, then the PPP protocol
            if p + 8 > end:
                return 0, -1
            ppp = _be16(buf, p + 6)
            p += 8
            if ppp == 0x0021:
                return p, 4
            if ppp == 0x0057:
                return p, 6
            return p, 0
        if et == 0x8847 or et == 0x8848:  # MPLS: pop to the bottom of the stack
            for _ in range(16):
                if p + 4 > end:
                    return 0, -1
                bottom = buf[p + 2] & 1
                p += 4
                if bottom:
                    break
            if p >= end:
                return 0, -1
            v = buf[p] >> 4
            return p, (4 if v == 4 else 6 if v == 6 else 0)
        if et == 0x0800:
            return p, 4
        if et == 0x86DD:
            return p, 6
        return p, 0
    if linktype == 101 or linktype == 12 or linktype == 14 or linktype == 228 or linktype == 229:
        if off >= end:
            return 0, -1
        v = buf[off] >> 4
        return off, (4 if v == 4 else 6 if v == 6 else 0)
    if linktype == 113 or linktype == 276:
        hl = 16 if linktype == 113 else 20
        if off + hl > end:
            return 0, -1
        et = _be16(buf, off + 14) if linktype == 113 else _be16(buf, off)
        if et == 0x0800:
            return off + hl, 4
        if et == 0x86DD:
            return off + hl, 6
        return off + hl, 0
    if linktype == 0 or linktype == 108:
        if off + 4 > end:
            return 0, -1
        # host byte order for 0 (either order seen in the wild), network order for 108
        fam = buf[off] | buf[off + 3]
        if fam == 2:
            return off + 4, 4
        if fam == 24 or fam == 28 or fam == 30:
            return off + 4, 6
        return off + 4, 0
    return 0, -2


@nb.njit(cache=True)
def decode_records(buf, r_off, r_cap, r_lt, out):  # type: ignore[no-untyped-def]
    """Fill the PACKET_DTYPE columns of `out` for every record; never raises."""
    n = r_off.shape[0]
    for i in range(n):
        out[i].status = ST_MALFORMED
        out[i].family = 0
        out[i].proto = 0
        out[i].tcp_flags = 0
        out[i].src_hi = 0
        out[i].src_lo = 0
        out[i].dst_hi = 0
        out[i].dst_lo = 0
        out[i].sport = 0
        out[i].dport = 0
        out[i].ip_len = 0
        out[i].payload_off = 0
        out[i].payload_len = 0
        off = r_off[i]
        end = off + r_cap[i]
        p, fam = _l3_start(buf, off, end, r_lt[i])
        if fam == -2:
            out[i].status = ST_UNSUPPORTED_LINK
            continue
        if fam == -1:
            continue
        if fam == 0:
            out[i].status = ST_NOT_IP
            continue
        proto = -1
        l4 = 0
        ip_end = 0
        for _depth in range(3):  # outer header plus up to two tunnel layers
            if fam == 4:
                if p + 20 > end or (buf[p] >> 4) != 4:
                    break
                ihl = (buf[p] & 0x0F) * 4
                tot = _be16(buf, p + 2)
                if tot == 0:  # TSO-offloaded capture on the sending host: length unknown
                    tot = end - p
                if ihl < 20 or tot < ihl or p + ihl > end:
                    break
                out[i].family = 4
                out[i].ip_len = tot
                out[i].src_hi = 0
                out[i].dst_hi = 0
                out[i].src_lo = np.uint64(0xFFFF00000000) | (
                    (np.uint64(buf[p + 12]) << np.uint64(24))
                    | (np.uint64(buf[p + 13]) << np.uint64(16))
                    | (np.uint64(buf[p + 14]) << np.uint64(8))
                    | np.uint64(buf[p + 15])
                )
                out[i].dst_lo = np.uint64(0xFFFF00000000) | (
                    (np.uint64(buf[p + 16]) << np.uint64(24))
                    | (np.uint64(buf[p + 17]) << np.uint64(16))
                    | (np.uint64(buf[p + 18]) << np.uint64(8))
                    | np.uint64(buf[p + 19])
                )
                proto = buf[p + 9]
                frag = _be16(buf, p + 6) & 0x1FFF
                ip_end = p + tot
                l4 = p + ihl
                if frag != 0:
                    proto = -2
                    break
            else:
                if p + 40 > end or (buf[p] >> 4) != 6:
                    break
                plen = _be16(buf, p + 4)
                out[i].family = 6
                out[i].ip_len = plen + 40
                out[i].src_hi = _be64(buf, p + 8)
                out[i].src_lo = _be64(buf, p + 16)
                out[i].dst_hi = _be64(buf, p + 24)
                out[i].dst_lo = _be64(buf, p + 32)
                nh = buf[p + 6]
                q = p + 40
                ip_end = q + plen
                ok = True
                for _ in range(8):
                    if nh == 0 or nh == 43 or nh == 60 or nh == 135 or nh == 139 or nh == 140:
                        if q + 8 > end:
                            ok = False
                            break
                        nh2 = buf[q]
                        q += (buf[q + 1] + 1) * 8
                        nh = nh2
                    elif nh == 51:  # AH: length in 4-byte units minus 2
                        if q + 8 > end:
                            ok = False
                            break
                        nh2 = buf[q]
                        q += (buf[q + 1] + 2) * 4
                        nh = nh2
                    elif nh == 44:  # fragment header
                        if q + 8 > end:
                            ok = False
                            break
                        nh2 = buf[q]
                        if (_be16(buf, q + 2) >> 3) != 0:
                            nh = 255
                            proto = -2
                            break
                        q += 8
                        nh = nh2
                    else:
                        break
                if not ok:
                    proto = -1
                    break
                if proto == -2:
                    break
                proto = nh
                l4 = q
            if proto == 4 or proto == 41:  # IP-in-IP / 6in4: open the inner header
                fam = 4 if proto == 4 else 6
                p = l4
                proto = -1
                continue
            break
        if proto == -1:
            continue  # malformed
        if proto == -2:
            out[i].status = ST_FRAGMENT
            continue
        out[i].proto = proto
        if ip_end > end:
            # snapped capture, or an IP length claiming more than the frame had: tshark still
            # reads the transport header, and so do we; the payload is bounded by the frame
            ip_end = end
        if proto == 6:
            if l4 + 20 > end:
                continue
            doff = (buf[l4 + 12] >> 4) * 4
            if doff < 20 or l4 + doff > ip_end:
                continue
            out[i].sport = _be16(buf, l4)
            out[i].dport = _be16(buf, l4 + 2)
            out[i].tcp_flags = buf[l4 + 13]
            out[i].payload_off = l4 + doff
            out[i].payload_len = ip_end - (l4 + doff)
            out[i].status = ST_OK
        elif proto == 17:
            if l4 + 8 > end:
                continue
            ulen = _be16(buf, l4 + 4)
            if ulen < 8:
                continue
            out[i].sport = _be16(buf, l4)
            out[i].dport = _be16(buf, l4 + 2)
            pend = l4 + ulen
            if pend > ip_end:
                pend = ip_end
            out[i].payload_off = l4 + 8
            out[i].payload_len = pend - (l4 + 8) if pend > l4 + 8 else 0
            out[i].status = ST_OK
        else:
            out[i].status = ST_OTHER_L4
    return n


def decode(buf: U8, records: Records) -> Packets:
    """Decode every record of a chunk into a PACKET_DTYPE array."""
    out = np.empty(len(records), dtype=PACKET_DTYPE)
    if len(records):
        decode_records(buf, records["off"], records["caplen"], records["linktype"], out)
    return out
