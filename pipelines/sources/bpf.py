"""Classic BPF socket filters: compile a tcpdump expression with libpcap, attach it to a socket.

Why libpcap through ctypes rather than `tcpdump -ddd`: libpcap is already on every host that
has tcpreplay or tcpdump (Debian `libpcap0.8`), needs no extra process and no parsing of another
tool's text output, and reports syntax errors as libpcap's own message. The expression is
compiled once in the parent (a bad filter fails before any worker starts); workers attach the
instructions.

Filters run on the frame as the kernel hands it to the socket: an outer 802.1Q tag has already
been moved into the packet metadata by then, so `vlan` expressions do not match it; filter on
addresses, ports and protocols instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import socket
from collections.abc import Sequence
from functools import cache

Insn = tuple[int, int, int, int]  # (code, jt, jf, k): struct sock_filter / struct bpf_insn

SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
PCAP_NETMASK_UNKNOWN = 0xFFFF_FFFF
DROP_ALL: tuple[Insn, ...] = ((0x06, 0, 0, 0),)  # BPF_RET|BPF_K 0: keep no byte of any packet


class FilterError(ValueError):
    """The filter expression does not compile (or libpcap is missing)."""


class _Insn(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _Program(ctypes.Structure):
    """struct bpf_program (libpcap) and struct sock_fprog (kernel) share this shape."""

    _fields_ = (("len", ctypes.c_uint), ("insns", ctypes.POINTER(_Insn)))


class _Fprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("insns", ctypes.POINTER(_Insn)))


@cache
def _libpcap() -> ctypes.CDLL:
    name = ctypes.util.find_library("pcap")
    if name is None:
        raise FilterError("cannot compile --bpf filters: libpcap not found (Debian: libpcap0.8)")
    lib = ctypes.CDLL(name)
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_open_dead.argtypes = (ctypes.c_int, ctypes.c_int)
    lib.pcap_compile.restype = ctypes.c_int
    lib.pcap_compile.argtypes = (
        ctypes.c_void_p,
        ctypes.POINTER(_Program),
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_uint32,
    )
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_geterr.argtypes = (ctypes.c_void_p,)
    lib.pcap_freecode.argtypes = (ctypes.POINTER(_Program),)
    lib.pcap_close.argtypes = (ctypes.c_void_p,)
    return lib


def compile_filter(expr: str, linktype: int = 1, snaplen: int = 262_144) -> tuple[Insn, ...]:
    """Compile a tcpdump filter expression for frames of `linktype` (1 = Ethernet)."""
    lib = _libpcap()
    handle = lib.pcap_open_dead(linktype, snaplen)
    if not handle:
        raise FilterError(f"libpcap cannot compile for link type {linktype}")
    prog = _Program()
    try:
        if lib.pcap_compile(handle, ctypes.byref(prog), expr.encode(), 1, PCAP_NETMASK_UNKNOWN):
            err = (lib.pcap_geterr(handle) or b"").decode(errors="replace")
            raise FilterError(f"bad filter {expr!r}: {err}")
        try:
            return tuple((i.code, i.jt, i.jf, i.k) for i in prog.insns[: prog.len])
        finally:
            lib.pcap_freecode(ctypes.byref(prog))
    finally:
        lib.pcap_close(handle)


def attach(sock: socket.socket, insns: Sequence[Insn]) -> None:
    """Install `insns` as the socket's filter (replacing any previous one atomically)."""
    if not 1 <= len(insns) <= 4096:  # BPF_MAXINSNS
        raise FilterError(f"a socket filter has 1..4096 instructions, not {len(insns)}")
    arr = (_Insn * len(insns))(*(_Insn(*i) for i in insns))
    prog = _Fprog(len(insns), ctypes.cast(arr, ctypes.POINTER(_Insn)))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(prog))  # arr is alive here


def detach(sock: socket.socket) -> None:
    """Remove the socket's filter: every packet passes."""
    sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)
