"""TPACKET_V3 ring layout and the compiled block walker.

The kernel fills whole blocks of the mmap'd ring and hands each one over by setting its
`block_status` to TP_STATUS_USER; inside a block, packets are chained by `tp_next_offset`. Walking
that chain is sequential, so it is compiled with numba like the pcap walker (`walk.py`), and it
only locates packets: each becomes a `RECORD_DTYPE` row pointing into the ring.

The ring is shared with the kernel and a block's headers are trusted no further than the block:
every offset is checked against the block's bounds, every step moves forward by at least one
packet header, and the walk of a block does at most `block_size // TP3_HDR_LEN` steps. A block
whose chain breaks keeps the packets located before the break and is counted as bad.

Layouts are those of `linux/if_packet.h` (`struct tpacket_block_desc` with `tpacket_hdr_v1`,
`struct tpacket3_hdr` with `tpacket_hdr_variant1`), native byte order (little-endian here).
"""

from __future__ import annotations

import numba as nb
import numpy as np

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1 << 0
TP_STATUS_LOSING = 1 << 2  # block_status: the kernel dropped packets while filling this block
TP_STATUS_VLAN_VALID = 1 << 4  # tp_status: the 802.1Q tag was stripped into tp_vlan_tci
TP_STATUS_BLK_TMO = 1 << 5  # block_status: retired by the timer, not because it was full

# struct tpacket_block_desc { u32 version; u32 offset_to_priv; struct tpacket_hdr_v1 bh1; }
BLOCK_DESC_DTYPE = np.dtype(
    {
        "names": [
            "version",
            "offset_to_priv",
            "block_status",
            "num_pkts",
            "offset_to_first_pkt",
            "blk_len",
            "seq_num",
            "first_sec",
            "first_nsec",
            "last_sec",
            "last_nsec",
        ],
        "formats": ["<u4"] * 6 + ["<u8"] + ["<u4"] * 4,
        "offsets": [0, 4, 8, 12, 16, 20, 24, 32, 36, 40, 44],
        "itemsize": 48,
    }
)
# struct tpacket3_hdr (48 bytes; tp_mac is counted from the start of this header)
TP3_HDR_DTYPE = np.dtype(
    {
        "names": [
            "tp_next_offset",
            "tp_sec",
            "tp_nsec",
            "tp_snaplen",
            "tp_len",
            "tp_status",
            "tp_mac",
            "tp_net",
            "tp_rxhash",
            "tp_vlan_tci",
            "tp_vlan_tpid",
        ],
        "formats": ["<u4"] * 6 + ["<u2", "<u2", "<u4", "<u4", "<u2"],
        "offsets": [0, 4, 8, 12, 16, 20, 24, 26, 28, 32, 36],
        "itemsize": 48,
    }
)


def field_offset(dtype: np.dtype[np.void], name: str) -> int:
    """Byte offset of a field: the kernels below read the raw bytes there."""
    if dtype.fields is None:
        raise TypeError("a structured dtype is needed")
    return int(dtype.fields[name][1])


BLOCK_DESC_LEN = BLOCK_DESC_DTYPE.itemsize
TP3_HDR_LEN = TP3_HDR_DTYPE.itemsize
B_STATUS = field_offset(BLOCK_DESC_DTYPE, "block_status")
_B_NUM = field_offset(BLOCK_DESC_DTYPE, "num_pkts")
_B_FIRST = field_offset(BLOCK_DESC_DTYPE, "offset_to_first_pkt")
_B_LEN = field_offset(BLOCK_DESC_DTYPE, "blk_len")
_P_NEXT = field_offset(TP3_HDR_DTYPE, "tp_next_offset")
_P_SEC = field_offset(TP3_HDR_DTYPE, "tp_sec")
_P_NSEC = field_offset(TP3_HDR_DTYPE, "tp_nsec")
_P_SNAP = field_offset(TP3_HDR_DTYPE, "tp_snaplen")
_P_LEN = field_offset(TP3_HDR_DTYPE, "tp_len")
_P_MAC = field_offset(TP3_HDR_DTYPE, "tp_mac")


