"""Encrypted, name-based, coin-P2P, benign, link-layer and malformed sample conversations.

Addresses: subscribers 10.20.0.0/16 and 2001:db8:20::/48, pools 203.0.113.0/24,
198.51.100.0/24 and 2001:db8:99::/48, the resolver 192.0.2.53 and benign servers in
192.0.2.0/24. Every capture starts at 2024-05-01T00:00:00Z (`EPOCH_NS`).
"""

from __future__ import annotations

from typing import Any

from craft import (
    CLIENT_MAC,
    EPOCH_NS,
    GATEWAY_MAC,
    MS,
    Frame,
    Pkt,
    TcpConversation,
    by_time,
    derive,
    dns_lookup,
    frames,
    link_ethernet,
    rng,
    tcp_session,
)
from payloads import (
    NTIME_2024_05_01,
    XMR_HEIGHT,
    btc_message,
    btc_version,
    jline,
    levin_packet,
    monero_handshake,
    pg_command_complete,
    pg_data_row,
    pg_msg,
    pg_parameter_status,
    pg_query,
    pg_ready,
    pg_row_description,
    pg_ssl_request,
    pg_startup,
    portable_storage,
    tls_app_data,
    tls_client_hello,
    tls_record,
    tls_server_hello,
)
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scen_mining import c, s, short_stratum

SEC = 1_000_000_000

# -- TLS, DNS, pair cache --------------------------------------------------------------------


def tls_session(conv: TcpConversation, label: str, sni: str | None) -> None:
    """A TLS 1.3 handshake, then encrypted records sized like an XMRig login/job/submit."""
    hello = tls_client_hello(sni, label)
    server_flight = tls_server_hello(hello, label) + tls_app_data(3870, label + "-certs")
    tickets = tls_app_data(249, label + "-nst1") + tls_app_data(249, label + "-nst2")
    conv.exchange(
        [
            c(hello),
            s(server_flight),  # ServerHello, CCS, {EncryptedExtensions .. Finished}
            c(tls_record(0x14, b"\x01") + tls_app_data(52, label + "-fin")),
            c(tls_app_data(236, label + "-login")),
            s(tickets),
            s(tls_app_data(611, label + "-job")),
            c(tls_app_data(182, label + "-submit"), 5230.0),
            s(tls_app_data(54, label + "-ok")),
        ]
    )


def app_data_only(conv: TcpConversation, label: str) -> None:
    """TLS records of an established session: job push, share, result, keepalive."""
    conv.exchange(
        [
            s(tls_app_data(498, label + "-job")),
            c(tls_app_data(182, label + "-submit"), 3120.0),
            s(tls_app_data(54, label + "-ok")),
            c(tls_app_data(71, label + "-keepalive"), 30_000.0),
            s(tls_app_data(61, label + "-keepalived")),
        ]
    )


def stratum_tls_sni() -> list[Pkt]:
    conv = TcpConversation("10.20.40.2", 53118, "198.51.100.140", 443)
    conv.handshake()
    tls_session(conv, "sni", "pool.supportxmr.com")
    conv.close("c")
    return conv.packets


def dns_pool_then_tls() -> list[Pkt]:
    """A (re-)lookup of a pool name; the TLS connection to it predates the capture."""
    client, name = "10.20.40.3", "xmr.pool.minergate.com"
    # glibc sends the A and AAAA queries back to back from one socket
    a = dns_lookup(
        client, 41234, name, "A", ["203.0.113.45", "203.0.113.46"], txid=0x5C1D, start_ns=EPOCH_NS
    )
    aaaa = dns_lookup(
        client, 41234, name, "AAAA", ["2001:db8:99::45"], txid=0x8E02, start_ns=EPOCH_NS + 120_000
    )
    conv = TcpConversation(client, 52010, "203.0.113.45", 45700, start_ns=EPOCH_NS + 2 * SEC)
    app_data_only(conv, "minergate")
    return by_time(a, aaaa, conv.packets)


