"""Hashes of listed names for the compiled name screen (`detector.screen`).

FNV-1a 64 over the name's lower-case text as UTF-8: simple enough to compute byte by byte in a
compiled kernel over a packet, and the screen only needs "certainly not listed" from a miss (a
collision merely sends a packet to the exact Python lookup).
"""

from __future__ import annotations

from collections.abc import Iterable

import numba as nb
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


@nb.njit(cache=True)
def _hash_all(blob, ends):  # type: ignore[no-untyped-def]
    """FNV-1a 64 of each name blob[ends[k-1]:ends[k]] (a list of 1M entries has ~100k names:
    hashing them in Python took a quarter of a second per 100k)."""
    out = np.empty(ends.shape[0], dtype=np.uint64)
    start = 0
    for k in range(ends.shape[0]):
        h = np.uint64(FNV_OFFSET)
        for i in range(start, ends[k]):
            h = (h ^ np.uint64(blob[i])) * np.uint64(FNV_PRIME)
        out[k] = h
        start = ends[k]
    return out


def name_table(names: Iterable[str]) -> npt.NDArray[np.uint64]:
    """Sorted unique hashes of the given names (a matcher's domain keys), read-only."""
    encoded = [n.encode() for n in names]
    ends = np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    hashes = np.unique(_hash_all(blob, ends))
    hashes.flags.writeable = False
    return hashes
