"""Hand-written sample payloads for the signature tests (modelled on the public formats).

Binary samples (Bitcoin, Levin, RLPx, discv4) are *built* here with real checksums, curve
points and Keccak hashes, so the tests exercise the same verification paths as real traffic.
"""

from __future__ import annotations

import hashlib
import json
import struct

from detector.signatures.keccak import keccak256

# ---------------------------------------------------------------- Stratum v1 (cgminer style)
STRATUM_CLIENT = (
    b'{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]}\n'
    b'{"id": 2, "method": "mining.authorize", "params": ["alice.rig1", "x"]}\n'
    b'{"params": ["alice.rig1", "6a3b", "0000000a", "5ba0f3c2", "2f5b1c00"], "id": 4, '
    b'"method": "mining.submit"}\n'
)
STRATUM_POOL = (
    b'{"id":1,"result":[[["mining.set_difficulty","b4b6693b72a50c7116db18d6497cac52"],'
    b'["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]],"08000002",4],"error":null}\n'
    b'{"id":2,"result":true,"error":null}\n'
    b'{"id":null,"method":"mining.set_difficulty","params":[16]}\n'
    b'{"id":null,"method":"mining.notify","params":["bf","4d16b6f85af6e2198f44ae2a6de67f78487a'
    b'e5611b77c6c0440b921e00000000","01000000010000000000000000000000000000000000000000000000'
    b'0000000000000000ffffffff20020862062f503253482f04b8864e5008","072f736c7573682f000000000100'
    b'f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000",[],"00000002",'
    b'"1c2ac4af","504e86b9",false]}\n'
)
STRATUM_POOL_PUSH_ONLY = (
    b'{"id":null,"method":"mining.notify","params":["bf","00","01","02",[],"00000002",'
    b'"1c2ac4af","504e86b9",false]}\n'
)
SUBSCRIBE_REPLY_ALONE = STRATUM_POOL.split(b"\n")[0] + b"\n"
NEUTRAL_REPLY = b'{"id":4,"result":true,"error":null}\n'
EQUIHASH_CLIENT = (
    b'{"id":1,"method":"mining.subscribe","params":["EWBF 0.3.4b",null,"zec.example.org",'
    b'"3333"]}\n'
    b'{"id":2,"method":"mining.authorize","params":["t1exampleaddress.rig4","x"]}\n'
)
EQUIHASH_POOL = (
    b'{"id":1,"result":[null,"04d567b212"],"error":null}\n'
    b'{"id":null,"method":"mining.set_target","params":["0004189374bc6a7ef9db22d0e5604189374bc6a'
    b'7ef9db22d0e5604189374bc6a"]}\n'
)
# job id, version, prev hash, merkle root, reserved, time, bits, clean jobs
ZCASH_PARAMS = ["8c6f", "04000000", "9e" * 32, "35" * 32, "00" * 32, "a9cc405a", "09d8151c", True]
ZCASH_NOTIFY = (
    json.dumps({"id": None, "method": "mining.notify", "params": ZCASH_PARAMS}).encode() + b"\n"
)
NICEHASH_CLIENT = (
    b'{"id": 1, "method": "mining.subscribe", "params": ["ethminer/0.19.0", '
    b'"EthereumStratum/1.0.0"]}\n'
)
NICEHASH_POOL = (
    b'{"id":1,"result":[["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f",'
    b'"EthereumStratum/1.0.0"],"080c"],"error":null}\n'
)
MINING_HELLO = (
    b'{"id":0,"method":"mining.hello","params":{"agent":"ethminer-0.19.0","host":"eu1.example",'
    b'"port":"4444","proto":"EthereumStratum/2.0.0"}}\n'
)
BIP310_CONFIGURE = (
    b'{"method":"mining.configure","id":1,"params":[["version-rolling"],'
    b'{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2}]}\n'
)
STRATUM_ERROR_ONLY = b'{"id":0,"result":null,"error":[20,"Parse error",null]}\n' * 3

# ---------------------------------------------------------------- eth-proxy
ETHPROXY_CLIENT = (
    b'{"worker": "eth1.0", "jsonrpc": "2.0", "params": ["0xb85150eb365e7df0941f0cf08235f987ba91'
    b'506a.rig1", "x"], "id": 2, "method": "eth_submitLogin"}\n'
    b'{"worker": "", "jsonrpc": "2.0", "params": [], "id": 3, "method": "eth_getWork"}\n'
)
ETHPROXY_POOL = (
    b'{"jsonrpc":"2.0","id":2,"result":true}\n'
    b'{"jsonrpc":"2.0","id":0,"result":["0x' + b"41" * 32 + b'","0x' + b"71" * 32 + b'","0x'
    b"00000000dbe6fecebdedd5beb573440e5a884d1b2fbf06fcce912adcb8d8422e"
    b'"]}\n'
)

