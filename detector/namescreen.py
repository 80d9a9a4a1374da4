"""Compiled screen for names that cannot be listed: ordinary DNS questions and TLS server names.

Most candidate packets on a carrier link are DNS questions and ClientHellos about names that are
on no list. Reading each in Python (state, buffers, name text, suffix lookups) cost 5-7 µs, most
of a benign scan's inspection time. The prefilter kernel now reads the name in place and hashes
the name and each parent suffix; a name none of whose hashes is in the list's table cannot match,
so the packet is finished here (counted, and a ClientHello ends its flow's inspection as the
Python path would). Anything else goes to Python unchanged: a hash in the table (a listed name,
or a rare collision; Python decides exactly), and every case the screen does not model (DNS over
TCP, compression pointers, non-ASCII or non-printable bytes, a dot inside a label, a trailing
dot, a malformed message, a ClientHello the compiled walk cannot read whole).

The table (`blacklist.namehash`) holds FNV-1a 64 hashes of every key of the matcher's two domain
tables (exact names and covering suffixes), so a miss in it proves that `Matcher.match_domain`
returns −1.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from blacklist.namehash import FNV_OFFSET, FNV_PRIME
from detector.extract.dns import KNOWN_OPCODES, MAX_NAME_WIRE
from detector.extract.tls_fast import FOUND, NO_SNI, sni_span

MAYBE, CLEAN, CLEAN_NO_NAME = 0, 1, 2
_OPCODES = tuple(sorted(KNOWN_OPCODES))  # the Python reader's rules (a tuple for numba)
NAME_SCRATCH = 256  # bytes of the caller's scratch buffer for one name's text


@nb.njit(cache=True, inline="always")
def _lower(c):  # type: ignore[no-untyped-def]
    return c + 32 if 0x41 <= c <= 0x5A else c


@nb.njit(cache=True)
def _listed(name, n, table):  # type: ignore[no-untyped-def]
    """Could name[:n] (lower-case ASCII) or a suffix after one of its dots be in the table?"""
    if table.shape[0] == 0:
        return False
    start = 0
    while True:
        h = np.uint64(FNV_OFFSET)
        for k in range(start, n):
            h = (h ^ np.uint64(name[k])) * np.uint64(FNV_PRIME)
        j = np.searchsorted(table, h)
        if j < table.shape[0] and table[j] == h:
            return True
        dot = -1
        for k in range(start, n):
            if name[k] == 0x2E:
                dot = k
                break
        if dot < 0:
            return False
        start = dot + 1


@nb.njit(cache=True)
def dns_screen(buf, off, length, table, name):  # type: ignore[no-untyped-def]
    """CLEAN when the DNS message (UDP) in buf[off:off+length] is well formed up to its first
    question and that name cannot be listed; MAYBE otherwise. `name`: NAME_SCRATCH bytes."""
    if length < 12:
        return MAYBE
    opcode = (buf[off + 2] >> 3) & 0xF
    known = False
    for op in _OPCODES:
        if opcode == op:
            known = True
    if not known or (np.int64(buf[off + 4]) << 8 | buf[off + 5]) == 0:
        return MAYBE
    p = off + 12
    end = off + length
    wire = np.int64(1)
    n = 0
    while p < end:
        size = np.int64(buf[p])
        if size == 0:
            if p + 5 > end:  # QTYPE and QCLASS must follow
                return MAYBE
            return MAYBE if _listed(name, n, table) else CLEAN
        if size >= 0x40:  # a compression pointer (or a reserved label type): Python reads it
            return MAYBE
        wire += size + 1
        if wire > MAX_NAME_WIRE or p + 1 + size > end:
            return MAYBE
        if n:
            name[n] = 0x2E
            n += 1
        for k in range(p + 1, p + 1 + size):
            c = buf[k]
            if c < 0x20 or c >= 0x7F or c == 0x2E:
                return MAYBE  # escapes, UTF-8, a dot inside a label: Python's rules
            name[n] = _lower(c)
            n += 1
        p += 1 + size
    return MAYBE


@nb.njit(cache=True)
def tls_screen(buf, off, length, table, name):  # type: ignore[no-untyped-def]
    """For a client's first payload: CLEAN when it is a whole single-record ClientHello whose
    server name cannot be listed, CLEAN_NO_NAME when it has none, MAYBE otherwise."""
    status, s_off, s_len = sni_span(buf[off : off + length])
    if status == NO_SNI:
        return CLEAN_NO_NAME
    if status != FOUND or s_len == 0 or s_len > MAX_NAME_WIRE:
        return MAYBE
    first = off + s_off
    if buf[first + s_len - 1] == 0x2E:
        return MAYBE  # a trailing dot is stripped in Python
    for k in range(s_len):
        c = buf[first + k]
        if c < 0x20 or c >= 0x7F:
            return MAYBE
        name[k] = _lower(c)
    return MAYBE if _listed(name, s_len, table) else CLEAN
