"""Compiled fast path for the common ClientHello: one record, complete, well formed.

`detector.extract.tls.client_hello_sni` handles every case (fragmented records, hellos still
arriving, malformed insides) in Python at ~25 µs a hello; a carrier link carries a ClientHello
per TLS connection, so the common case — the whole hello in the first record — is walked here
in compiled code and only the server name's bytes come back. Anything else (status 0) goes to
the full parser, so the result is always the full parser's: same checks, same first host_name
(tests/extract/test_tls_fast.py holds the two to each other on real and mutated hellos).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from pipelines.decoders.bigendian import be16 as _u16

FALLBACK, FOUND, NO_SNI = 0, 1, 2
_MAX_RECORD = 1 << 14
_MAX_HELLO = 16 * 1024


@nb.njit(cache=True)
def sni_span(b):  # type: ignore[no-untyped-def]
    """(status, offset, length) of the first host_name in a single-record ClientHello."""
    n = b.shape[0]
    if n < 9 or b[0] != 0x16 or b[1] != 3 or b[2] < 1 or b[2] > 4 or b[5] != 1:
        return FALLBACK, 0, 0
    rec = _u16(b, 3)
    if rec == 0 or rec > _MAX_RECORD or 5 + rec > n:
        return FALLBACK, 0, 0
    want = 4 + ((np.int64(b[6]) << 16) | (np.int64(b[7]) << 8) | np.int64(b[8]))
    if want > rec or want > _MAX_HELLO:
        return FALLBACK, 0, 0
    end = 5 + want  # the hello body is b[9:end]
    p = 9
    if end - p < 35 or b[p] != 3:
        return FALLBACK, 0, 0
    p += 34
    if b[p] > 32:
        return FALLBACK, 0, 0
    p += 1 + b[p]
    if p + 2 > end:
        return FALLBACK, 0, 0
    k = _u16(b, p)
    if k < 2 or k % 2:
        return FALLBACK, 0, 0
    p += 2 + k
    if p + 1 > end or b[p] < 1:
        return FALLBACK, 0, 0
    p += 1 + b[p]
    if p == end:
        return NO_SNI, 0, 0
    if p + 2 > end or p + 2 + _u16(b, p) != end:
        return FALLBACK, 0, 0
    p += 2
    found, s_off, s_len = False, 0, 0
    while p < end:
        if p + 4 > end:
            return FALLBACK, 0, 0
        kind, size = _u16(b, p), _u16(b, p + 2)
        p += 4
        if p + size > end:
            return FALLBACK, 0, 0
        if kind == 0:
            if found or size < 2 or _u16(b, p) + 2 != size:
                return FALLBACK, 0, 0  # a second server_name, or an odd list: full parser
            q, stop = p + 2, p + size
            while q < stop:
                if q + 3 > stop:
                    return FALLBACK, 0, 0
                m = _u16(b, q + 1)
                if q + 3 + m > stop:
                    return FALLBACK, 0, 0
                if b[q] == 0:
                    s_off, s_len = q + 3, m
                    break
                q += 3 + m
            if s_len == 0 and s_off == 0:
                return FALLBACK, 0, 0  # no host_name entry: let the full parser say so
            found = True
        elif kind == 16:
            if size < 2 or _u16(b, p) + 2 != size:
                return FALLBACK, 0, 0
            q, stop = p + 2, p + size
            while q < stop:
                m = np.int64(b[q])
                if m == 0 or q + 1 + m > stop:
                    return FALLBACK, 0, 0
                q += 1 + m
        p += size
    if found:
        return FOUND, s_off, s_len
    return NO_SNI, 0, 0
