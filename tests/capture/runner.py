"""A capture process for the tests and the benchmark (run inside the test namespace):

    ip netns exec NS python -m tests.capture.runner --iface IF --out DIR [--workers N] ...

Prints READY once every worker captures (SWAPPED after a SIGUSR1 list swap); writes each hit
as a JSON line to DIR/hits.jsonl as it arrives, the counters to DIR/stats.json every
--stats-interval seconds (atomically) and once more at the end; stops on SIGTERM/SIGINT like
the real command (exit 0 after the flush).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from detector.hits import FlowHit
from minewatch.lists import build_matcher
from pipelines.capture import LiveCapture
from pipelines.capture_stats import CaptureStats
from pipelines.parallel import WorkerError
from pipelines.sources.afpacket import RingConfig, RingError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--bpf")
    ap.add_argument("--blocklist", action="append", default=[])
    ap.add_argument("--block-size", type=int, default=1 << 20)
    ap.add_argument("--block-nr", type=int, default=64)
    ap.add_argument("--retire-ms", type=int, default=50)
    ap.add_argument("--batch-blocks", type=int, default=8)
    ap.add_argument("--stats-interval", type=float, default=0.2)
    ap.add_argument("--swap-blocklist", help="on SIGUSR1, swap in a list with this file added")
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    matcher, _ = build_matcher(args.blocklist)
    hits_fh = (out / "hits.jsonl").open("w")

    def sink(hit: FlowHit) -> None:
        hits_fh.write(json.dumps(hit.to_json(), sort_keys=True) + "\n")
        hits_fh.flush()

    def write_stats(stats: CaptureStats, name: str = "stats.json") -> None:
        tmp = out / f".{name}.tmp"
        tmp.write_text(json.dumps(stats.as_dict(), sort_keys=True))
        os.replace(tmp, out / name)

    def ready() -> None:
        print("READY", flush=True)

    ring = RingConfig(
        block_size=args.block_size, block_nr=args.block_nr, retire_ms=args.retire_ms,
        batch_blocks=args.batch_blocks,
    )  # fmt: skip
    cap = LiveCapture(
        args.iface, matcher, sink, workers=args.workers, bpf=args.bpf, ring=ring,
        on_ready=ready, on_stats=write_stats, stats_interval=args.stats_interval,
    )  # fmt: skip
    if args.swap_blocklist:

        def swap(signum: int, frame: object) -> None:
            cap.swap_matcher(build_matcher([*args.blocklist, args.swap_blocklist])[0])
            print("SWAPPED", flush=True)

        signal.signal(signal.SIGUSR1, swap)
    try:
        stats = cap.run()
    except RingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except WorkerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    finally:
        hits_fh.close()
    write_stats(stats)
    write_stats(stats, "final.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
