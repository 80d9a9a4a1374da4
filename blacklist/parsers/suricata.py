"""Suricata / Snort rule files: the pool names that rules look for, one rule per line.

A name is taken from a `content:"..."` in a host buffer — `dns.query`/`dns_query`,
`tls.sni`/`tls_sni`, `http.host` (sticky) or `http_host` (old modifier), and `tls.cert_subject`
as `CN=<name>` (the server certificate names the pool as surely as the SNI does) — when the
content is a whole host name: `pool.example.net`, `.herominers.com` (dot prefix), not a fragment
like `mining.`, `xmr` or a negated `content:!".kaspersky.com"`. Snort rules that match the DNS
question on the wire, `content:"|04|pool|07|example|03|net|00|"` (minerchk, al0ne), are decoded
label by label; the content must be exactly a label sequence. Literal addresses in the rule
header (`alert ip any any <> 192.0.2.10 any`, minerchk) are indicators too: an IP or prefix, or
`ip:port/proto` when the header gives a tcp/udp port for that side.

Names cover subdomains unless the rule pins the whole buffer (`bsize` equal to the name's
length, or `startswith` + `endswith`) or matches the DNS question from its first label (wire
format): those are exact names. One rule may yield several names (each once). `#` lines —
comments and commented-out rules — are skipped; a rule without any address or name (stratum
JSON payload, HTTP headers, certificate issuers) is a problem `no-host`; a line that is no
rule is `bad-rule`. Rules must be on one line (no `\\` continuations: ET, al0ne and minerchk
use none).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from blacklist.parsers.base import ParseResult, SourceMeta
from blacklist.parsers.common import Collector, numbered

_RULE = re.compile(r"([a-z]+)\s([^(]*)\((.*)\)\s*\Z", re.DOTALL)
_ACTIONS = frozenset({"alert", "drop", "reject", "rejectsrc", "rejectdst", "rejectboth", "pass"})
_HOST_BUFFERS = {
    "dns.query": "dns",
    "dns_query": "dns",
    "tls.sni": "sni",
    "tls_sni": "sni",
    "http.host": "host",
    "tls.cert_subject": "cert",
    "tls_cert_subject": "cert",
}
_STICKY = re.compile(r"[a-z0-9_]+\.[a-z0-9_.]+\Z|(file|pkt|base64|dce_stub)_data\Z")
_OLD_MODIFIER = re.compile(r"http_[a-z_]+\Z")
_NAME = re.compile(r"(?:\*\.)?[a-z0-9_-]+(?:\.[a-z0-9_-]+)+\Z", re.IGNORECASE)
_LABEL = re.compile(rb"[A-Za-z0-9_-]+\Z")


@dataclass
class _Content:
    buffer: str | None  # "dns", "sni", "host", "cert", another buffer's name, or None (payload)
    data: bytes
    flags: set[str] = field(default_factory=set)
    bsize: list[str] = field(default_factory=list)  # the buffer's `bsize`, shared per buffer


def parse(lines: Iterable[str], source: SourceMeta) -> ParseResult:
    """Parse a rule file; each active rule yields its names or a `no-host` problem."""
    col = Collector(source)
    count = 0
    for count, raw, text in numbered(lines):
        rule = text.strip()
        match = _RULE.match(rule)
        if not rule or rule.startswith("#"):
            col.skip()
        elif not match or match[1] not in _ACTIONS:
            col.problem(count, raw, "bad-rule", f"not a rule: {rule[:60]!r}")
        elif not _names(col, _header_hosts(match[2]), _contents(match[3]), raw, count):
            col.problem(count, raw, "no-host", "rule matches payload or headers, names no host")
    return col.result(count)


def _names(col: Collector, hosts: list[str], contents: list[_Content], raw: str, line: int) -> bool:
    """Add the rule's addresses and names; True if the rule yielded any entry or problem."""
    seen = set(hosts)
    for host in hosts:
        col.add(host, raw, line)
    for c in contents:
        name, exact = _host_name(c)
        if name is None or name.lower() in seen:
            continue
        seen.add(name.lower())
        col.add(name, raw, line, subdomains=not exact)
    return bool(seen)