def max_packets(block_size: int) -> int:
    """Upper bound of the packets one block can yield (each takes at least one header)."""
    return block_size // TP3_HDR_LEN + 1


@nb.njit(cache=True, inline="always")
def _u32(buf, i):  # type: ignore[no-untyped-def]
    return (
        np.int64(buf[i])
        | (np.int64(buf[i + 1]) << 8)
        | (np.int64(buf[i + 2]) << 16)
        | (np.int64(buf[i + 3]) << 24)
    )


@nb.njit(cache=True)
def walk_block(buf, base, block_size, linktype, n, out_off, out_cap, out_wire, out_ts, out_lt):  # type: ignore[no-untyped-def]
    """Locate the packets of the block at buf[base:base + block_size] into the output arrays
    from row `n`; returns (rows written, True when the whole chain was consistent)."""
    if base < 0 or block_size < BLOCK_DESC_LEN or base + block_size > buf.shape[0]:
        return 0, False
    num = _u32(buf, base + _B_NUM)
    first = _u32(buf, base + _B_FIRST)
    blk_len = _u32(buf, base + _B_LEN)
    end = base + (blk_len if blk_len < block_size else block_size)
    if num == 0:
        return 0, True
    if first < BLOCK_DESC_LEN or blk_len > block_size:
        return 0, False
    pos = base + first
    start = n
    cap = out_off.shape[0]
    for i in range(num):
        if pos + TP3_HDR_LEN > end or n >= cap:
            return n - start, False
        snap = _u32(buf, pos + _P_SNAP)
        mac = np.int64(buf[pos + _P_MAC]) | (np.int64(buf[pos + _P_MAC + 1]) << 8)
        if mac < TP3_HDR_LEN or pos + mac + snap > end:
            return n - start, False
        wire = _u32(buf, pos + _P_LEN)
        out_off[n] = pos + mac
        out_cap[n] = snap
        out_wire[n] = wire if wire >= snap else snap
        out_ts[n] = (
            np.float64(_u32(buf, pos + _P_SEC)) + np.float64(_u32(buf, pos + _P_NSEC)) * 1e-9
        )
        out_lt[n] = linktype
        n += 1
        if i + 1 < num:
            step = _u32(buf, pos + _P_NEXT)
            if step < TP3_HDR_LEN:
                return n - start, False
            pos += step
    return n - start, True


@nb.njit(cache=True)
def walk_ready(  # type: ignore[no-untyped-def]
    ring, block_size, n_blocks, first, max_blocks, linktype,
    out_off, out_cap, out_wire, out_ts, out_lt,
):  # fmt: skip
    """Walk the consecutive blocks the kernel has handed over, from block `first` on, at most
    `max_blocks` and as many as the output arrays surely hold.

    Returns (records, blocks taken, bad blocks, blocks retired by timeout, blocks with losses).
    The taken blocks stay the reader's until their status is set back to TP_STATUS_KERNEL.
    """
    n = 0
    taken = 0
    bad = 0
    tmo = 0
    losing = 0
    per_block = block_size // TP3_HDR_LEN + 1
    cap = out_off.shape[0]
    b = first
    while taken < max_blocks and taken < n_blocks and n + per_block <= cap:
        base = np.int64(b) * block_size
        status = _u32(ring, base + B_STATUS)
        if status & TP_STATUS_USER == 0:
            break
        got, ok = walk_block(
            ring, base, block_size, linktype, n, out_off, out_cap, out_wire, out_ts, out_lt
        )
        n += got
        if not ok:
            bad += 1
        if status & TP_STATUS_BLK_TMO:
            tmo += 1
        if status & TP_STATUS_LOSING:
            losing += 1
        taken += 1
        b = (b + 1) % n_blocks
    return n, taken, bad, tmo, losing
