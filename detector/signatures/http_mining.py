"""Mining over HTTP: getwork / getblocktemplate JSON-RPC, mining headers, miner User-Agents.

About a third of the pool flows in the real captures are cgminer/BFGMiner talking HTTP
JSON-RPC (`getwork`, `getblocktemplate`) to a pool or a coin daemon, often with
`X-Mining-Extensions` in the request and `X-Stratum` / `X-Long-Polling` in the reply.

Evidence, strongest first: a getwork/GBT method in the POST body (or such a result in the
reply body); a mining header; a miner User-Agent *product token* (`cgminer/3.7.2`,
`XMRig/6.21 (...)` — the token, never a substring anywhere in the text). Headers and body
may arrive in separate segments: a JSON POST whose body has not arrived yet is NEED_MORE,
unless the headers already carry mining evidence, in which case it matches right away
(`http-mining-extensions`) because the body may never be shown (the real captures have such
flows).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from detector.base import EXCLUDE, NEED_MORE, EvidenceKind, HitClass, Outcome, Verdict
from detector.signatures.ethproxy import work_triple
from detector.signatures.http_head import HTTP, MAX_HEAD, MINING_NAMES, NO_LINE, read_head
from detector.signatures.jsonlines import clip, excerpt, scan_prefix

MAX_BODY = 16384

# Body methods → (variant, confidence).
BODY_METHODS: dict[str, tuple[str, float]] = {
    "getwork": ("getwork-http", 0.97),
    "getblocktemplate": ("getblocktemplate-http", 0.97),
    "submitblock": ("getblocktemplate-http", 0.95),
    "eth_getWork": ("getwork-http", 0.95),
    "eth_submitWork": ("getwork-http", 0.97),
    "eth_submitHashrate": ("getwork-http", 0.95),
}
# Headers only miners and pools use (request or response).
MINING_HEADERS: dict[str, float] = {
    "x-mining-extensions": 0.9,
    "x-mining-hashrate": 0.9,
    "x-stratum": 0.9,
    "x-long-polling": 0.85,
    "x-roll-ntime": 0.85,
}
USER_AGENT = 0.7
# Product names of mining software, lower case, as they appear in a User-Agent token.
MINER_AGENTS = frozenset(
    {
        "cgminer", "bfgminer", "cpuminer", "cpuminer-multi", "cpuminer-opt", "minerd",
        "ccminer", "sgminer", "xmrig", "xmrig-proxy", "xmrig-nvidia", "xmrig-amd", "xmr-stak",
        "xmr-stak-cpu", "xmr-stak-rx", "ethminer", "nsfminer", "kawpowminer", "nbminer",
        "t-rex", "phoenixminer", "gminer", "lolminer", "nanominer", "teamredminer", "srbminer",
        "srbminer-multi", "bminer", "ewbf", "nheqminer", "claymore", "wildrig", "z-enemy",
        "cryptodredge", "excavator", "equihashminer", "poclbm", "diablominer", "cudaminer",
    }
)  # fmt: skip

# how an HTTP message can start; the prefilter and the family dispatch use the first 4 bytes
HTTP_HEADS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"OPTIONS ", b"PATCH ", b"DELETE ", b"HTTP/1.")
_COMMENT = re.compile(r"\([^()]{0,512}\)")
_HEX = re.compile(r"[0-9a-fA-F]{16,}")
# the parser `json.loads` runs, without its per-call checks: (value, end) of the JSON at an index
_SCAN_JSON: Callable[[str, int], tuple[Any, int]]
_SCAN_JSON = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
# bytes a JSON body may start with (also read by the compiled screen, `detector.screen`)
JSON_START_BYTES = b"{[ \t\n\r\x0b\x0c"
_JSON_START = frozenset(bytes([c]) for c in JSON_START_BYTES)
UA_READ = 512  # characters of a User-Agent searched for a product token

# By the mining mask of `read_head`: the mining headers present (sorted), their confidence.
_MINING_FOUND = tuple(
    tuple(name for i, name in enumerate(MINING_NAMES) if mask >> i & 1)
    for mask in range(1 << len(MINING_NAMES))
)
_MINING_CONFIDENCE = tuple(
    max([MINING_HEADERS[h] for h in found], default=0.0) for found in _MINING_FOUND
)


def _miner_agent(user_agent: str) -> str | None:
    """The product token naming mining software, e.g. `cgminer/3.7.2` or `cgminer 3.7.2`."""
    text = user_agent[:UA_READ]
    if "(" in text:  # comments hold platform details, never the product token
        text = _COMMENT.sub(" ", text)
    for token in text.split()[:16]:
        if token.partition("/")[0].lower() in MINER_AGENTS:
            return token
    return None


def _body_evidence(body: Any) -> tuple[str, str, float] | None:
    """(label, variant, confidence) from a parsed JSON body: a request or a reply."""
    items = body[:8] if isinstance(body, list) else [body]
    for item in items:
        if not isinstance(item, dict):
            continue
        method = item.get("method")
        if isinstance(method, str) and method in BODY_METHODS:
            variant, confidence = BODY_METHODS[method]
            return method, variant, confidence
        result = item.get("result")
        if isinstance(result, dict):
            if isinstance(result.get("previousblockhash"), str) and (
                "coinbasevalue" in result or "bits" in result
            ):
                return "reply:getblocktemplate", "getblocktemplate-http", 0.95
            data, target = result.get("data"), result.get("target")
            if isinstance(data, str) and isinstance(target, str) and _HEX.fullmatch(data):
                return "reply:getwork", "getwork-http", 0.9
        elif work_triple(result):
            return "reply:eth_getWork", "getwork-http", 0.9
    return None


def _parse_body(raw: bytes) -> Any:
    """The JSON body, or None when absent, incomplete or not JSON."""
    text = raw[:MAX_BODY].strip()
    if text[:1] not in (b"{", b"["):
        return None
    try:
        doc = text.decode("utf-8")
        value, end = _SCAN_JSON(doc, 0)
    except Exception:  # truncated or not JSON: no body evidence
        return None
    return value if end == len(doc) else None  # trailing data: not JSON (as for json.loads)


def _truncated_evidence(raw: bytes) -> tuple[str, str, float] | None:
    """Evidence from the visible prefix of a JSON body too long to parse whole."""
    text = raw[:MAX_BODY].lstrip()
    if text[:1] != b"{":
        return None
    members, result_keys = scan_prefix(text, MAX_BODY)
    method = members.get("method")
    if method in BODY_METHODS:
        variant, confidence = BODY_METHODS[method]
        return method, variant, confidence
    if "previousblockhash" in result_keys and result_keys & {"version", "capabilities", "rules"}:
        return "reply:getblocktemplate", "getblocktemplate-http", 0.9
    return None


def _head_excerpt(head: bytes, plain: int) -> str:
    """The excerpt when only the headers speak: the head's first lines, stripped and joined
    (for `plain` lines, see `http_head.read_head`, that is replacing each CRLF)."""
    if plain:
        return excerpt(head.replace(b"\r\n", b" | "))
    return excerpt(b" | ".join(map(bytes.strip, head.split(b"\n"))))


def _mining(outcome: Outcome, variant: str, confidence: float, detail: dict[str, Any]) -> Verdict:
    """An HTTP mining verdict, its confidence rounded to 4 places."""
    return Verdict(outcome, kind=EvidenceKind.HTTP_MINING, cls=HitClass.MINING, variant=variant,
                   confidence=round(confidence, 4), detail=detail)  # fmt: skip


def inspect_http(data: bytes) -> Verdict:
    """Judge the first HTTP message of one direction (its head read by `http_head.read_head`)."""
    head = read_head(data)
    status, head_end, sep, ua_start, ua_end, expected, json_type, mining, excerpt_end, plain = head
    if status != HTTP:
        return NEED_MORE if status == NO_LINE and len(data) < 2048 else EXCLUDE
    complete = head_end >= 0
    detail: dict[str, Any] = {}
    confidence = 0.0
    if mining:
        detail["headers"] = list(_MINING_FOUND[mining])
        confidence = _MINING_CONFIDENCE[mining]
    if ua_end > ua_start:
        user_agent = data[ua_start:ua_end].decode("latin-1")
        if _miner_agent(user_agent) is not None:
            detail["user_agent"] = clip(user_agent)
            confidence = min(0.95, confidence + 0.03) if confidence else USER_AGENT
    variant = "http-mining-extensions"
    body_raw = data[head_end + sep :] if complete else b""
    if expected >= 0:
        body_raw = body_raw[:expected]  # keep-alive: the next message may follow in the stream
    jsonish = json_type or body_raw[:1] in (b"{", b"[")
    body_due = complete and jsonish and len(body_raw) < min(expected, MAX_BODY)
    if confidence and body_due and len(data) < MAX_HEAD:
        # headers already say mining; the JSON body will say which method: provisional verdict
        detail["methods"] = []
        detail["excerpt"] = _head_excerpt(data[:excerpt_end], plain)
        return _mining(Outcome.NEED_MORE, variant, confidence, detail)
    # a body can be JSON only if it starts with `{`, `[` or a blank (skip HTML, text, ...)
    json_body = complete and body_raw[:1] in _JSON_START
    body = _parse_body(body_raw) if json_body else None
    if body is not None:
        evidence = _body_evidence(body)
    else:
        evidence = _truncated_evidence(body_raw) if json_body else None
    if evidence is not None:
        label, variant, confidence = evidence
        detail["methods"] = [] if label.startswith("reply:") else [label]
        detail["excerpt"] = excerpt(body_raw.strip())
    elif confidence:
        detail["methods"] = []
        detail["excerpt"] = _head_excerpt(data[:excerpt_end], plain)
    if confidence:
        return _mining(Outcome.MATCH, variant, confidence, detail)
    if not complete:
        return NEED_MORE if len(data) < MAX_HEAD else EXCLUDE
    if body is None and body_due:
        return NEED_MORE  # a JSON-RPC body announced but not (all) here yet
    return EXCLUDE


class HttpMiningSignature:
    """getwork / getblocktemplate over HTTP, mining headers, miner User-Agents."""

    name: str = "http-mining"
    transports: frozenset[int] = frozenset({6})

    def inspect(self, data: bytes, from_client: bool, transport: int) -> Verdict:
        if transport not in self.transports or not data:
            return NEED_MORE if transport in self.transports else EXCLUDE
        if data[:1] not in b"GPHOD":
            return EXCLUDE
        if not data.startswith(HTTP_HEADS):
            return NEED_MORE if any(h.startswith(data) for h in HTTP_HEADS) else EXCLUDE
        return inspect_http(data)