def _host_name(c: _Content) -> tuple[str | None, bool]:
    """(name, exact) for a content that is a whole host name, else (None, False)."""
    if c.buffer is None:  # raw payload: a Snort DNS rule's question in wire format?
        return _wire_name(c.data), True
    if c.buffer not in ("dns", "sni", "host", "cert"):
        return None, False
    try:
        text = c.data.decode("ascii")
    except UnicodeDecodeError:
        return None, False
    if c.buffer == "cert":
        if text[:3].upper() != "CN=":
            return None, False
        text = text[3:]
    pinned = c.bsize == [str(len(text))] or {"startswith", "endswith"} <= c.flags
    exact = pinned and not text.startswith(".")  # `.name` is the dot-prefix idiom: subdomains
    text = text.removeprefix(".")
    return (text, exact) if _NAME.match(text) else (None, False)


def _header_hosts(header: str) -> list[str]:
    """Literal addresses of `proto src sport dir dst dport` (`$VARS`, `any`, `!x` are not)."""
    parts = header.split()
    if len(parts) != 6:
        return []
    proto, src, sport, _, dst, dport = parts
    hosts: list[str] = []
    for addrs, port in ((src, sport), (dst, dport)):
        for addr in addrs.strip("[]").split(","):
            if not addr or addr[0] in "$!" or addr.lower() == "any" or addr in hosts:
                continue
            if port.isdigit() and proto in ("tcp", "udp") and "/" not in addr:
                addr = f"[{addr}]:{port}/{proto}" if ":" in addr else f"{addr}:{port}/{proto}"
            hosts.append(addr)
    return hosts


def _wire_name(data: bytes) -> str | None:
    """`|04|pool|07|example|03|net|00|` → `pool.example.net`; None unless exactly labels."""
    labels: list[str] = []
    i = 0
    while i < len(data):
        size = data[i]
        if size == 0:
            if i != len(data) - 1:
                return None
            break
        label = data[i + 1 : i + 1 + size]
        if size > 63 or len(label) != size or not _LABEL.match(label):
            return None
        labels.append(label.decode("ascii"))
        i += 1 + size
    return ".".join(labels) if len(labels) >= 2 else None


def _contents(body: str) -> list[_Content]:
    """The rule's positive contents with the buffer each one inspects."""
    contents: list[_Content] = []
    buffer: str | None = None
    bsize: list[str] = []
    for key, value in _options(body):
        if key == "content":
            data = _content_bytes(value)
            if data is not None:
                contents.append(_Content(buffer, data, bsize=bsize))
            else:  # negated or unreadable: keep the modifiers that follow off other contents
                contents.append(_Content("-", b"", bsize=bsize))
        elif key in _HOST_BUFFERS or _STICKY.match(key):
            buffer, bsize = _HOST_BUFFERS.get(key, key), []
        elif key == "bsize":
            bsize.append(value.strip())
        elif contents and key == "http_host":
            contents[-1].buffer = "host"
        elif contents and _OLD_MODIFIER.match(key):
            contents[-1].buffer = key
        elif contents:
            contents[-1].flags.add(key)
    return contents


def _options(body: str) -> list[tuple[str, str]]:
    """`key:value;` pairs; `;` inside quotes and `\\;` do not end an option."""
    cuts: list[int] = []
    quoted, i = False, 0
    while i < len(body):
        if body[i] == "\\":
            i += 1
        elif body[i] == '"':
            quoted = not quoted
        elif body[i] == ";" and not quoted:
            cuts.append(i)
        i += 1
    pieces = [
        body[a:b] for a, b in zip([0, *(c + 1 for c in cuts)], [*cuts, len(body)], strict=True)
    ]
    pairs = (piece.partition(":") for piece in pieces if piece.strip())
    return [(key.strip().lower(), value.strip()) for key, _, value in pairs]


def _content_bytes(value: str) -> bytes | None:
    """The bytes of `"text|0d 0a|more"` (escapes `\\"` `\\;` `\\\\`); None if negated/bad."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return None
    out = bytearray()
    parts = re.split(r"(\|[^|]*\|)", re.sub(r"\\(.)", r"\1", value[1:-1]))
    for part in parts:
        if part.startswith("|") and part.endswith("|") and len(part) > 1:
            try:
                out += bytes.fromhex(part[1:-1])
            except ValueError:
                return None
        elif "|" in part:
            return None
        else:
            out += part.encode("utf-8", "replace")
    return bytes(out)
