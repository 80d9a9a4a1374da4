"""Compile the scan's kernels once, at install time, not in a user's first scan.

numba compiles a kernel on its first call and caches the machine code (`cache=True`, where
`pipelines.kernel_cache` puts it). A first scan on a cold cache takes ~15 s and peaks at
~340 MB resident, the LLVM compiler's memory, above the 300 MB a scan must stay under; every
later scan loads the cache (~0.5 s, ~200 MB). `make install` runs `python -m pipelines.warmup`
once, so that the first real scan is already a warm one.

What compiles: the bundled samples through the real scan (pcap, pcapng, gzip, every link type
and detector), then what real traffic reaches and the samples do not: a batch of one packet
(numba types a one-element column view as contiguous, a second specialisation of the decoder
and the flow update), the flow-key map growing past its first size, and the Keccak permutation
behind discv4 hashes.
`tests/test_warmup.py` checks that a scan of every shared capture compiles nothing more.
"""

from __future__ import annotations

import struct
import sys
import tempfile
from pathlib import Path

from blacklist.allow import AllowIndex
from blacklist.builtin import builtin_entries
from blacklist.matcher import Matcher
from detector.context import DetectContext
from detector.signatures.keccak import keccak256
from pipelines.flowkeys import FlowKeys
from pipelines.scan import Scanner

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def warm_up(samples: Path = SAMPLES) -> int:
    """Run every capture under `samples` and the extra kernels; returns the files scanned."""
    files = sorted(p for p in samples.rglob("*") if p.name.endswith((".pcap", ".pcapng", ".gz")))
    if not files:
        return 0
    matcher = Matcher(builtin_entries())
    scanner = Scanner(DetectContext(matcher, allow=AllowIndex(matcher.entries)), _drop)
    with tempfile.TemporaryDirectory(prefix="minewatch-warmup-") as tmp:
        single = _first_packet(files, Path(tmp) / "one.pcap")
        stats = scanner.scan([*files, *([single] if single else [])])
    keys = FlowKeys(1, size=2)
    keys.reserve(2)  # past load 1/2: `grown`
    keccak256(b"minewatch")
    return stats.files


def _first_packet(files: list[Path], out: Path) -> Path | None:
    """A classic pcap holding the first record of the first classic pcap among `files`."""
    for path in files:
        with path.open("rb") as fh:
            head = fh.read(24)
            if head[:4] not in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4"):
                continue
            rec = fh.read(16)
            if len(rec) < 16:
                continue
            (caplen,) = struct.unpack("<I" if head[0] == 0xD4 else ">I", rec[8:12])
            out.write_bytes(head + rec + fh.read(caplen))
            return out
    return None


def _drop(_hit: object) -> None:
    """Hits of a warm-up are not reported."""


def main(argv: list[str]) -> int:
    samples = Path(argv[0]) if argv else SAMPLES
    n = warm_up(samples)
    if not n:
        print(f"warm-up: no captures under {samples}", file=sys.stderr)
        return 1
    print(f"warm-up: compiled kernels cached ({n} sample captures scanned)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
