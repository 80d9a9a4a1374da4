"""Pool-mining conversations: Stratum v1 and its dialects, CryptoNote, HTTP getwork/GBT.

Each public function returns the packets of one sample file. Addresses: subscribers in
10.20.0.0/16, pools in 203.0.113.0/24 and 198.51.100.0/24; every capture starts at
2024-05-01T00:00:00Z.
"""

from __future__ import annotations

from typing import Any

from craft import Pkt, Step, derive, hexid, rng, tcp_session
from payloads import (
    BTC_HEIGHT,
    BTC_NBITS,
    HTTP_DATE,
    NTIME_2024_05_01,
    XMR_HEIGHT,
    basic_auth,
    coinbase_parts,
    getwork_result,
    http_request,
    http_response,
    jline,
    le_hex,
    merkle_branch,
    monero_address,
    monero_blob,
)


def c(payload: bytes, gap_ms: float | None = None) -> Step:
    """A client-to-server step (`gap_ms`: think time before it, default: protocol-like)."""
    return ("c", payload) if gap_ms is None else ("c", payload, gap_ms)


def s(payload: bytes, gap_ms: float | None = None) -> Step:
    """A server-to-client step."""
    return ("s", payload) if gap_ms is None else ("s", payload, gap_ms)


def _b58(label: str, n: int) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    r = rng(label)
    return "".join(r.choice(alphabet) for _ in range(n))


# -- Stratum v1 (Bitcoin / SHA-256d) ---------------------------------------------------------


def btc_notify(label: str, *, clean: bool = True, ntime_offset: int = 0) -> dict[str, Any]:
    """mining.notify with a coinbase that really fits 4 + 4 bytes of extranonce."""
    coinb1, coinb2 = coinbase_parts(BTC_HEIGHT, b"\x0b/SamplePool", extranonce_size=8)
    params = [
        hexid(label + "-job", 3),
        hexid(label + "-prevhash", 24) + "0" * 16,  # word-swapped: the zeros come last
        coinb1,
        coinb2,
        merkle_branch(label, 11),
        "20000000",
        f"{BTC_NBITS:08x}",
        f"{NTIME_2024_05_01 + ntime_offset:08x}",
        clean,
    ]
    return push("mining.notify", params)


def subscribe_result(req_id: int, label: str, extranonce1: str) -> dict[str, Any]:
    subs = [
        ["mining.set_difficulty", hexid(label + "-sub-diff", 16)],
        ["mining.notify", hexid(label + "-sub-notify", 16)],
    ]
    return ok(req_id, [subs, extranonce1, 4])


def ok(req_id: int, result: Any = True) -> dict[str, Any]:
    return {"id": req_id, "result": result, "error": None}


def push(method: str, params: list[Any]) -> dict[str, Any]:
    return {"id": None, "method": method, "params": params}


def cgminer(req_id: int, method: str, params: list[Any]) -> bytes:
    """cgminer (and its forks bmminer, bfgminer) requests: spaced JSON, id/method/params."""
    return jline({"id": req_id, "method": method, "params": params}, spaced=True)


def cgminer_submit(req_id: int, params: list[Any]) -> bytes:
    """cgminer puts params first in mining.submit."""
    return jline({"params": params, "id": req_id, "method": "mining.submit"}, spaced=True)


def short_stratum(label: str, agent: str = "cgminer/4.10.0") -> list[Step]:
    """subscribe / authorize / difficulty + notify: the minimal exchange a miner starts with."""
    worker = f"subscriber{derive(label, 8)}.rig1"
    first_job = jline(ok(1), push("mining.set_difficulty", [16384]), btc_notify(label))
    return [
        c(cgminer(0, "mining.subscribe", [agent])),
        s(jline(subscribe_result(0, label, hexid(label + "-xn1", 4)))),
        c(cgminer(1, "mining.authorize", [worker, "x"])),
        s(first_job),
    ]


