"""Benchmark `pipelines.decoders.sflow` on switch-like sFlow v5 datagrams.

    .venv/bin/python bench/bench_sflow.py [--datagrams 100000] [--batch 1024]

Datagrams look like a busy switch's: 7 flow samples with 128-byte raw headers of real frames
(samples/stratum_v1_btc.pcap) plus an extended-switch record each, and a counter sample in every
fourth datagram (~1.4 kB). Prints datagrams/s and packets/s for the sFlow walk alone, for the
walk plus the packet decoder (what the collector runs), for several batch sizes (the receive
loop's recvmmsg batch), and a naive pure-Python `struct` walk of the same datagrams.
Timings are best-of-N CPU time on one core.
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dpkt
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the XDR encoder lives with the tests

from pipelines.decoders.sflow import SflowState, SflowStats, decode_datagrams, pack  # noqa: E402
from tests.sflow import xdr  # noqa: E402


def frames() -> list[bytes]:
    with (ROOT / "samples" / "stratum_v1_btc.pcap").open("rb") as fh:
        return [bytes(buf) for _, buf in dpkt.pcap.Reader(fh)]


def build(n: int) -> list[bytes]:
    pool = frames()
    out = []
    k = 0
    for i in range(n):
        samples = []
        for _ in range(7):
            rec = [xdr.sampled_header(pool[k % len(pool)]), xdr.extended_switch()]
            samples.append(xdr.flow_sample(rec, seq=k + 1, rate=1000, source_index=1 + k % 48))
            k += 1
        if i % 4 == 0:
            samples.append(xdr.counter_sample([xdr.generic_interface_counters()], seq=i))
        out.append(xdr.datagram(samples, seq=i + 1, uptime=i))
    return out


def naive(datagrams: list[bytes]) -> int:
    """What a straightforward Python decoder does: struct-unpack every field (headers only)."""
    packets = 0
    u32 = struct.Struct(">I").unpack_from
    for d in datagrams:
        p = 28 if u32(d, 4)[0] == 1 else 40
        for _ in range(u32(d, p - 4)[0]):
            fmt, length = struct.unpack_from(">II", d, p)
            body = p + 8
            if fmt == 1:
                _seq, _src, _rate, _pool, _drops, _inp, _out, nrec = struct.unpack_from(
                    ">8I", d, body
                )
                q = body + 32
                for _ in range(nrec):
                    rf, rl = struct.unpack_from(">II", d, q)
                    if rf == 1:
                        _proto, _flen, _stripped, hlen = struct.unpack_from(">4I", d, q + 8)
                        _header = d[q + 24 : q + 24 + hlen]
                        packets += 1
                    q += 8 + (rl + 3) // 4 * 4
            p = body + (length + 3) // 4 * 4
    return packets


def best_of(fn: Callable[[], object], reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--datagrams", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    t = time.perf_counter()
    datagrams = build(args.datagrams)
    size = sum(map(len, datagrams)) / len(datagrams)
    print(f"{len(datagrams):,} datagrams, {size:.0f} bytes each, built in "
          f"{time.perf_counter() - t:.1f} s")  # fmt: skip
    buf, off, length = pack(datagrams)
    ts = np.zeros(len(datagrams))
    decode_datagrams(buf, off[:8], length[:8], ts[:8], SflowState(), SflowStats())  # compile

    def run(batch: int, packets: bool) -> int:
        state, stats = SflowState(), SflowStats()
        n = 0
        for s in range(0, len(off), batch):
            out = decode_datagrams(buf, off[s : s + batch], length[s : s + batch],
                                   ts[s : s + batch], state, stats)  # fmt: skip
            if packets:
                n += len(out.packet_batch())
        assert stats.malformed_datagrams == 0 and stats.lost_datagrams == 0
        return stats.packets

    total = run(args.batch, False)
    print(f"{total:,} sampled packets")
    for batch in sorted({1, 64, args.batch, 8192}):
        for packets in (False, True):
            dt = best_of(lambda b=batch, p=packets: run(b, p), args.reps if batch > 1 else 1)  # type: ignore[misc]
            what = "sflow + packet decode" if packets else "sflow walk only     "
            print(f"batch {batch:5d}  {what}  {len(datagrams) / dt:12,.0f} datagrams/s  "
                  f"{total / dt:12,.0f} packets/s")  # fmt: skip
    sub = datagrams[:20_000]
    dt = best_of(lambda: naive(sub), 3)
    print(f"naive struct walk (headers only, no columns)   {len(sub) / dt:12,.0f} datagrams/s  "
          f"{naive(sub) / dt:12,.0f} packets/s")  # fmt: skip


if __name__ == "__main__":
    main()
