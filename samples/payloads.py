"""Application payloads for the sample captures, byte-for-byte in the formats real software uses.

JSON-RPC lines are produced with `json.dumps` so they are always valid JSON; `spaced=True` gives
the ``{"id": 1, "method": ...}`` spacing of cgminer/bfgminer/ethminer, the default gives the
compact form most pools (and XMRig, via rapidjson) send.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
from collections.abc import Sequence
from typing import Any

from craft import hexid, rng

# -- JSON lines and HTTP -----------------------------------------------------------------------


def jline(*objs: dict[str, Any], spaced: bool = False) -> bytes:
    """One newline-terminated JSON document per object, concatenated (one TCP write)."""
    seps = (", ", ": ") if spaced else (",", ":")
    return b"".join(json.dumps(o, separators=seps).encode() + b"\n" for o in objs)


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def http_request(path: str, headers: Sequence[tuple[str, str]], body: bytes) -> tuple[bytes, bytes]:
    """(header block, body) of an HTTP/1.1 POST; Content-Length is appended to `headers`."""
    lines = [f"POST {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers)]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), body


def http_response(headers: Sequence[tuple[str, str]], body: bytes, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers)]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


HTTP_DATE = "Wed, 01 May 2024 00:00:00 GMT"

# -- Bitcoin block-header material ---------------------------------------------------------------

NTIME_2024_05_01 = 1_714_521_600
BTC_NBITS = 0x17034219  # mainnet difficulty bits around block 842,000 (May 2024)
BTC_HEIGHT = 842_112


def le_hex(value: int, size: int) -> str:
    return value.to_bytes(size, "little").hex()


def coinbase_parts(height: int, tag: bytes, extranonce_size: int) -> tuple[str, str]:
    """coinb1/coinb2 of a stratum job: the coinbase transaction split around the extranonces.

    coinb1 ends inside the scriptSig (after the BIP 34 height push and a pool tag), coinb2 holds
    the rest of the scriptSig, the sequence, two outputs (P2WPKH payout, witness commitment) and
    the lock time, so that coinb1 + extranonce1 + extranonce2 + coinb2 is a valid transaction.
    """
    height_push = bytes([3]) + height.to_bytes(3, "little")
    tail = b"/minewatch-sample/"
    script_len = len(height_push) + len(tag) + extranonce_size + len(tail)
    coinb1 = (
        struct.pack("<I", 1)
        + b"\x01"
        + b"\x00" * 32
        + b"\xff\xff\xff\xff"
        + bytes([script_len])
        + height_push
        + tag
    )
    payout = b"\x00\x14" + bytes.fromhex(hexid("payout", 20))
    commitment = b"\x6a\x24\xaa\x21\xa9\xed" + bytes.fromhex(hexid("witness-commit", 32))
    outputs = (
        b"\x02"
        + struct.pack("<q", 3_125_000_000 + 18_734_221)
        + bytes([len(payout)])
        + payout
        + struct.pack("<q", 0)
        + bytes([len(commitment)])
        + commitment
    )
    coinb2 = tail + b"\xff\xff\xff\xff" + outputs + b"\x00\x00\x00\x00"
    return coinb1.hex(), coinb2.hex()


def merkle_branch(label: str, n: int) -> list[str]:
    return [hexid(f"{label}-branch{i}", 32) for i in range(n)]


# SHA-256 compression, needed for getwork's "midstate" (hashlib does not expose it).
def _primes(n: int) -> list[int]:
    found: list[int] = []
    k = 2
    while len(found) < n:
        if all(k % q for q in found):
            found.append(k)
        k += 1
    return found


def _icbrt(n: int) -> int:
    x = 1 << ((n.bit_length() + 2) // 3)
    while True:
        y = (2 * x + n // (x * x)) // 3
        if y >= x:
            return x
        x = y


# Round constants and initial state: the first 32 fractional bits of the cube roots of the
# first 64 primes and of the square roots of the first 8 primes (FIPS 180-4).
_K = [_icbrt(p << 96) & 0xFFFFFFFF for p in _primes(64)]
_H0 = [math.isqrt(p << 64) & 0xFFFFFFFF for p in _primes(8)]


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & 0xFFFFFFFF


def sha256_midstate(block64: bytes) -> list[int]:
    """The SHA-256 state words after compressing one 64-byte block."""
    w = list(struct.unpack(">16I", block64))
    for i in range(16, 64):
        s0 = _rotr(w[i - 15], 7) ^ _rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
        s1 = _rotr(w[i - 2], 17) ^ _rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
        w.append((w[i - 16] + s0 + w[i - 7] + s1) & 0xFFFFFFFF)
    a, b, c, d, e, f, g, h = _H0
    for i in range(64):
        t1 = h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + _K[i] + w[i]
        t2 = (_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))
        a, b, c, d, e, f, g, h = (t1 + t2) & 0xFFFFFFFF, a, b, c, (d + t1) & 0xFFFFFFFF, e, f, g
    return [(x + y) & 0xFFFFFFFF for x, y in zip(_H0, [a, b, c, d, e, f, g, h], strict=True)]


def _swap32(b: bytes) -> bytes:
    return b"".join(b[i : i + 4][::-1] for i in range(0, len(b), 4))


def getwork_result(label: str) -> dict[str, str]:
    """The getwork work unit: 80-byte header + SHA-256 padding, as 32-bit-swapped hex."""
    header = (
        struct.pack("<I", 0x20000000)
        + bytes.fromhex(hexid(label + "-prev", 28))
        + b"\x00" * 4
        + bytes.fromhex(hexid(label + "-merkle", 32))
        + struct.pack("<III", NTIME_2024_05_01, BTC_NBITS, 0)
    )
    padded = header + b"\x80" + b"\x00" * 39 + struct.pack(">Q", 80 * 8)
    mid = sha256_midstate(header[:64])
    return {
        "midstate": b"".join(struct.pack("<I", x) for x in mid).hex(),
        "data": _swap32(padded).hex(),
        "hash1": "00000000000000000000000000000000000000000000000000000000000000000000008000000000"
        "000000000000000000000000000000000000000000010000",
        "target": "ffffffffffffffffffffffffffffffffffffffffffffffffffffffff00000000",
    }


# -- Monero / CryptoNote ------------------------------------------------------------------------

XMR_HEIGHT = 3_151_234
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def monero_address(label: str) -> str:
    """A 95-character string shaped like a standard Monero address (prefix 4)."""
    r = rng("xmr-address-" + label)
    return "4" + r.choice("123456789AB") + "".join(r.choice(_B58) for _ in range(93))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def monero_blob(label: str, ntx: int = 23) -> str:
    """A hashing blob: major/minor version, timestamp, prev id, nonce, tree root, tx count."""
    return (
        b"\x10\x10"
        + _varint(NTIME_2024_05_01 + 60)
        + bytes.fromhex(hexid(label + "-prev", 32))
        + b"\x00\x00\x00\x00"
        + bytes.fromhex(hexid(label + "-root", 32))
        + _varint(ntx)
    ).hex()


# -- TLS ---------------------------------------------------------------------------------------


def _u16(n: int) -> bytes:
    return struct.pack(">H", n)


def _vec8(b: bytes) -> bytes:
    return bytes([len(b)]) + b


def _vec16(b: bytes) -> bytes:
    return _u16(len(b)) + b


def _ext(etype: int, body: bytes) -> bytes:
    return _u16(etype) + _vec16(body)


def tls_record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
    return bytes([ctype]) + _u16(version) + _vec16(body)


def tls_client_hello(sni: str | None, label: str) -> bytes:
    """An OpenSSL 3-style TLS 1.3 ClientHello record (what XMRig/xmr-stak built with it send)."""
    r = rng("client-hello-" + label)
    suites = [
        0x1302,
        0x1303,
        0x1301,
        0xC02C,
        0xC030,
        0x009F,
        0xCCA9,
        0xCCA8,
        0xCCAA,
        0xC02B,
        0xC02F,
        0x009E,
        0xC024,
        0xC028,
        0x006B,
        0xC023,
        0xC027,
        0x0067,
        0xC00A,
        0xC014,
        0x0039,
        0xC009,
        0xC013,
        0x0033,
        0x009D,
        0x009C,
        0x003D,
        0x003C,
        0x0035,
        0x002F,
        0x00FF,
    ]
    groups = [0x001D, 0x0017, 0x001E, 0x0019, 0x0018, 0x0100, 0x0101, 0x0102, 0x0103, 0x0104]
    sigalgs = [
        0x0403,
        0x0503,
        0x0603,
        0x0807,
        0x0808,
        0x0809,
        0x080A,
        0x080B,
        0x0804,
        0x0805,
        0x0806,
        0x0401,
        0x0501,
        0x0601,
        0x0303,
        0x0301,
        0x0302,
        0x0402,
        0x0502,
        0x0602,
    ]
    exts = b""
    if sni is not None:
        name = sni.encode()
        exts += _ext(0x0000, _vec16(b"\x00" + _vec16(name)))  # server_name: host_name
    exts += _ext(0x000B, _vec8(b"\x00\x01\x02"))  # ec_point_formats
    exts += _ext(0x000A, _vec16(b"".join(_u16(g) for g in groups)))  # supported_groups
    exts += _ext(0x0023, b"")  # session_ticket
    exts += _ext(0x0016, b"")  # encrypt_then_mac
    exts += _ext(0x0017, b"")  # extended_master_secret
    exts += _ext(0x000D, _vec16(b"".join(_u16(s) for s in sigalgs)))  # signature_algorithms
    exts += _ext(0x002B, _vec8(_u16(0x0304) + _u16(0x0303)))  # supported_versions
    exts += _ext(0x002D, _vec8(b"\x01"))  # psk_key_exchange_modes: psk_dhe_ke
    key_share = _u16(0x001D) + _vec16(r.randbytes(32))
    exts += _ext(0x0033, _vec16(key_share))  # key_share: x25519
    body = (
        _u16(0x0303)
        + r.randbytes(32)  # random
        + _vec8(r.randbytes(32))  # legacy session id (middlebox compatibility mode)
        + _vec16(b"".join(_u16(s) for s in suites))
        + _vec8(b"\x00")  # compression: null
        + _vec16(exts)
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return tls_record(0x16, handshake, version=0x0301)


def tls_server_hello(client_hello: bytes, label: str) -> bytes:
    """TLS 1.3 ServerHello (echoing the session id) + ChangeCipherSpec records."""
    r = rng("server-hello-" + label)
    session_id = client_hello[5 + 4 + 2 + 32 + 1 : 5 + 4 + 2 + 32 + 1 + 32]
    exts = _ext(0x002B, _u16(0x0304)) + _ext(0x0033, _u16(0x001D) + _vec16(r.randbytes(32)))
    body = _u16(0x0303) + r.randbytes(32) + _vec8(session_id) + _u16(0x1302) + b"\x00"
    body += _vec16(exts)
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    return tls_record(0x16, handshake) + tls_record(0x14, b"\x01")


def tls_app_data(plain_len: int, label: str) -> bytes:
    """One TLS 1.3 application_data record carrying `plain_len` bytes (AES-GCM: +1 type +16 tag)."""
    return tls_record(0x17, rng("appdata-" + label).randbytes(plain_len + 17))


# -- Bitcoin P2P --------------------------------------------------------------------------------

BTC_MAGIC = bytes.fromhex("f9beb4d9")


def btc_message(command: str, payload: bytes = b"") -> bytes:
    checksum = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    cmd = command.encode().ljust(12, b"\x00")
    return BTC_MAGIC + cmd + struct.pack("<I", len(payload)) + checksum + payload


def _btc_netaddr(services: int, ip: str, port: int) -> bytes:
    mapped = b"\x00" * 10 + b"\xff\xff" + bytes(int(x) for x in ip.split("."))
    return struct.pack("<Q", services) + mapped + struct.pack(">H", port)


def btc_version(
    *, their_ip: str, their_port: int, nonce: int, agent: str, height: int, timestamp: int
) -> bytes:
    """A protocol-70016 `version` payload as Bitcoin Core 27 sends it to an outbound peer."""
    services = 0x0409  # NODE_NETWORK | NODE_WITNESS | NODE_NETWORK_LIMITED
    payload = (
        struct.pack("<iQq", 70016, services, timestamp)
        + _btc_netaddr(0, their_ip, their_port)  # addr_recv (services unknown yet)
        + _btc_netaddr(services, "0.0.0.0", 0)  # addr_from (ignored, sent empty)
        + struct.pack("<Q", nonce)
        + _varint_btc(len(agent))
        + agent.encode()
        + struct.pack("<i", height)
        + b"\x01"  # relay
    )
    return btc_message("version", payload)


def _varint_btc(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    return b"\xfd" + struct.pack("<H", n)


# -- Monero Levin / epee portable storage -------------------------------------------------------

LEVIN_SIGNATURE = 0x0101010101012101
MONERO_NETWORK_ID = bytes.fromhex("1230f171610441611731008216a1a110")


def _pvarint(n: int) -> bytes:
    """epee portable-storage varint: two size bits, value shifted left by two."""
    if n < 1 << 6:
        return bytes([n << 2])
    if n < 1 << 14:
        return struct.pack("<H", n << 2 | 1)
    if n < 1 << 30:
        return struct.pack("<I", n << 2 | 2)
    return struct.pack("<Q", n << 2 | 3)


def _pvalue(v: Any) -> tuple[int, bytes]:
    """(type tag, encoded value) for the value kinds a handshake uses."""
    if isinstance(v, tuple):  # explicit (type tag, int)
        tag, n = v
        fmt = {5: "<Q", 6: "<I", 7: "<H", 8: "<B", 1: "<q", 2: "<i"}[tag]
        return tag, struct.pack(fmt, n)
    if isinstance(v, bytes):
        return 10, _pvarint(len(v)) + v
    if isinstance(v, bool):
        return 11, bytes([v])
    if isinstance(v, dict):
        return 12, _psection(v)
    raise TypeError(type(v))


def _psection(d: dict[str, Any]) -> bytes:
    out = _pvarint(len(d))
    for name, v in d.items():
        tag, enc = _pvalue(v)
        out += _vec8(name.encode()) + bytes([tag]) + enc
    return out


def portable_storage(d: dict[str, Any]) -> bytes:
    return struct.pack("<IIB", 0x01011101, 0x01020101, 1) + _psection(d)


def levin_packet(command: int, body: bytes, *, request: bool, return_code: int = 0) -> bytes:
    header = struct.pack(
        "<QQ?iiII",
        LEVIN_SIGNATURE,
        len(body),
        request,  # have_to_return_data
        command,
        return_code,
        1 if request else 2,  # flags: Q (request) / S (response)
        1,  # protocol version
    )
    return header + body


def monero_handshake(*, my_port: int, peer_id: int, height: int, label: str) -> dict[str, Any]:
    return {
        "node_data": {
            "my_port": (6, my_port),
            "network_id": MONERO_NETWORK_ID,
            "peer_id": (5, peer_id),
            "rpc_credits_per_hash": (6, 0),
            "rpc_port": (7, 0),
            "support_flags": (6, 1),
        },
        "payload_data": {
            "cumulative_difficulty": (5, 0x1B3C_8D2E_47A0_9F11),
            "cumulative_difficulty_top64": (5, 0),
            "current_height": (5, height),
            "pruning_seed": (6, 0),
            "top_id": bytes.fromhex(hexid(label + "-top", 32)),
            "top_version": (8, 16),
        },
    }


# -- PostgreSQL v3 wire protocol ----------------------------------------------------------------


def pg_msg(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack(">I", len(body) + 4) + body


def _cstr(s: str) -> bytes:
    return s.encode() + b"\x00"


def pg_startup(params: dict[str, str]) -> bytes:
    body = struct.pack(">I", 196608) + b"".join(_cstr(k) + _cstr(v) for k, v in params.items())
    return struct.pack(">I", len(body) + 5) + body + b"\x00"


def pg_ssl_request() -> bytes:
    return struct.pack(">II", 8, 80877103)


def pg_row_description(columns: Sequence[tuple[str, int, int, int, int]]) -> bytes:
    """columns: (name, table oid, column number, type oid, type length)."""
    body = struct.pack(">H", len(columns))
    for name, table, colno, typ, typlen in columns:
        body += _cstr(name) + struct.pack(">IHIhih", table, colno, typ, typlen, -1, 0)
    return pg_msg(b"T", body)


def pg_data_row(values: Sequence[str | None]) -> bytes:
    body = struct.pack(">H", len(values))
    for v in values:
        if v is None:
            body += struct.pack(">i", -1)
        else:
            enc = v.encode()
            body += struct.pack(">i", len(enc)) + enc
    return pg_msg(b"D", body)


def pg_parameter_status(name: str, value: str) -> bytes:
    return pg_msg(b"S", _cstr(name) + _cstr(value))


def pg_query(sql: str) -> bytes:
    return pg_msg(b"Q", _cstr(sql))


def pg_command_complete(tag: str) -> bytes:
    return pg_msg(b"C", _cstr(tag))


def pg_ready(status: bytes = b"I") -> bytes:
    return pg_msg(b"Z", status)
