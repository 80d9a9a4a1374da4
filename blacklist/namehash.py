"""Hashes of listed names for the compiled name screen (`detector.screen`).

FNV-1a 64 over the name's lower-case text as UTF-8: simple enough to compute byte by byte in a
compiled kernel over a packet, and the screen only needs "certainly not listed" from a miss (a
collision merely sends a packet to the exact Python lookup).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
_M64 = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    """The table's hash of one name."""
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & _M64
    return h


def name_table(names: Iterable[str]) -> npt.NDArray[np.uint64]:
    """Sorted unique hashes of the given names (a matcher's domain keys), read-only."""
    hashes = np.array(sorted({fnv1a64(n.encode()) for n in names}), dtype=np.uint64)
    hashes.flags.writeable = False
    return hashes