def stratum_v1_btc() -> list[Pkt]:
    worker = "subscriber42.rig1"
    job = btc_notify("btc1")
    share = [worker, job["params"][0], "00000000", "66318600", "7c3f0e1a"]
    return tcp_session(
        "10.20.14.37",
        51724,
        "203.0.113.10",
        3333,
        [
            c(cgminer(0, "mining.subscribe", ["cgminer/4.10.0"])),
            s(jline(subscribe_result(0, "btc1", "08000002"))),
            c(cgminer(1, "mining.authorize", [worker, "x"])),
            s(jline(ok(1))),
            s(jline(push("mining.set_difficulty", [65536]))),
            s(jline(job)),
            c(cgminer_submit(2, share), 1850.0),
            s(jline(ok(2))),
        ],
    )


def stratum_v1_midsession() -> list[Pkt]:
    """The tap starts in the middle of a long-lived session: no handshake, no subscribe."""
    worker = "bc1qsubscriber52.antminer"
    job = btc_notify("mid1", clean=False, ntime_offset=412)
    share = [worker, job["params"][0], "2a000000", "663187a0", "e19b44d5"]
    next_job = btc_notify("mid2", clean=False, ntime_offset=442)
    return tcp_session(
        "10.20.14.52",
        49822,
        "198.51.100.21",
        443,
        [s(jline(job)), c(cgminer_submit(5713, share), 2310.0), s(jline(ok(5713))),
         s(jline(next_job), 29_100.0)],
        handshake=False,
        close=None,
    )  # fmt: skip


def stratum_configure_extranonce() -> list[Pkt]:
    mask = "1fffe000"
    configure = [
        ["version-rolling"],
        {"version-rolling.mask": mask, "version-rolling.min-bit-count": 2},
    ]
    configured = ok(1, {"version-rolling": True, "version-rolling.mask": mask})
    first_job = jline(ok(4), push("mining.set_difficulty", [8192]), btc_notify("cfg1"))
    new_nonce = jline(
        push("mining.set_extranonce", ["af4c0be3", 4]), push("mining.set_version_mask", [mask])
    )
    return tcp_session(
        "10.20.33.8",
        40112,
        "203.0.113.25",
        25,
        [
            c(cgminer(1, "mining.configure", configure)),
            s(jline(configured)),
            c(cgminer(2, "mining.subscribe", ["bmminer/2.0.0"])),
            s(jline(subscribe_result(2, "cfg1", "6b0f1c2e"))),
            c(cgminer(3, "mining.extranonce.subscribe", [])),
            s(jline(ok(3))),
            c(cgminer(4, "mining.authorize", ["subscriber77.s9", "x"])),
            s(first_job),
            s(new_nonce, 14_000.0),
            s(jline(btc_notify("cfg2", ntime_offset=14))),
        ],
    )


def stratum_equihash_zcash() -> list[Pkt]:
    """ZIP 301 Stratum as EWBF's Zcash miner speaks it; the submit spans two segments."""
    worker = "t1" + _b58("zec-addr", 33) + ".rig1"
    job_id, ntime = "1b3a", le_hex(NTIME_2024_05_01, 4)
    subscribe = {
        "id": 1,
        "method": "mining.subscribe",
        "params": ["EWBF 0.3.4b", None, "zec-eu1.nanopool.org", 3357],
    }
    target = push("mining.set_target", ["0007fff8" + "0" * 56])
    notify = push(
        "mining.notify",
        [
            job_id,
            "04000000",  # version
            hexid("zec-prev", 28) + "00000000",
            hexid("zec-merkle", 32),
            hexid("zec-sapling-root", 32),  # "reserved": hashFinalSaplingRoot
            ntime,
            le_hex(0x1C014A7B, 4),  # nBits
            True,
        ],
    )
    nonce2 = hexid("zec-nonce2", 28)  # 32 bytes together with the pool's 4-byte nonce_1
    solution = "fd4005" + rng("equihash-solution").randbytes(1344).hex()
    submit = {
        "id": 4,
        "method": "mining.submit",
        "params": [worker, job_id, ntime, nonce2, solution],
    }
    return tcp_session(
        "10.20.7.91",
        55310,
        "198.51.100.57",
        3357,
        [
            c(jline(subscribe)),
            s(jline(ok(1, [None, "f1e2d3c4"]))),
            c(jline({"id": 2, "method": "mining.authorize", "params": [worker, "x"]})),
            s(jline(ok(2))),
            s(jline(target)),
            s(jline(notify)),
            c(jline(submit), 6420.0),
            s(jline(ok(4))),
        ],
    )


