"""Write minewatch's sample captures (and blocklist.txt) deterministically.

    .venv/bin/python samples/make_samples.py [OUTDIR]      # default: the samples/ directory

Packets are crafted with scapy: craft.py holds the TCP/UDP/link-layer helpers and the pcap /
pcapng writers, payloads.py the protocol formats, scen_mining.py and scen_network.py the
conversations. `SCENARIOS` states, for every file, which flows it holds and what minewatch is
expected to report; the tests read it.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import scen_mining as mine
import scen_network as net
from craft import (
    DLT_EN10MB,
    DLT_LINUX_SLL,
    DLT_RAW,
    Interface,
    Pkt,
    frames,
    link_ethernet,
    link_pppoe,
    link_qinq,
    link_raw,
    link_sll,
    link_vlan,
    pcap_bytes,
    pcapng_bytes,
)

HERE = Path(__file__).resolve().parent

MINING, COIN_P2P, NOTHING = "mining", "coin-p2p", ""


@dataclass(frozen=True)
class Expect:
    """What minewatch should report for one flow (cls NOTHING: must not be reported)."""

    flow: str  # "client:port>server:port", IPv6 addresses in brackets
    cls: str
    variant: str = ""  # "" where the evidence does not name a protocol variant
    evidence: str = ""  # detector.base.EvidenceKind value
    transport: str = "tcp"  # "tcp" or "udp"


@dataclass(frozen=True)
class Scenario:
    file: str
    build: Callable[[], bytes]
    contents: str
    expect: tuple[Expect, ...]  # one entry per TCP/UDP flow in the file
    broken_frames: int = 0  # frames a reader must count and skip
    # of those, frames whose transport header is intact (an IP total length beyond the frame):
    # tshark and minewatch still decode them, with the payload bounded by the frame
    decodable_broken: int = 0

    def flows(self, transport: str = "tcp") -> set[str]:
        """The file's TCP or UDP flows (every flow has an expectation, even "nothing")."""
        return {e.flow for e in self.expect if e.transport == transport}


def pcap(
    pkts: Callable[[], list[Pkt]],
    link: Callable[[Pkt], bytes] = link_ethernet,
    linktype: int = DLT_EN10MB,
) -> Callable[[], bytes]:
    return lambda: pcap_bytes(frames(pkts(), link), linktype)


def short(
    label: str, client: str, cport: int, server: str, **kw: object
) -> Callable[[], list[Pkt]]:
    return lambda: net.link_variant(label, client, cport, server, **kw)


def multi_if() -> bytes:
    interfaces = [Interface(DLT_EN10MB, "eth0", 6), Interface(DLT_RAW, "tun0", 9)]
    return pcapng_bytes(net.multi_if_frames(), interfaces, app="minewatch samples/make_samples.py")


def gz(build: Callable[[], bytes]) -> Callable[[], bytes]:
    return lambda: gzip.compress(build(), compresslevel=9, mtime=0)


def stratum(flow: str, variant: str = "stratum-v1") -> Expect:
    return Expect(flow, MINING, variant, "stratum")


def dns(flow: str) -> Expect:
    """A lookup of a pool name (flagged if the name is on the domain list)."""
    return Expect(flow, MINING, "", "dns", transport="udp")


BLOCKLIST = """\
# minewatch sample block list, for blocklist_only.pcap (see samples/README.md)
# one entry per line: IP, CIDR, IP:port, [IPv6]:port or domain; '#' starts a comment

198.51.100.200
2001:db8:99::/120
203.0.113.99:5555
[2001:db8:99::1]:443

evil-pool.example   # a domain: matches DNS answers and TLS SNI
999.1.1.1
"""

BTC = "10.20.14.37:51724>203.0.113.10:3333"