# ---------------------------------------------------------------- CryptoNote / Monero
XMRIG_LOGIN = (
    b'{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"44AFFq5kSiGBoZ4NMDwYtN18obc8'
    b'AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A","pass":"x",'
    b'"agent":"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0","rigid":"",'
    b'"algo":["rx/0","cn/r"]}}\n'
)
XMR_POOL_LOGIN_REPLY = (
    b'{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"479059546883218","job":{"blob":"0606'
    b'e89883d205a65d8ee78991838a1cf3","job_id":"722134174127131","target":"dc460300"},'
    b'"status":"OK"}}\n'
)
XMR_MIDSESSION_CLIENT = (
    b'{"id":"78","jsonrpc":"2.0","method":"submit","params":{"id":"1332","job_id":"1182",'
    b'"nonce":"333a0000","result":"7fe50c9539c77da6fd2c624e761631784e1216db7bfe7350aca701ac"}}\n'
    b'{"id":"79","jsonrpc":"2.0","method":"keepalived","params":{"id":"1332"}}\n'
)
XMR_MIDSESSION_POOL = (
    b'{"jsonrpc":"2.0","result":{"status":"OK"},"id":"78","error":null}\n'
    b'{"jsonrpc":"2.0","method":"job","params":{"blob":"0e0e90f6b0fd059d","target":"dcff1100",'
    b'"job_id":"118210","height":2228481,"algo":"rx/0","seed_hash":"1d725bf8"},"error":null}\n'
)

# ---------------------------------------------------------------- HTTP
GBT_BODY = (
    b'{"id": 0, "method": "getblocktemplate", "params": [{"capabilities": ["coinbasetxn", '
    b'"workid", "coinbase/append"]}]}\n'
)
GETWORK_BODY = b'{"method": "getwork", "params": [], "id":0}\n'


def http_post(body: bytes, *, agent: str = "cgminer 3.7.2", mining_header: bool = True) -> bytes:
    """A cgminer-style JSON-RPC POST: headers, then `body` (may be empty)."""
    lines = [
        b"POST / HTTP/1.1",
        b"Authorization: Basic Qml0Y29pbjp4",
        b"Host: 203.0.113.7:3333",
        b"Accept: */*",
        b"Content-type: application/json",
    ]
    if mining_header:
        lines.append(b"X-Mining-Extensions: longpoll midstate rollntime submitold")
    lines.append(b"Content-Length: %d" % len(body or GBT_BODY))
    if agent:
        lines.append(b"User-Agent: " + agent.encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def http_response(body: bytes, *extra: bytes) -> bytes:
    head = [b"HTTP/1.1 200 OK", b"Content-Type: application/json", *extra]
    head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


GBT_RESPONSE = http_response(
    json.dumps(
        {
            "id": 0,
            "error": None,
            "result": {
                "version": 536870912,
                "previousblockhash": "00" * 32,
                "transactions": [],
                "coinbasevalue": 625000000,
                "target": "00" * 32,
                "bits": "17034219",
                "height": 840000,
            },
        }
    ).encode()
)
GETWORK_RESULT = {"midstate": "ab" * 32, "data": "0" * 256, "hash1": "0" * 128, "target": "f" * 64}
GETWORK_RESPONSE = http_response(
    json.dumps({"error": None, "id": 0, "result": GETWORK_RESULT}).encode(), b"X-Long-Polling: /LP"
)

# ---------------------------------------------------------------- false-positive traps
JSONRPC_ECHO = b'{"jsonrpc":"2.0","method":"echo","params":["mining.subscribe"],"id":1}\n'
JSONRPC_ECHO_REPLY = b'{"jsonrpc":"2.0","result":["mining.subscribe"],"id":1}\n'
_RULE = (
    b'alert tcp any any -> any any (msg:"ET COINMINER Stratum subscribe"; flow:established,'
    b'to_server; content:"{\\"id\\":1,\\"method\\":\\"mining.subscribe\\""; sid:2017871;)'
)


def postgres_datarow(value: bytes) -> bytes:
    """A PostgreSQL RowDescription-less DataRow ('D') with one text column."""
    body = struct.pack("!hi", 1, len(value)) + value
    return b"D" + struct.pack("!i", len(body) + 4) + body


POSTGRES_RULE_ROW = postgres_datarow(_RULE) + postgres_datarow(
    b'\n{"id":1,"method":"mining.subscribe","params":[]}\n'
)
BINARY_EMBEDDED = b"\x00\x00\x00\x2a\x08\x01\x12\x1c" + b'{"method":"mining.submit"}\n' * 2


# ---------------------------------------------------------------- Bitcoin-family P2P
def bitcoin_message(command: str, payload: bytes, magic: bytes = b"\xf9\xbe\xb4\xd9") -> bytes:
    checksum = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    name = command.encode().ljust(12, b"\x00")
    return magic + name + struct.pack("<I", len(payload)) + checksum + payload


def _net_addr(ip4: bytes, port: int) -> bytes:
    return struct.pack("<Q", 1) + b"\x00" * 10 + b"\xff\xff" + ip4 + struct.pack(">H", port)


VERSION_PAYLOAD = (
    struct.pack("<iQq", 70016, 1033, 1_700_000_000)
    + _net_addr(bytes([198, 51, 100, 4]), 8333)
    + _net_addr(bytes([0, 0, 0, 0]), 0)
    + struct.pack("<Q", 0x1234567890ABCDEF)
    + b"\x10/Satoshi:26.0.0/"
    + struct.pack("<i?", 840000, True)
)
BITCOIN_VERSION = bitcoin_message("version", VERSION_PAYLOAD)
BITCOIN_VERACK = bitcoin_message("verack", b"")


# ---------------------------------------------------------------- Monero Levin
def levin_header(command: int, body_len: int, *, request: bool = True) -> bytes:
    return struct.pack(
        "<8sQBIiII",
        bytes.fromhex("0121010101010101"),
        body_len,
        1 if request else 0,
        command,
        0,
        1 if request else 2,
        1,
    )


LEVIN_HANDSHAKE = levin_header(1001, 262) + bytes.fromhex("011101010101020101") + b"\x00" * 40

# ---------------------------------------------------------------- Ethereum
SECP_P = 2**256 - 2**32 - 977
SECP_G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)