# -- Ethereum family -------------------------------------------------------------------------


def _eth_work(label: str) -> list[str]:
    return [
        "0x" + hexid(label + "-header", 32),
        "0x" + hexid("etc-epoch-seed", 32),
        "0x00000000ffff" + "0" * 52,  # boundary
    ]


def ethproxy() -> list[Pkt]:
    wallet = "0x" + hexid("eth-wallet", 20)

    def req(req_id: int, method: str, params: list[Any], worker: bool = True) -> bytes:
        # ethminer serialises with jsoncpp: compact, keys in alphabetical order
        msg: dict[str, Any] = {"id": req_id, "jsonrpc": "2.0", "method": method, "params": params}
        if worker:
            msg["worker"] = "rig1"
        return jline(msg)

    def res(req_id: int, result: Any) -> bytes:
        return jline({"id": req_id, "jsonrpc": "2.0", "result": result})

    hashrate = ["0x1dcd6500", "0x" + hexid("rig1-id", 32)]
    solution = ["0x" + hexid("etc-nonce", 8), _eth_work("etc2")[0], "0x" + hexid("etc-mix", 32)]
    return tcp_session(
        "10.20.8.14",
        50044,
        "203.0.113.77",
        9999,
        [
            c(req(1, "eth_submitLogin", [wallet])),
            s(res(1, True)),
            c(req(2, "eth_getWork", [], worker=False)),
            s(res(2, _eth_work("etc1"))),
            c(req(3, "eth_submitHashrate", hashrate)),
            s(res(3, True)),
            s(res(0, _eth_work("etc2")), 12_400.0),  # new work pushed with id 0
            c(req(4, "eth_submitWork", solution), 3100.0),
            s(res(4, True)),
        ],
    )


def nicehash_ethereumstratum() -> list[Pkt]:
    worker = "3" + _b58("nh-btc-addr", 33) + ".rig1"

    def req(req_id: int, method: str, params: list[Any]) -> bytes:
        return jline({"id": req_id, "jsonrpc": "2.0", "method": method, "params": params})

    job_id = hexid("nh-job", 4)
    subscribed = ok(1, [["mining.notify", hexid("nh-sub", 16), "EthereumStratum/1.0.0"], "c2f1"])
    job = push("mining.notify", [job_id, hexid("etc-epoch-seed", 32), hexid("nh-hdr", 32), True])
    return tcp_session(
        "10.20.8.15",
        58231,
        "198.51.100.33",
        3353,
        [
            c(req(1, "mining.subscribe", ["ethminer 0.19.0", "EthereumStratum/1.0.0"])),
            s(jline(subscribed)),
            c(req(2, "mining.extranonce.subscribe", [])),
            s(jline(ok(2))),
            c(req(3, "mining.authorize", [worker, "x"])),
            s(jline(ok(3))),
            s(jline(push("mining.set_difficulty", [0.5]))),
            s(jline(job)),
            c(req(4, "mining.submit", [worker, job_id, hexid("nh-nonce", 6)]), 9800.0),
            s(jline(ok(4))),
        ],
    )


# -- CryptoNote (Monero) ---------------------------------------------------------------------