def pair_cache() -> list[Pkt]:
    """Plaintext stratum to a pool, then TLS-only traffic to the same address on another port."""
    client, pool = "10.20.55.6", "198.51.100.7"
    plain = tcp_session(client, 47110, pool, 3333, short_stratum("pair"))
    tls = TcpConversation(client, 47124, pool, 3334, start_ns=EPOCH_NS + 120 * SEC)
    app_data_only(tls, "pair-tls")
    return by_time(plain, tls.packets)


# -- coin P2P --------------------------------------------------------------------------------


def coin_p2p() -> list[Pkt]:
    client = "10.20.60.10"
    ver_c = btc_version(
        their_ip="203.0.113.150",
        their_port=8333,
        nonce=derive("btc-nonce", 64),
        agent="/Satoshi:27.0.0/",
        height=842_107,
        timestamp=NTIME_2024_05_01,
    )
    ver_s = btc_version(
        their_ip=client,
        their_port=50312,
        nonce=derive("btc-nonce-s", 64),
        agent="/Satoshi:26.1.0/",
        height=842_112,
        timestamp=NTIME_2024_05_01,
    )
    # protocol 70016: wtxidrelay and sendaddrv2 go between version and verack
    after_version = btc_message("wtxidrelay") + btc_message("sendaddrv2") + btc_message("verack")
    settle = (
        btc_message("sendcmpct", b"\x00" + (2).to_bytes(8, "little"))
        + btc_message("ping", derive("btc-ping", 64).to_bytes(8, "little"))
        + btc_message("feefilter", (1000).to_bytes(8, "little"))
    )
    btc = tcp_session(
        client,
        50312,
        "203.0.113.150",
        8333,
        [c(ver_c), s(ver_s), c(after_version), s(after_version), s(settle)],
        close=None,
    )
    hs_req = monero_handshake(
        my_port=0, peer_id=derive("xmr-peer-c", 64), height=XMR_HEIGHT - 5, label="xmr-c"
    )
    hs_resp = monero_handshake(
        my_port=18080, peer_id=derive("xmr-peer-s", 64), height=XMR_HEIGHT, label="xmr-s"
    )
    xmr = tcp_session(
        client,
        50340,
        "198.51.100.180",
        18080,
        [
            c(levin_packet(1001, portable_storage(hs_req), request=True)),
            s(levin_packet(1001, portable_storage(hs_resp), request=False, return_code=1)),
        ],
        start_ns=EPOCH_NS + 3 * SEC,
        close=None,
    )
    return by_time(btc, xmr)


# -- benign look-alikes ----------------------------------------------------------------------


def benign_jsonrpc_echo() -> list[Pkt]:
    def call(req_id: int, method: str, params: list[Any]) -> bytes:
        return jline({"jsonrpc": "2.0", "method": method, "params": params, "id": req_id})

    def result(req_id: int, res: Any) -> bytes:
        return jline({"jsonrpc": "2.0", "result": res, "id": req_id})

    methods = ["echo", "system.listMethods", "system.methodHelp"]
    return tcp_session(
        "10.20.70.1",
        46002,
        "192.0.2.80",
        3333,
        [
            c(call(1, "echo", ["hello"])),
            s(result(1, ["hello"]), 3.1),
            c(call(2, "system.listMethods", [])),
            s(result(2, methods), 3.1),
        ],
        rtt_ms=2.4,
    )


RULES = [
    (
        9000101,
        'alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"ET COINMINER Stratum '
        'mining.subscribe"; flow:established,to_server; content:"{\\"id\\":1,\\"method\\":'
        '\\"mining.subscribe\\""; fast_pattern; classtype:coin-mining; sid:9000101; rev:1;)',
    ),
    (
        9000102,
        'alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"ET COINMINER Stratum mining.submit"; '
        'flow:established,to_server; content:"\\"method\\":\\"mining.submit\\""; '
        "classtype:coin-mining; sid:9000102; rev:1;)",
    ),
    (
        9000103,
        'alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"ET COINMINER XMRig login"; '
        'flow:established,to_server; content:"\\"method\\":\\"login\\""; '
        'content:"\\"agent\\":\\"XMRig"; distance:0; classtype:coin-mining; sid:9000103; rev:2;)',
    ),
]

