"""Every file in ../shared/data/feeds: its format, options, category and the exact outcome.

`FEEDS[file] = Expect(format, category, entries, unique, problems by code, options)`. The counts
were established by reading the files (grep/awk over the raw text, independent of the parsers),
then every problem the parsers report was inspected line by line; they are now pinned. Where
SOURCES.tsv states a count, the comment says how it relates (`= SOURCES` when equal).

`entries` counts entries (a file's repeated lines stay entries, for provenance); `unique` counts
distinct (kind, value, subdomains) keys. The category only changes validation for `allowlist`
(no public-space check), but it is what the source index is expected to set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from blacklist.entries import Category

POOL, BROWSER, CRYPTO, ALLOW = (
    Category.POOL,
    Category.BROWSER_MINER,
    Category.CRYPTO_SERVICE,
    Category.ALLOWLIST,
)
FEEDS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "feeds"
NOT_FEEDS = frozenset({"SOURCES.tsv", "nocoin_LICENSE", "blocklistproject_LICENSE"})
RAINBOW = {"path": "$", "host": "Host", "port": "Port", "tls": "SSL"}


@dataclass(frozen=True)
class Expect:
    fmt: str | None  # None: deliberately not imported (see the file's comment)
    category: Category
    entries: int
    unique: int
    problems: dict[str, int] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)


FEEDS: dict[str, Expect] = {
    # --- maltrail ----------------------------------------------------------------------------
    # = SOURCES 1185 (721 ip:port, 18 ip, 445 domain, "1 path" = the URL http://185.141.25.35,
    # which gives its IP: 19 ip entries)
    "maltrail_crypto_mining.txt": Expect("maltrail", POOL, 1185, 1121),
    # SOURCES 693 = 181 ip:port + 341 domain + 171 URL/path; the 171 are 126 http://IP URLs
    # (→ ip), 3 scheme-less mail.<x>/resources/files/ URLs (→ exact domain) and 42 bare paths
    "maltrail_generic_miner.txt": Expect("maltrail", POOL, 651, 650, {"path": 42}),
    # SOURCES 1092 = 671 ip:port + 131 domain + 290 URL/path: 86 http://IP URLs, 4 scheme-less
    # host/path URLs (minpop.com x2, global.bitmex.com.de, sitiolibre.com), 200 bare paths
    "maltrail_elf_coinminer.txt": Expect("maltrail", POOL, 892, 887, {"path": 200}),
    # --- adblock -----------------------------------------------------------------------------
    # SOURCES 317 rules: 198 host rules (191 ||domain^ incl. 13 without '^', 7 ||IP^; one
    # domain listed twice), 111 URL/regex/option-only/path rules, 8 @@ exceptions
    "nocoin_nocoin.txt": Expect(
        "adblock", BROWSER, 198, 197, {"not-host-rule": 111, "exception": 8}
    ),
    # = SOURCES 8 rules, all `##+js(...)` scriptlets: no host rule at all
    "nocoin_nocoin-ublock.txt": Expect("adblock", BROWSER, 0, 0, {"not-host-rule": 8}),
    # --- webext ------------------------------------------------------------------------------
    # SOURCES 158 patterns: 157 with a host, 1 `*://*/...` (any host); ws/wss pairs repeat hosts
    "nocoin-keraf_blacklist.txt": Expect("webext", BROWSER, 157, 106, {"any-host": 1}),
    # SOURCES 737 patterns: 708 with a host (8 IPs), 29 `*://*/*<file>` any-host patterns;
    # `*.jshosting.bid.` style trailing dots collapse with the dotless names (unique 528)
    "minerblock_filters.txt": Expect("webext", BROWSER, 708, 528, {"any-host": 29}),
    # --- csv ---------------------------------------------------------------------------------
    # SOURCES 2052 rows, 1249 unique IPs: row 1462 is 127.0.0.9 (ISC threatlist) → bogon,
    # so 2051 entries and 1248 unique
    "frantisekhrdina-mining-pools_pools-IP.csv": Expect(
        "csv", POOL, 2051, 1248, {"bogon": 1}, {"column": "address"}
    ),
    # SOURCES 826 rows: `graftpool.net/` (path) and `xmr.-eu1.nanopool.org` (label-hyphen) are
    # the same two bad lines as andoniaf's list they were copied from
    "frantisekhrdina-mining-pools_pools-name.csv": Expect(
        "csv", POOL, 824, 780, {"path": 1, "label-hyphen": 1}, {"column": "address"}
    ),
    # --- json --------------------------------------------------------------------------------
    # = SOURCES 551 endpoints on 277 hosts (all names: domain entries, port/SSL in raw)
    "rainbowminer_mrrpoolsall.json": Expect("json", POOL, 551, 277, options=RAINBOW),
    # the stratum+tcp subset: 288 records, the same 277 hosts
    "rainbowminer_mrrpools.json": Expect("json", POOL, 288, 277, options=RAINBOW),
    # --- suricata ----------------------------------------------------------------------------
    # SOURCES 26 active + 3 commented: 9 rules name a host (4 dns.query, 1 tls.sni,
    # 3 tls.cert_subject CN=; coin-hive.com twice), 17 payload/header/UA rules → no-host
    "etopen_emerging-coinminer.rules": Expect("suricata", POOL, 9, 8, {"no-host": 17}),
    # SOURCES 35 (wc -l: the last line has no newline): 36 rules, 18 dns_query + the same 18
    # names in DNS wire format (exact names, so keys differ from the dns_query ones)
    "al0ne-suricata-rules_crypto-Miners_public_pools.rules": Expect("suricata", POOL, 36, 36),
    # = SOURCES 2 stratum payload rules
    "al0ne-suricata-rules_Mining_Behavior_Detection.rules": Expect(
        "suricata", POOL, 0, 0, {"no-host": 2}
    ),
    # = SOURCES 180 rules: 35 DNS wire-format names (one twice) + 145 `alert ip any any <> IP`
    # rules (112 distinct IPs)
    "minerchk_monero-snort.rules": Expect("suricata", POOL, 180, 146),
    # --- urls / pool-urls --------------------------------------------------------------------
    # = SOURCES 3967 URLs (+33 blank lines): 3922 names, 23 IPs, 22 IP:port endpoints
    "imbytecat-crypto-mining-pool-list_pools.txt": Expect("urls", POOL, 3967, 1283),
    # = SOURCES 1 scheme-less URL (husnulkhoir.sch.id/12 → exact host)
    "ut1_cryptojacking_urls": Expect("urls", BROWSER, 1, 1),
    # SOURCES "~80": 76 stratum URLs with host:port (46 distinct hosts); prose mentions such
    # as `stratum+tls://[...]` have no host:port and are text, not problems
    "ethminer_POOL_EXAMPLES_ETH.md": Expect("pool-urls", POOL, 76, 46),
    # --- misp (allowlist material; every list is type cidr) ---------------------------------
    "misp-warninglists_akamai.json": Expect("misp", ALLOW, 268, 268),  # = SOURCES
    "misp-warninglists_amazon-aws.json": Expect("misp", ALLOW, 3847, 3847),  # = SOURCES
    "misp-warninglists_cloudflare.json": Expect("misp", ALLOW, 22, 22),  # = SOURCES
    "misp-warninglists_fastly.json": Expect("misp", ALLOW, 21, 21),  # = SOURCES
    "misp-warninglists_google-gcp.json": Expect("misp", ALLOW, 471, 471),  # = SOURCES
    "misp-warninglists_ovh-cluster.json": Expect("misp", ALLOW, 622, 622),  # = SOURCES
    "misp-warninglists_parking-domain.json": Expect("misp", ALLOW, 108, 108),  # = SOURCES
    "misp-warninglists_public-dns-v4.json": Expect("misp", ALLOW, 62745, 62745),  # = SOURCES
    "misp-warninglists_rfc1918.json": Expect("misp", ALLOW, 3, 3),  # = SOURCES, private /8–/16
    # = SOURCES 15, incl. 0.0.0.0/8, 224.0.0.0/4 and 255.255.255.255/32 (an ip entry)
    "misp-warninglists_rfc5735.json": Expect("misp", ALLOW, 15, 15),
    "misp-warninglists_sinkholes.json": Expect("misp", ALLOW, 107, 107),  # = SOURCES
    # --- plain / hosts -----------------------------------------------------------------------
    # SOURCES 773: `graftpool.net/` (path) and `xmr.-eu1.nanopool.org` (label-hyphen)
    "andoniaf-mining-pools-list_mining-pools.lst": Expect(
        "plain", POOL, 771, 771, {"path": 1, "label-hyphen": 1}
    ),
    "andoniaf-mining-pools-list_mining-pools_IP.lst": Expect("plain", POOL, 678, 678),  # = SOURCES
    # = SOURCES 5939 names after a 9-line header; 109 repeated names
    "anudeepnd_CoinMiner.txt": Expect("hosts", POOL, 5939, 5830),
    # = SOURCES 1274 (pools + exchanges + scams), 4 header lines
    "blocklistproject_crypto.txt": Expect("hosts", CRYPTO, 1274, 1274),
    # SOURCES 1236 lines: 873 are CoinBlocker's glued `0.0.0.0<name>` (872 glued without a dot,
    # 1 `0.0.0.0.afisha...`) that PyFunceble kept verbatim; 363 real names
    "coinblockerlists-deadhosts2024_clean.list": Expect(
        "plain", POOL, 363, 363, {"hosts-glued": 873}
    ),
    # = SOURCES 1026 IPs
    "coinblockerlists-gh2018_MiningServerIPList.txt": Expect("plain", POOL, 1026, 1026),
    # SOURCES 5837: hashbag.cc:8688, server.com:1234 (domain-port), xmr.-eu1 (label-hyphen)
    "coinblockerlists-gh2018_hosts": Expect(
        "hosts", POOL, 5834, 5834, {"domain-port": 2, "label-hyphen": 1}
    ),
    "coinblockerlists-gh2018_hosts_browser": Expect("hosts", BROWSER, 1704, 1704),  # = SOURCES
    "coinblockerlists-gh2018_hosts_optional": Expect("hosts", POOL, 296, 296),  # = SOURCES
    # the same 5837 names as hosts, same three problems
    "coinblockerlists-gh2018_list.txt": Expect(
        "plain", POOL, 5834, 5834, {"domain-port": 2, "label-hyphen": 1}
    ),
    # SOURCES "browser 1704" counts hosts_browser; list_browser.txt has 4 names the hosts file
    # lacks (rapidvideo.com, sxcdn03.now.sh, ...) and lacks 3 it has: 1705
    "coinblockerlists-gh2018_list_browser.txt": Expect("plain", BROWSER, 1705, 1705),
    "coinblockerlists-gh2018_list_optional.txt": Expect("plain", POOL, 296, 296),  # = SOURCES
    # CoinBlocker's own exceptions ("entries wrongly listed"): allowlist, 7 header lines each
    "coinblockerlists-gh2018_white_list.txt": Expect("plain", ALLOW, 15, 15),
    "coinblockerlists-gh2018_white_list_IPs.txt": Expect("plain", ALLOW, 15, 15),
    # SOURCES 85263 lines incl. 863 malformed: 864 glued names (one more with a dot), 2 hyphen
    "coinblockerlists-gitlab2022_hosts": Expect(
        "hosts", POOL, 84397, 84397, {"hosts-glued": 864, "label-hyphen": 2}
    ),
    # = SOURCES 754 (735 domains, 19 IPs)
    "imbytecat-crypto-mining-pool-list_pools_cleaned.txt": Expect("plain", POOL, 754, 754),
    "imbytecat-crypto-mining-pool-list_pools_cleaned_domain.txt": Expect(
        "plain", POOL, 735, 735
    ),  # = SOURCES
    "minerchk_hostslist.txt": Expect("plain", POOL, 39, 39),  # = SOURCES 39, 1 blank line
    "minerchk_ip-only.txt": Expect("plain", POOL, 154, 121),  # = SOURCES 154 (121 unique)
    # = SOURCES 152 `domain #resolved-IP` lines: the trailing comment is dropped (a resolution
    # at list time, not an indicator); 37 distinct names
    "minerchk_minerlist-all.txt": Expect("plain", POOL, 152, 37),
    "nocoin_hosts.txt": Expect("hosts", BROWSER, 313, 313),  # = SOURCES
    "shadowwhisperer_Cryptocurrency": Expect("plain", CRYPTO, 1277, 1277),  # = SOURCES
    "ut1_bitcoin_domains": Expect("plain", CRYPTO, 1419, 1419),  # = SOURCES (25 IPs)
    "ut1_cryptojacking_domains": Expect("plain", BROWSER, 11491, 11491),  # = SOURCES
    # --- not imported ------------------------------------------------------------------------
    # SOURCES 11 TCP ports (3333, 4444, ...): ports are no indicator on their own (the pool-port
    # prior lives in blacklist.builtin); no parser on purpose
    "minerchk_portlist.txt": Expect(None, POOL, 0, 0),
}