def _xmr_job(label: str, *, full: bool = True, target: str = "b88d0600") -> dict[str, Any]:
    job: dict[str, Any] = {
        "blob": monero_blob(label),
        "job_id": hexid(label + "-id", 12),
        "target": target,
    }
    if full:
        job |= {"algo": "rx/0", "height": XMR_HEIGHT, "seed_hash": hexid("xmr-seed", 32)}
    return job


def _xmr_reply(req_id: int, result: Any) -> bytes:
    return jline({"id": req_id, "jsonrpc": "2.0", "error": None, "result": result})


def _xmr_push(job: dict[str, Any]) -> bytes:
    return jline({"jsonrpc": "2.0", "method": "job", "params": job})


def xmrig_login() -> list[Pkt]:
    session = hexid("xmrig-session", 16)
    job1 = _xmr_job("xmr1")
    login = {
        "id": 1,
        "jsonrpc": "2.0",
        "method": "login",
        "params": {
            "login": monero_address("xmrig"),
            "pass": "x",
            "agent": "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0",
            "rigid": "",
            "algo": ["rx/0", "cn/r"],
        },
    }
    logged_in = {
        "id": session,
        "job": job1,
        "extensions": ["algo", "nicehash", "connect", "tls", "keepalive"],
        "status": "OK",
    }
    share = {
        "id": session,
        "job_id": job1["job_id"],
        "nonce": "5c2e0000",
        "result": hexid("xmr-result", 32)[:-8] + "1a000000",
        "algo": "rx/0",
    }
    submit = {"id": 2, "jsonrpc": "2.0", "method": "submit", "params": share}
    keepalive = {"id": 3, "jsonrpc": "2.0", "method": "keepalived", "params": {"id": session}}
    return tcp_session(
        "10.20.21.4",
        44876,
        "203.0.113.60",
        3333,
        [
            c(jline(login)),
            s(_xmr_reply(1, logged_in)),
            c(jline(submit), 7340.0),
            s(_xmr_reply(2, {"status": "OK"})),
            s(_xmr_push(_xmr_job("xmr2")), 21_800.0),
            c(jline(keepalive), 60_000.0),
            s(_xmr_reply(3, {"status": "KEEPALIVED"})),
        ],
    )


def xmrstak_noagent() -> list[Pkt]:
    """The minimal login of early xmr-stak-cpu: no agent, no rigid, no algo list."""
    session = hexid("xmrstak-session", 16)
    job1 = _xmr_job("stak1", full=False, target="711b0d00")
    login = {"method": "login", "params": {"login": monero_address("stak"), "pass": "x"}, "id": 1}
    share = {
        "id": session,
        "job_id": job1["job_id"],
        "nonce": "a7010000",
        "result": hexid("stak-result", 32)[:-8] + "07000000",
    }
    return tcp_session(
        "10.20.21.5",
        39012,
        "198.51.100.90",
        45700,
        [
            c(jline(login)),
            s(_xmr_reply(1, {"id": session, "job": job1, "status": "OK"})),
            c(jline({"method": "submit", "params": share, "id": 2}), 4410.0),
            s(_xmr_reply(2, {"status": "OK"})),
            s(_xmr_push(_xmr_job("stak2", full=False, target="711b0d00")), 18_200.0),
        ],
    )


# -- HTTP mining -----------------------------------------------------------------------------


