"""Flow key → flow slot map: open addressing over two numpy arrays, for the flow kernels.

It replaces a numba typed Dict keyed by a 5-tuple of uint64 (the table update cost ~50 ns a
packet with it, ~20 ns with this map): a slow tuple hash, two lookups per packet (`in`, then `[]`)
and a boxed, refcounted structure. Here:

- `keys[s]` holds the key (five uint64 words) of flow slot `s`: the value *is* the row.
- `index` is a power-of-two array of uint64 entries `tag << 32 | slot` (EMPTY when free), where
  `tag` is the upper half of the key's 64-bit hash. An entry's home is `tag & (len(index) - 1)`;
  collisions probe linearly. A lookup compares tags before it reads a key row; a removal shifts
  the rest of its probe run back (no tombstones); growing rehashes tags only, never keys.

The caller keeps the load at or below 1/2: `fits(n, len(index))` before an insert, else `grown`.
The index is sized by live keys, not slots, so for typical traffic it stays in L1/L2 cache.
Kernels take the arrays themselves, so they compile once and load from numba's on-disk cache.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

EMPTY = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
KEY_WORDS = 5
MAX_SLOTS = (1 << 32) - 1  # the slot lives in an entry's lower 32 bits (all ones is EMPTY)
MAX_INDEX = 1 << 32  # an entry's home comes from its 32-bit tag
_LOW = np.uint64(0xFFFF_FFFF)
_M = (
    np.uint64(0x9E3779B97F4A7C15),
    np.uint64(0xC2B2AE3D27D4EB4F),
    np.uint64(0x165667B19E3779F9),
    np.uint64(0xD6E8FEB86659FD93),
    np.uint64(0xFF51AFD7ED558CCD),
    np.uint64(0xC4CEB9FE1A85EC53),
)
U32 = np.uint64(32)


@nb.njit(cache=True, inline="always")
def _tag(k0, k1, k2, k3, k4):  # type: ignore[no-untyped-def]
    """Upper 32 bits of a 64-bit hash of the key (independent multiplies, then a finaliser)."""
    h = (
        np.uint64(k0) * _M[0]
        + np.uint64(k1) * _M[1]
        + np.uint64(k2) * _M[2]
        + np.uint64(k3) * _M[3]
        + np.uint64(k4) * _M[4]
    )
    h ^= h >> np.uint64(29)
    h *= _M[5]
    h ^= h >> np.uint64(31)
    return h >> U32


def fits(n: int, size: int) -> bool:
    """Can an index of `size` entries hold `n` keys at load <= 1/2?"""
    return 2 * n <= size


fits_nb = nb.njit(cache=True, inline="always")(fits)  # the same rule, for the kernels


@nb.njit(cache=True)
def find(index, keys, k0, k1, k2, k3, k4):  # type: ignore[no-untyped-def]
    """The slot of key (k0..k4), or -1."""
    tag = _tag(k0, k1, k2, k3, k4)
    mask = np.uint64(index.shape[0] - 1)
    pos = tag & mask
    while True:
        e = index[pos]
        if e == EMPTY:
            return np.int64(-1)
        if e >> U32 == tag:
            s = e & _LOW
            if (
                keys[s, 1] == k1
                and keys[s, 3] == k3
                and keys[s, 4] == k4
                and keys[s, 0] == k0
                and keys[s, 2] == k2
            ):
                return np.int64(s)
        pos = (pos + np.uint64(1)) & mask


@nb.njit(cache=True)
def insert(index, keys, k0, k1, k2, k3, k4, slot):  # type: ignore[no-untyped-def]
    """Map key (k0..k4), which must be absent, to `slot`, which must be unused; the caller has
    checked `fits`."""
    keys[slot, 0] = k0
    keys[slot, 1] = k1
    keys[slot, 2] = k2
    keys[slot, 3] = k3
    keys[slot, 4] = k4
    tag = _tag(k0, k1, k2, k3, k4)
    mask = np.uint64(index.shape[0] - 1)
    pos = tag & mask
    while index[pos] != EMPTY:
        pos = (pos + np.uint64(1)) & mask
    index[pos] = (tag << U32) | np.uint64(slot)


@nb.njit(cache=True)
def remove(index, keys, slot):  # type: ignore[no-untyped-def]
    """Unmap `slot`'s key; False if it was not mapped. Later entries of the probe run move back
    into the hole when their home allows, so lookups never need tombstones."""
    tag = _tag(keys[slot, 0], keys[slot, 1], keys[slot, 2], keys[slot, 3], keys[slot, 4])
    want = (tag << U32) | np.uint64(slot)
    mask = np.uint64(index.shape[0] - 1)
    hole = tag & mask
    while index[hole] != want:
        if index[hole] == EMPTY:
            return False
        hole = (hole + np.uint64(1)) & mask
    j = (hole + np.uint64(1)) & mask
    while index[j] != EMPTY:
        home = (index[j] >> U32) & mask
        if ((j - home) & mask) >= ((j - hole) & mask):  # the hole lies in [home, j)
            index[hole] = index[j]
            hole = j
        j = (j + np.uint64(1)) & mask
    index[hole] = EMPTY
    return True


@nb.njit(cache=True)
def grown(index, size):  # type: ignore[no-untyped-def]
    """The entries of `index` placed in a new index of `size` entries (a power of two)."""
    out = np.full(size, EMPTY, dtype=np.uint64)
    mask = np.uint64(size - 1)
    for e in index:
        if e != EMPTY:
            pos = (e >> U32) & mask
            while out[pos] != EMPTY:
                pos = (pos + np.uint64(1)) & mask
            out[pos] = e
    return out


Key = tuple[int, int, int, int, int]


class FlowKeys:
    """The map's arrays (`index`, `keys`) with Python-side growth and single-key access; the
    flow kernels call `find`/`insert`/`remove` on the arrays directly."""

    def __init__(self, slots: int, size: int = 1024) -> None:
        if size & (size - 1) or not 0 < size <= MAX_INDEX or slots > MAX_SLOTS:
            raise ValueError(f"bad flow key map size {size} (a power of two) or slots {slots}")
        self.index: npt.NDArray[np.uint64] = np.full(size, EMPTY, dtype=np.uint64)
        self.keys: npt.NDArray[np.uint64] = np.zeros((slots, KEY_WORDS), dtype=np.uint64)

    def __len__(self) -> int:
        return int(np.count_nonzero(self.index != EMPTY))

    def reserve(self, n: int) -> None:
        """Grow the index until `n` keys fit at load <= 1/2."""
        size = len(self.index)
        while not fits(n, size):
            size *= 2
        if size != len(self.index):
            if size > MAX_INDEX:
                raise OverflowError("flow key map full")
            self.index = grown(self.index, size)

    def grow_slots(self, slots: int) -> None:
        """Make room for the keys of slots up to `slots` - 1."""
        if slots > MAX_SLOTS:
            raise OverflowError("too many flow slots")
        keys = np.zeros((slots, KEY_WORDS), dtype=np.uint64)
        keys[: len(self.keys)] = self.keys
        self.keys = keys

    def get(self, key: Key) -> int:
        """The slot of `key`, or -1."""
        return int(find(self.index, self.keys, *_words(key)))

    def put(self, key: Key, slot: int) -> None:
        """Map an absent `key` to an unused `slot`."""
        if self.get(key) >= 0:
            raise KeyError(f"flow key {key} already mapped")
        self.reserve(len(self) + 1)
        insert(self.index, self.keys, *_words(key), np.int64(slot))

    def discard(self, slot: int) -> bool:
        """Unmap `slot`'s key; False if it was not mapped."""
        return bool(remove(self.index, self.keys, np.int64(slot)))


def _words(key: Key) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64, np.uint64]:
    k0, k1, k2, k3, k4 = (np.uint64(w) for w in key)
    return k0, k1, k2, k3, k4
