"""Compiled screen for candidate payloads that cannot be evidence: ordinary DNS questions, TLS
server names and HTTP heads.

Most candidate packets on a carrier link are DNS questions, ClientHellos and HTTP messages about
nothing listed and nothing mining. Reading each in Python (state, buffers, text, lookups) cost
5-12 µs, most of a benign scan's inspection time. The prefilter kernel now reads them in place:

- DNS (UDP): the first question's name and each parent suffix are hashed; a name none of whose
  hashes is in the list's table cannot match, so the packet is finished (counted).
- TLS: a client's first payload that is a whole ClientHello, the same test on its server name;
  the flow's inspection then ends, as the Python path ends it after a ClientHello.
- HTTP: a direction's first payload whose head is complete, has no mining header, no JSON
  body or JSON content type, and a User-Agent (if any) without a miner's product name; that
  direction is then finished, as the HTTP signature's exclusion finishes it.

Anything else goes to Python unchanged: a hash in a table (a listed name or a miner's product
name, or a rare collision; Python decides exactly), and every case the screen does not model
(DNS over TCP, compression pointers, non-ASCII or non-printable bytes, a dot inside a label, a
trailing dot, a malformed message, a ClientHello the compiled walk cannot read whole).

The name table (`blacklist.namehash`) holds FNV-1a 64 hashes of every key of the matcher's two
domain tables (exact names and covering suffixes), so a miss in it proves that
`Matcher.match_domain` returns −1. For User-Agents, splitting at blanks and parentheses and
hashing each piece's text before `/` finds every product token the signature's rule would find
(`http_mining._miner_agent`; comments removed or not, a token is such a piece).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from blacklist.namehash import FNV_OFFSET, FNV_PRIME, name_table
from detector.extract.dns import KNOWN_OPCODES, MAX_NAME_WIRE
from detector.extract.tls_fast import FOUND, NO_SNI, sni_span
from detector.signatures.http_head import HTTP, read_head
from detector.signatures.http_mining import HTTP_HEADS, JSON_START_BYTES, MINER_AGENTS, UA_READ

MAYBE, CLEAN, CLEAN_NO_NAME = 0, 1, 2
_OPCODES = tuple(sorted(KNOWN_OPCODES))  # the Python reader's rules (a tuple for numba)
NAME_SCRATCH = 256  # bytes of the caller's scratch buffer for one name's text
AGENT_TABLE = name_table(MINER_AGENTS)
_HEADS = np.frombuffer(b"".join(HTTP_HEADS), dtype=np.uint8).copy()
_HEAD_ENDS = np.cumsum(np.array([len(h) for h in HTTP_HEADS], dtype=np.int64))
_JSON_START = np.frombuffer(JSON_START_BYTES, dtype=np.uint8).copy()


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


@nb.njit(cache=True)
def _starts_http(data):  # type: ignore[no-untyped-def]
    """Does data start with one of HTTP_HEADS (the signature's own first test)?"""
    start = 0
    for end in _HEAD_ENDS:
        if end - start <= data.shape[0]:
            same = True
            for k in range(end - start):
                if data[k] != _HEADS[start + k]:
                    same = False
                    break
            if same:
                return True
        start = end
    return False


@nb.njit(cache=True)
def _agent_listed(data, start, stop, agents):  # type: ignore[no-untyped-def]
    """Could data[start:stop] (a User-Agent) hold a miner's product token? Any byte outside
    printable ASCII says maybe (Python splits and lower-cases by Unicode rules)."""
    for i in range(start, stop):
        if data[i] < 0x20 or data[i] >= 0x7F:
            return True
    i = start
    while i < stop:
        c = data[i]
        if c == 0x20 or c == 0x28 or c == 0x29:  # blank ( )
            i += 1
            continue
        h = np.uint64(FNV_OFFSET)
        in_name = True
        while i < stop and data[i] != 0x20 and data[i] != 0x28 and data[i] != 0x29:
            if data[i] == 0x2F:  # the product name ends at the first /
                in_name = False
            if in_name:
                h = (h ^ np.uint64(_lower(data[i]))) * np.uint64(FNV_PRIME)
            i += 1
        j = np.searchsorted(agents, h)
        if j < agents.shape[0] and agents[j] == h:
            return True
    return False


@nb.njit(cache=True)
def http_screen(data, agents):  # type: ignore[no-untyped-def]
    """CLEAN when `data`, the first bytes of a TCP direction, is an HTTP message the mining
    signature would exclude at once (see the module doc); MAYBE otherwise."""
    if not _starts_http(data):
        return MAYBE
    status, head_end, sep, ua_start, ua_end, expected, json_type, mining, _, _ = read_head(data)
    if status != HTTP or head_end < 0 or mining or json_type:
        return MAYBE
    body = head_end + sep
    stop = data.shape[0] if expected < 0 else min(data.shape[0], body + expected)
    if body < stop:
        for c in _JSON_START:
            if data[body] == c:
                return MAYBE
    if ua_end > ua_start and _agent_listed(data, ua_start, min(ua_end, ua_start + UA_READ),
                                           agents):  # fmt: skip
        return MAYBE
    return CLEAN
