"""Flow key → flow slot map: open addressing over two numpy arrays, for the flow kernels.

It replaces a numba typed Dict keyed by a 5-tuple of uint64 (the table update cost ~50 ns a
packet with it, ~20 ns with this map): a slow tuple hash, two lookups per packet (`in`, then `[]`)
and a boxed, refcounted structure. Here:

- `keys[s]` holds the key (five uint64 words) of flow slot `s`: the value *is* the row.
- `index` is a power-of-two array of uint64 entries `tag << 32 | slot` (EMPTY when free), where
  `tag` is the upper half of the key's 64-bit hash. An entry's home is `tag & (len(index) - 1)`;
  collisions probe linearly. A lookup compares tags before it reads a key row; a removal shifts
  the rest of its probe run back (no tombstones); growing rehashes tags only, never keys.

The hash is keyed per map by a random 64-bit seed (`FlowKeys(seed=...)`, default
`secrets.randbits(64)`). Keys come off a mirror port, so an unkeyed hash lets whoever knows the
code send 5-tuples that share one home: linear-probe runs as long as the flood, a stalled capture
worker, kernel drops. A multiply-sum of the words is no defence even with secret multipliers or a
secret added before the finaliser: products carry bits only upwards, so keys that differ only in
the top bits of two words (two IPv6 interface ids) have sums that differ only in those bits, and
2**16 such keys share 256 hashes whatever the secret. So the words are mixed NH-style (UMAC): each
word's 32-bit halves, each offset by its own secret 32-bit key, are multiplied together and the
products summed; two distinct keys then collide over all 64 bits with probability about 2**-32
over the seed, and which keys share a home cannot be worked out without the seed. The seed
expands (splitmix64) into `hk`, ten 32-bit keys the kernels take as an argument: a module global
would be frozen into numba's on-disk cache and shared by every process. Nothing but probe order
depends on the seed: tags live in the index, so growing needs no seed, and slots come from the
caller's free list, so a flow table behaves the same under any seed.

The caller keeps the load at or below 1/2: `fits(n, len(index))` before an insert, else `grown`.
The index is sized by live keys, not slots, so for typical traffic it stays in L1/L2 cache.
Kernels take the arrays themselves, so they compile once and load from numba's on-disk cache.
"""

from __future__ import annotations

import secrets

import numba as nb
import numpy as np
import numpy.typing as npt

EMPTY = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
KEY_WORDS = 5
MAX_SLOTS = (1 << 32) - 1  # the slot lives in an entry's lower 32 bits (all ones is EMPTY)
MAX_INDEX = 1 << 32  # an entry's home comes from its 32-bit tag
_LOW = np.uint64(0xFFFF_FFFF)
_MIX = np.uint64(0xC4CEB9FE1A85EC53)
HASH_KEY_WORDS = 2 * KEY_WORDS  # a secret 32-bit offset for each half of each key word
_M64 = (1 << 64) - 1
U32 = np.uint64(32)