def _ec_add(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % SECP_P == 0:
        return None
    if a == b:
        slope = 3 * a[0] * a[0] * pow(2 * a[1], -1, SECP_P)
    else:
        slope = (b[1] - a[1]) * pow(b[0] - a[0], -1, SECP_P)
    x = (slope * slope - a[0] - b[0]) % SECP_P
    return x, (slope * (a[0] - x) - a[1]) % SECP_P


def ec_point(k: int) -> bytes:
    """X || Y of k·G on secp256k1 (a valid ephemeral public key for test handshakes)."""
    result: tuple[int, int] | None = None
    addend: tuple[int, int] | None = SECP_G
    while k:
        if k & 1:
            result = _ec_add(result, addend)
        addend = _ec_add(addend, addend)
        k >>= 1
    assert result is not None
    return result[0].to_bytes(32, "big") + result[1].to_bytes(32, "big")


def rlpx_auth(k: int = 0xC0FFEE, size: int = 427) -> bytes:
    """EIP-8 framed auth: size || 0x04 || point || iv || ciphertext || mac (size bytes)."""
    body = b"\x04" + ec_point(k) + bytes(range(16)) + b"\x5a" * (size - 65 - 16 - 32) + b"\xaa" * 32
    return size.to_bytes(2, "big") + body


def rlp_bytes(value: bytes) -> bytes:
    if len(value) == 1 and value[0] < 0x80:
        return value
    return bytes([0x80 + len(value)]) + value


def rlp_list(items: list[bytes]) -> bytes:
    payload = b"".join(items)
    if len(payload) < 56:
        return bytes([0xC0 + len(payload)]) + payload
    width = (len(payload).bit_length() + 7) // 8
    return bytes([0xF7 + width]) + len(payload).to_bytes(width, "big") + payload


def discv4_packet(ptype: int = 1, payload: bytes | None = None) -> bytes:
    """hash || signature || type || RLP, with a correct Keccak-256 hash (signature is filler)."""
    if payload is None:
        endpoint = rlp_list([rlp_bytes(b"\x0a\x00\x00\x01"), rlp_bytes(b"\x76\x5f"), b"\x80"])
        payload = rlp_list([rlp_bytes(b"\x04"), endpoint, endpoint, rlp_bytes(b"\x65\x00\x00\x00")])
    signature = bytes(range(64)) + b"\x01"
    body = signature + bytes([ptype]) + payload
    return keccak256(body) + body


DISCV4_PING = discv4_packet()

# Everything, for fuzzing truncations.
ALL_SAMPLES: tuple[bytes, ...] = (
    STRATUM_CLIENT,
    STRATUM_POOL,
    EQUIHASH_CLIENT,
    EQUIHASH_POOL,
    ZCASH_NOTIFY,
    NICEHASH_CLIENT,
    NICEHASH_POOL,
    MINING_HELLO,
    BIP310_CONFIGURE,
    STRATUM_ERROR_ONLY,
    ETHPROXY_CLIENT,
    ETHPROXY_POOL,
    XMRIG_LOGIN,
    XMR_POOL_LOGIN_REPLY,
    XMR_MIDSESSION_CLIENT,
    XMR_MIDSESSION_POOL,
    http_post(GBT_BODY),
    http_post(GETWORK_BODY),
    http_post(b""),
    GBT_RESPONSE,
    GETWORK_RESPONSE,
    JSONRPC_ECHO,
    POSTGRES_RULE_ROW,
    BINARY_EMBEDDED,
    BITCOIN_VERSION + BITCOIN_VERACK,
    LEVIN_HANDSHAKE,
    rlpx_auth(),
    DISCV4_PING,
)
