"""Big-endian (network order) integer reads for the compiled decoders: one definition for the
packet, NetFlow/IPFIX, sFlow and TLS kernels. Inlined into the calling kernel."""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, inline="always")
def be16(buf, i):  # type: ignore[no-untyped-def]
    return (np.int64(buf[i]) << 8) | np.int64(buf[i + 1])


@nb.njit(cache=True, inline="always")
def be32(buf, i):  # type: ignore[no-untyped-def]
    return (
        (np.int64(buf[i]) << 24)
        | (np.int64(buf[i + 1]) << 16)
        | (np.int64(buf[i + 2]) << 8)
        | np.int64(buf[i + 3])
    )


@nb.njit(cache=True, inline="always")
def beu(buf, i, n):  # type: ignore[no-untyped-def]
    """An unsigned field of n (1..8) bytes, as uint64."""
    v = np.uint64(0)
    for k in range(n):
        v = (v << np.uint64(8)) | np.uint64(buf[i + k])
    return v


@nb.njit(cache=True, inline="always")
def be64(buf, i):  # type: ignore[no-untyped-def]
    return beu(buf, i, 8)