def hash_key(seed: int) -> npt.NDArray[np.uint64]:
    """The kernels' hash key for a 64-bit `seed`: ten 32-bit offsets (splitmix64 outputs)."""
    if not 0 <= seed <= _M64:
        raise ValueError(f"flow key seed {seed} is not a 64-bit unsigned integer")
    hk = np.empty(HASH_KEY_WORDS, dtype=np.uint64)
    for i in range(KEY_WORDS):
        seed = (seed + 0x9E3779B97F4A7C15) & _M64
        z = ((seed ^ (seed >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        z ^= z >> 31
        hk[2 * i], hk[2 * i + 1] = z & 0xFFFF_FFFF, z >> 32
    return hk


@nb.njit(cache=True, inline="always")
def _nh(hk, i, k):  # type: ignore[no-untyped-def]
    """Key word `k`'s NH term: its low and high halves, each plus its secret, multiplied."""
    return ((k + hk[2 * i]) & _LOW) * (((k >> U32) + hk[2 * i + 1]) & _LOW)


@nb.njit(cache=True, inline="always")
def _tag(hk, k0, k1, k2, k3, k4):  # type: ignore[no-untyped-def]
    """Upper 32 bits of the key's 64-bit hash under hash key `hk` (an NH sum, then a finaliser
    that brings its well-mixed upper bits down before the upper half is taken)."""
    h = (
        _nh(hk, 0, np.uint64(k0))
        + _nh(hk, 1, np.uint64(k1))
        + _nh(hk, 2, np.uint64(k2))
        + _nh(hk, 3, np.uint64(k3))
        + _nh(hk, 4, np.uint64(k4))
    )
    h ^= h >> np.uint64(29)
    h *= _MIX
    h ^= h >> np.uint64(31)
    return h >> U32


def fits(n: int, size: int) -> bool:
    """Can an index of `size` entries hold `n` keys at load <= 1/2?"""
    return 2 * n <= size


fits_nb = nb.njit(cache=True, inline="always")(fits)  # the same rule, for the kernels


@nb.njit(cache=True)
def find(index, keys, hk, k0, k1, k2, k3, k4):  # type: ignore[no-untyped-def]
    """The slot of key (k0..k4), or -1."""
    tag = _tag(hk, k0, k1, k2, k3, k4)
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
def insert(index, keys, hk, k0, k1, k2, k3, k4, slot):  # type: ignore[no-untyped-def]
    """Map key (k0..k4), which must be absent, to `slot`, which must be unused; the caller has
    checked `fits`."""
    keys[slot, 0] = k0
    keys[slot, 1] = k1
    keys[slot, 2] = k2
    keys[slot, 3] = k3
    keys[slot, 4] = k4
    tag = _tag(hk, k0, k1, k2, k3, k4)
    mask = np.uint64(index.shape[0] - 1)
    pos = tag & mask
    while index[pos] != EMPTY:
        pos = (pos + np.uint64(1)) & mask
    index[pos] = (tag << U32) | np.uint64(slot)


@nb.njit(cache=True)
def remove(index, keys, hk, slot):  # type: ignore[no-untyped-def]
    """Unmap `slot`'s key; False if it was not mapped. Later entries of the probe run move back
    into the hole when their home allows, so lookups never need tombstones."""
    tag = _tag(hk, keys[slot, 0], keys[slot, 1], keys[slot, 2], keys[slot, 3], keys[slot, 4])
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
    """The entries of `index` placed in a new index of `size` entries (a power of two). Homes
    come from the stored tags, which already carry the hash key: growing needs no key."""
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
    """The map's arrays (`index`, `keys`) and hash key (`hk`, from the 64-bit `seed`, random
    unless given) with Python-side growth and single-key access; the flow kernels call
    `find`/`insert`/`remove` on the arrays directly."""

    def __init__(self, slots: int, size: int = 1024, seed: int | None = None) -> None:
        if size & (size - 1) or not 0 < size <= MAX_INDEX or slots > MAX_SLOTS:
            raise ValueError(f"bad flow key map size {size} (a power of two) or slots {slots}")
        self.seed = secrets.randbits(64) if seed is None else seed
        self.hk = hash_key(self.seed)
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
        return int(find(self.index, self.keys, self.hk, *_words(key)))

    def put(self, key: Key, slot: int) -> None:
        """Map an absent `key` to an unused `slot`."""
        if self.get(key) >= 0:
            raise KeyError(f"flow key {key} already mapped")
        self.reserve(len(self) + 1)
        insert(self.index, self.keys, self.hk, *_words(key), np.int64(slot))

    def discard(self, slot: int) -> bool:
        """Unmap `slot`'s key; False if it was not mapped."""
        return bool(remove(self.index, self.keys, self.hk, np.int64(slot)))


def _words(key: Key) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64, np.uint64]:
    k0, k1, k2, k3, k4 = (np.uint64(w) for w in key)
    return k0, k1, k2, k3, k4