def getwork_http() -> list[Pkt]:
    """cgminer 3.7.2 against a getwork endpoint: fetch work, then submit a solved header."""
    headers = [
        ("Authorization", basic_auth("subscriber9.worker1", "x")),
        ("Host", "203.0.113.8:8332"),
        ("Accept", "*/*"),
        ("Accept-Encoding", "deflate, gzip"),
        ("Content-type", "application/json"),
        ("X-Mining-Extensions", "longpoll midstate rollntime submitold"),
        ("X-Mining-Hashrate", "452984832"),
        ("User-Agent", "cgminer 3.7.2"),
    ]
    work = getwork_result("gw1")
    fetch_head, fetch_body = http_request(
        "/", headers, b'{"method": "getwork", "params": [], "id":0}\n'
    )
    solved = work["data"][:152] + "1d6f04a2" + work["data"][160:]  # nonce filled in
    submit_body = b'{"method": "getwork", "params": [ "' + solved.encode() + b'" ], "id":1}\n'
    submit_head, submit_body = http_request("/", headers, submit_body)
    resp_headers = [
        ("Date", HTTP_DATE),
        ("Server", "stratum-proxy/1.5.2"),
        ("Content-Type", "application/json"),
        ("X-Long-Polling", "/lp"),
        ("X-Roll-NTime", "expire=120"),
    ]
    work_reply = http_response(resp_headers, jline({"result": work, "error": None, "id": 0}))
    accepted = http_response(resp_headers, b'{"result": true, "error": null, "id": 1}\n')
    return tcp_session(
        "10.20.2.200",
        49301,
        "203.0.113.8",
        8332,
        [
            c(fetch_head),
            c(fetch_body),  # libcurl writes the header block and the body separately
            s(work_reply),
            c(submit_head + submit_body, 2950.0),  # this time in one segment
            s(accepted),
        ],
    )


def getblocktemplate_http() -> list[Pkt]:
    """bfgminer asking a Litecoin-style node/pool for a block template (reply > 3 segments)."""
    bits = 0x19278C4B
    body = (
        b'{"id":0,"method":"getblocktemplate","params":[{"capabilities":'
        b'["coinbasetxn","workid","coinbase/append"]}]}'
    )
    headers = [
        ("Host", "203.0.113.9:9332"),
        ("Authorization", basic_auth("ltcminer", "s3cret")),
        ("Accept", "*/*"),
        ("Content-Type", "application/json"),
        ("X-Mining-Extensions", "longpoll midstate rollntime submitold"),
        ("X-Mining-Hashrate", "1330000000"),
        ("User-Agent", "bfgminer/5.5.0"),
    ]
    head, body = http_request("/", headers, body)
    r = rng("gbt-transactions")
    txs: list[dict[str, Any]] = []
    for i in range(6):
        raw = bytes.fromhex("02000000") + r.randbytes(r.randrange(190, 420)) + b"\x00" * 4
        txid = hexid(f"gbt-tx{i}", 32)
        txs.append(
            {
                "data": raw.hex(),
                "txid": txid,
                "hash": txid,
                "depends": [],
                "fee": 2260 + 113 * i,
                "sigops": 1 + i % 3,
                "weight": 4 * len(raw),
            }
        )
    prev = "00000000000000" + hexid("ltc-prev", 25)
    template = {
        "capabilities": ["proposal"],
        "version": 536870912,
        "rules": ["csv", "!segwit", "taproot", "mweb"],
        "vbavailable": {},
        "vbrequired": 0,
        "previousblockhash": prev,
        "transactions": txs,
        "coinbaseaux": {},
        "coinbasevalue": 625_000_000 + sum(t["fee"] for t in txs),
        "longpollid": prev + "27",
        "target": f"{(bits & 0xFFFFFF) << (8 * ((bits >> 24) - 3)):064x}",
        "mintime": NTIME_2024_05_01 - 1790,
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": "00000000ffffffff",
        "sigoplimit": 80000,
        "sizelimit": 4000000,
        "weightlimit": 4000000,
        "curtime": NTIME_2024_05_01,
        "bits": f"{bits:08x}",
        "height": 2_690_417,
        "default_witness_commitment": "6a24aa21a9ed" + hexid("ltc-commit", 32),
    }
    reply = http_response(
        [("Content-Type", "application/json"), ("Date", HTTP_DATE)],
        jline({"result": template, "error": None, "id": 0}),
    )
    return tcp_session("10.20.2.201", 49555, "203.0.113.9", 9332, [c(head + body), s(reply, 41.5)])