# fmt: off
SCENARIOS: list[Scenario] = [
    Scenario("stratum_v1_btc.pcap", pcap(mine.stratum_v1_btc),
             "cgminer 4.10.0: subscribe, authorize, set_difficulty + notify, submit, accepted",
             (stratum(BTC),)),
    Scenario("stratum_v1_midsession.pcap", pcap(mine.stratum_v1_midsession),
             "starts mid-session (no SYN, no subscribe): notify, submit, result, next notify",
             (stratum("10.20.14.52:49822>198.51.100.21:443"),)),
    Scenario("stratum_configure_extranonce.pcap", pcap(mine.stratum_configure_extranonce),
             "bmminer 2.0.0 on port 25: mining.configure (BIP 310 version-rolling), subscribe, "
             "extranonce.subscribe, authorize, notify, set_extranonce + set_version_mask",
             (stratum("10.20.33.8:40112>203.0.113.25:25"),)),
    Scenario("stratum_equihash_zcash.pcap", pcap(mine.stratum_equihash_zcash),
             "EWBF 0.3.4b Zcash (ZIP 301): subscribe with host/port, set_target, 8-field notify, "
             "2.7 kB submit over two segments",
             (stratum("10.20.7.91:55310>198.51.100.57:3357", "stratum-v1-equihash"),)),
    Scenario("ethproxy.pcap", pcap(mine.ethproxy),
             "eth-proxy: eth_submitLogin (worker rig1), eth_getWork, eth_submitHashrate, pushed "
             "work, eth_submitWork",
             (stratum("10.20.8.14:50044>203.0.113.77:9999", "eth-proxy"),)),
    Scenario("nicehash_ethereumstratum.pcap", pcap(mine.nicehash_ethereumstratum),
             "ethminer 0.19.0 EthereumStratum/1.0.0: subscribe, extranonce.subscribe, authorize, "
             "set_difficulty, 4-field notify, submit",
             (stratum("10.20.8.15:58231>198.51.100.33:3353", "ethereum-stratum-nicehash"),)),
    Scenario("xmrig_login.pcap", pcap(mine.xmrig_login),
             "XMRig 6.21.0 login (agent, algo list), job in the result, submit, job push, "
             "keepalived",
             (stratum("10.20.21.4:44876>203.0.113.60:3333", "stratum-cryptonote"),)),
    Scenario("xmrstak_noagent.pcap", pcap(mine.xmrstak_noagent),
             "minimal CryptoNote login without agent (early xmr-stak), job, submit, job push",
             (stratum("10.20.21.5:39012>198.51.100.90:45700", "stratum-cryptonote"),)),
    Scenario("getwork_http.pcap", pcap(mine.getwork_http),
             "cgminer 3.7.2 HTTP getwork on one keep-alive connection: fetch (headers and body "
             "in separate segments), work, submit (one segment), accepted",
             (Expect("10.20.2.200:49301>203.0.113.8:8332", MINING, "getwork-http",
                     "http-mining"),)),
    Scenario("getblocktemplate_http.pcap", pcap(mine.getblocktemplate_http),
             "bfgminer 5.5.0 getblocktemplate; 5 kB template reply over four segments",
             (Expect("10.20.2.201:49555>203.0.113.9:9332", MINING, "getblocktemplate-http",
                     "http-mining"),)),
    Scenario("stratum_tls_sni.pcap", pcap(net.stratum_tls_sni),
             "TLS 1.3 on 443, ClientHello SNI pool.supportxmr.com, then only ciphertext",
             (Expect("10.20.40.2:53118>198.51.100.140:443", MINING, "", "sni"),)),
    Scenario("dns_pool_then_tls.pcap", pcap(net.dns_pool_then_tls),
             "DNS A (203.0.113.45, .46) + AAAA (2001:db8:99::45) for xmr.pool.minergate.com, "
             "then TLS application data only (session began before the capture) to "
             "203.0.113.45:45700",
             (dns("10.20.40.3:41234>192.0.2.53:53"),
              Expect("10.20.40.3:52010>203.0.113.45:45700", MINING, "", "dns-learned"))),
    Scenario("pair_cache.pcap", pcap(net.pair_cache),
             "plaintext stratum to 198.51.100.7:3333, then 120 s later TLS application data "
             "only (no handshake, no SNI) to 198.51.100.7:3334",
             (stratum("10.20.55.6:47110>198.51.100.7:3333"),
              Expect("10.20.55.6:47124>198.51.100.7:3334", MINING, "stratum-v1",
                     "pair-cache"))),
    Scenario("coin_p2p.pcap", pcap(net.coin_p2p),
             "Bitcoin P2P version/wtxidrelay/sendaddrv2/verack on 8333; Monero Levin "
             "handshake request/response (command 1001) on 18080",
             (Expect("10.20.60.10:50312>203.0.113.150:8333", COIN_P2P, "bitcoin-p2p",
                     "coin-p2p"),
              Expect("10.20.60.10:50340>198.51.100.180:18080", COIN_P2P, "monero-p2p-levin",
                     "coin-p2p"))),
    Scenario("benign_jsonrpc_echo.pcap", pcap(net.benign_jsonrpc_echo),
             "JSON-RPC 2.0 echo + system.listMethods, newline-delimited, on port 3333",
             (Expect("10.20.70.1:46002>192.0.2.80:3333", NOTHING),)),
    Scenario("benign_db_result.pcap", pcap(net.benign_db_result),
             "PostgreSQL session; result rows hold Suricata coin-miner rules and JSON snippets "
             "with mining.subscribe, mining.submit and login+agent",
             (Expect("10.20.70.2:51000>192.0.2.81:5432", NOTHING),)),
    Scenario("linktype_vlan.pcap",
             pcap(short("vlan", "10.20.90.1", 40001, "203.0.113.32"), link_vlan),
             "Ethernet + 802.1Q VID 120; short stratum exchange",
             (stratum("10.20.90.1:40001>203.0.113.32:3333"),)),
    Scenario("linktype_qinq.pcap",
             pcap(short("qinq", "10.20.90.2", 40002, "203.0.113.33"), link_qinq),
             "Ethernet + 802.1ad S-tag 300 (0x88a8) + 802.1Q C-tag 120; short stratum exchange",
             (stratum("10.20.90.2:40002>203.0.113.33:3333"),)),
    Scenario("linktype_pppoe.pcap",
             pcap(short("pppoe", "10.20.90.3", 40003, "203.0.113.34", mss=1452), link_pppoe),
             "Ethernet + PPPoE session 0x2a17 (0x8864, PPP 0x0021); short stratum exchange",
             (stratum("10.20.90.3:40003>203.0.113.34:3333"),)),
    Scenario("linktype_sll.pcap",
             pcap(short("sll", "10.20.90.4", 40004, "203.0.113.35"), link_sll, DLT_LINUX_SLL),
             "Linux cooked capture (DLT 113); short stratum exchange",
             (stratum("10.20.90.4:40004>203.0.113.35:3333"),)),
    Scenario("linktype_raw.pcap",
             pcap(short("raw", "10.20.90.5", 40005, "203.0.113.36"), link_raw, DLT_RAW),
             "raw IPv4 (DLT 101); short stratum exchange",
             (stratum("10.20.90.5:40005>203.0.113.36:3333"),)),
    Scenario("ipv6_stratum.pcap",
             pcap(short("ipv6", "2001:db8:20::17", 40006, "2001:db8:99::1:3", hop_by_hop=True)),
             "Ethernet + IPv6 + Hop-by-Hop header before TCP; short stratum exchange",
             (stratum("[2001:db8:20::17]:40006>[2001:db8:99::1:3]:3333"),)),
    Scenario("stratum_v1_btc.pcap.gz", gz(pcap(mine.stratum_v1_btc)),
             "gzip of stratum_v1_btc.pcap",
             (stratum(BTC),)),
    Scenario("multi_if.pcapng", multi_if,
             "pcapng, 2 interfaces: if0 eth0 Ethernet µs (short stratum), if1 tun0 raw IP ns "
             "(DNS A eth-eu1.nanopool.org -> 198.51.100.23)",
             (stratum("10.20.91.1:45522>203.0.113.31:3333"),
              dns("10.20.91.2:37641>192.0.2.53:53"))),
    Scenario("malformed.pcap", lambda: pcap_bytes(net.malformed_frames(), DLT_EN10MB),
             "short stratum exchange + 7 broken frames: ARP, IHL=3, caplen 40 of 60, IP length "
             "> frame, UDP length 4, non-first fragment, zero-length frame",
             (stratum("10.20.99.9:50999>203.0.113.123:3333"),),
             broken_frames=7, decodable_broken=1),
    Scenario("blocklist_only.pcap", pcap(net.blocklist_only),
             "TLS application data only (no handshake) to 5 servers; scan with blocklist.txt",
             (Expect("10.20.80.1:50411>198.51.100.200:14444", MINING, "", "ip-list"),
              Expect("[2001:db8:20::80:2]:50412>[2001:db8:99::200]:3333", NOTHING),
              Expect("[2001:db8:20::80:3]:50413>[2001:db8:99::c8]:3333", MINING, "", "ip-list"),
              Expect("10.20.80.4:50414>203.0.113.99:5555", MINING, "", "ip-list"),
              Expect("10.20.80.4:50415>203.0.113.99:443", NOTHING))),
]
# fmt: on

EXTRA_FILES = {"blocklist.txt": BLOCKLIST.encode()}


def main(argv: list[str]) -> int:
    outdir = Path(argv[1]) if len(argv) > 1 else HERE
    outdir.mkdir(parents=True, exist_ok=True)
    for sc in SCENARIOS:
        data = sc.build()
        (outdir / sc.file).write_bytes(data)
        print(f"{sc.file:36s} {len(data):7d} bytes")
    for name, data in EXTRA_FILES.items():
        (outdir / name).write_bytes(data)
        print(f"{name:36s} {len(data):7d} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