RULE_SAMPLES = [
    (9000101, '{"id":1,"method":"mining.subscribe","params":["cgminer/4.10.0"]}'),
    (9000102, '{"method":"mining.submit","params":[]}'),
    (9000103, '{"id":1,"method":"login","params":{"login":"x","agent":"XMRig"}}'),
]

PG_PARAMETERS = [
    ("application_name", "psql"),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("integer_datetimes", "on"),
    ("IntervalStyle", "postgres"),
    ("is_superuser", "off"),
    ("server_encoding", "UTF8"),
    ("server_version", "16.2 (Debian 16.2-1.pgdg120+2)"),
    ("session_authorization", "ids"),
    ("standard_conforming_strings", "on"),
    ("TimeZone", "Etc/UTC"),
]


def benign_db_result() -> list[Pkt]:
    """psql fetching IDS rules (and JSON test vectors) that quote mining protocol strings."""
    startup = pg_startup(
        {"user": "ids", "database": "ids", "application_name": "psql", "client_encoding": "UTF8"}
    )
    backend_key = (48213).to_bytes(4, "big") + derive("pg-key", 32).to_bytes(4, "big")
    welcome = (
        pg_msg(b"R", (0).to_bytes(4, "big"))  # AuthenticationOk
        + b"".join(pg_parameter_status(k, v) for k, v in PG_PARAMETERS)
        + pg_msg(b"K", backend_key)
        + pg_ready()
    )
    q1 = "SELECT sid, rule FROM ids_rules WHERE rule LIKE '%mining%'"
    rows1 = (
        pg_row_description([("sid", 16421, 1, 23, 4), ("rule", 16421, 2, 25, -1)])  # int4, text
        + b"".join(pg_data_row([str(sid), rule]) for sid, rule in RULES)
        + pg_command_complete(f"SELECT {len(RULES)}")
        + pg_ready()
    )
    q2 = "SELECT sid, sample FROM ids_rule_samples WHERE sid IN (9000101, 9000102, 9000103)"
    rows2 = (
        pg_row_description([("sid", 16433, 1, 23, 4), ("sample", 16433, 2, 114, -1)])  # json
        + b"".join(pg_data_row([str(sid), js]) for sid, js in RULE_SAMPLES)
        + pg_command_complete(f"SELECT {len(RULE_SAMPLES)}")
        + pg_ready()
    )
    conv = TcpConversation("10.20.70.2", 51000, "192.0.2.81", 5432, rtt_ms=1.9)
    conv.handshake()
    conv.exchange(
        [
            c(pg_ssl_request()),
            s(b"N", 2.2),  # no TLS on this server
            c(startup),
            s(welcome, 3.0),
            c(pg_query(q1), 4100.0),
            s(rows1, 3.4),
            c(pg_query(q2), 6200.0),
            s(rows2, 2.9),
            c(pg_msg(b"X", b""), 1500.0),  # Terminate; psql closes the socket right away
        ],
        ack_last=False,
    )
    conv.close("c", gap_ms=0.03)
    return conv.packets


# -- link-layer and file-format variants -----------------------------------------------------


def link_variant(label: str, client: str, cport: int, server: str, **kw: Any) -> list[Pkt]:
    """The short stratum exchange (handshake ... FIN) to `server`:3333."""
    return tcp_session(client, cport, server, 3333, short_stratum(label), **kw)


def multi_if_frames() -> list[Frame]:
    """if0 (Ethernet, µs): stratum; if1 (raw IP, ns): a DNS lookup of a pool name."""
    stratum = link_variant("mif", "10.20.91.1", 45522, "203.0.113.31", start_ns=EPOCH_NS + 5 * MS)
    dns = dns_lookup(
        "10.20.91.2",
        37641,
        "eth-eu1.nanopool.org",
        "A",
        ["198.51.100.23"],
        txid=0x2F4B,
        start_ns=EPOCH_NS + 1_234_567,
        ttl=60,
    )
    out = frames(stratum, link_ethernet, iface=0)
    out += [Frame(p.ts_ns, bytes(p.l3), iface=1) for p in dns]
    return sorted(out, key=lambda f: f.ts_ns)


def malformed_frames() -> list[Frame]:
    """One valid stratum exchange with broken frames interleaved (each from another host)."""
    good = frames(link_variant("malformed", "10.20.99.9", 50999, "203.0.113.123"))

    def eth(l3: Any, dst: str = GATEWAY_MAC) -> bytes:
        return bytes(Ether(src=CLIENT_MAC, dst=dst) / l3)

    pool = "203.0.113.124"
    truncated = eth(IP(src="10.20.99.11", dst=pool) / TCP(sport=41001, dport=3333, flags="PA"))
    truncated += b'{"id":'  # 60 bytes on the wire, 40 captured
    broken = [
        # ARP: not IP at all
        eth(ARP(op=1, hwsrc=CLIENT_MAC, psrc="10.20.99.9", pdst="10.20.0.1"), "ff:ff:ff:ff:ff:ff"),
        # IPv4 header length of 3 words (the minimum is 5)
        eth(IP(ihl=3, src="10.20.99.10", dst=pool) / TCP(sport=41000, dport=3333, flags="S")),
        # TCP header cut by the snap length: caplen 40 of 60 (see below)
        truncated,
        # IP total length 1500 in a 63-byte frame
        eth(IP(len=1500, src="10.20.99.13", dst=pool) / TCP(sport=41003, dport=3333, flags="PA")
            / b'{"id":7}\n'),
        # UDP length 4 (shorter than the UDP header itself)
        eth(IP(src="10.20.99.14", dst="192.0.2.53") / UDP(sport=41004, dport=53, len=4)
            / b"\x13\x37\x01\x00"),
        # a non-first fragment (offset 1480) of a large UDP datagram: no L4 header in it
        eth(IP(src="192.0.2.53", dst="10.20.99.12", id=0x1A2B, flags=0, frag=185, proto=17)
            / rng("fragment").randbytes(96)),
        # a zero-length frame
        b"",
    ]  # fmt: skip
    bad = [Frame(EPOCH_NS + 500_000 + i * 9 * MS, data) for i, data in enumerate(broken)]
    bad[2] = Frame(bad[2].ts_ns, truncated[:40], orig_len=len(truncated))
    return sorted(good + bad, key=lambda f: f.ts_ns)


BLOCKLIST_FLOWS = [
    ("10.20.80.1", 50411, "198.51.100.200", 14444),  # listed IPv4 address
    ("2001:db8:20::80:2", 50412, "2001:db8:99::200", 3333),  # NOT inside 2001:db8:99::/120
    ("2001:db8:20::80:3", 50413, "2001:db8:99::c8", 3333),  # inside 2001:db8:99::/120
    ("10.20.80.4", 50414, "203.0.113.99", 5555),  # listed as IP:port
    ("10.20.80.4", 50415, "203.0.113.99", 443),  # same IP, unlisted port
]


def blocklist_only() -> list[Pkt]:
    """Established TLS sessions (application data only): nothing in any payload says mining."""
    convs = []
    for i, (client, cport, server, sport) in enumerate(BLOCKLIST_FLOWS):
        conv = TcpConversation(client, cport, server, sport, start_ns=EPOCH_NS + i * 700 * MS)
        app_data_only(conv, f"blocklist{i}")
        convs.append(conv.packets)
    return by_time(*convs)
