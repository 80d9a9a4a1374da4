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

Most calls are cgminer's few shapes (a head, then head and body), so `inspect_http` takes short
ways where one compiled pass (`http_head.read_message`) shows they give the same result: orjson
for an ASCII body with no long digit run and few brackets (the standard parser for anything it
refuses), excerpts of printable ASCII without Unicode checks, confidences rounded once at import.
The plain step-by-step reading is the oracle of tests/signatures/test_httpfast_equivalence.py,
which holds the two to the same verdicts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

from detector.base import EXCLUDE, NEED_MORE, EvidenceKind, HitClass, Outcome, Verdict
from detector.signatures.ethproxy import work_triple
from detector.signatures.http_head import (
    BODY_TEXT,
    FAST_JSON,
    HEAD_TEXT,
    HTTP,
    MAX_HEAD,
    MINING_NAMES,
    NO_LINE,
    read_message,
)
from detector.signatures.jsonlines import EXCERPT_LEN, clip, excerpt, scan_prefix

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


_KIND, _CLASS = EvidenceKind.HTTP_MINING, HitClass.MINING
_MATCH, _NEED_MORE = Outcome.MATCH, Outcome.NEED_MORE
# By mining mask: the headers' confidence, and with a miner User-Agent too; rounded to 4 places
_HEAD_CONFIDENCE = tuple(round(c, 4) for c in _MINING_CONFIDENCE)
_AGENT_CONFIDENCE = tuple(
    round(min(0.95, c + 0.03) if c else USER_AGENT, 4) for c in _MINING_CONFIDENCE
)
_ROUNDED = {c: round(c, 4) for c in (0.9, 0.95, *(c for _, c in BODY_METHODS.values()))}
_JSON_START_CODES = frozenset(JSON_START_BYTES)
# `_body_evidence` of an object whose "method" is one of BODY_METHODS
_METHOD_EVIDENCE = {method: (method, *found) for method, found in BODY_METHODS.items()}
_FIRST_BYTES = frozenset(b"GPHOD")  # how HTTP_HEADS start


def inspect_http(data: bytes) -> Verdict:
    """Judge the first HTTP message of one direction: the plain reading's verdict (the oracle
    in tests/signatures/test_httpfast_equivalence.py), the short way where
    `http_head.read_message` says it is safe (orjson for the body; excerpts without Unicode
    checks) and without repeating the rounding."""
    (status, head_end, _, ua_start, ua_end, expected, json_type, mining, excerpt_end, plain,
     body_start, body_end, text_start, text_end, flags) = read_message(
        data, MAX_BODY, EXCERPT_LEN)  # fmt: skip
    if status != HTTP:
        return NEED_MORE if status == NO_LINE and len(data) < 2048 else EXCLUDE
    if mining:
        detail: dict[str, Any] = {"headers": list(_MINING_FOUND[mining])}
        confidence = _HEAD_CONFIDENCE[mining]
    else:
        detail, confidence = {}, 0.0
    if ua_end > ua_start:
        user_agent = data[ua_start:ua_end].decode("latin-1")
        if _miner_agent(user_agent) is not None:
            detail["user_agent"] = clip(user_agent)
            confidence = _AGENT_CONFIDENCE[mining]
    size = body_end - body_start
    first = data[body_start] if size else -1
    complete = head_end >= 0
    body_due = (
        complete and (json_type or first == 123 or first == 91) and size < min(expected, MAX_BODY)
    )
    if confidence and body_due and len(data) < MAX_HEAD:
        detail["methods"] = []
        detail["excerpt"] = _fast_head_excerpt(data, excerpt_end, plain, flags)
        return Verdict(_NEED_MORE, _KIND, _CLASS, "http-mining-extensions", confidence, detail)
    body = evidence = None
    if complete and first in _JSON_START_CODES:
        raw = data[body_start:body_end]
        if flags & FAST_JSON:
            try:
                body = orjson.loads(raw)
            except Exception:  # refused (NaN, lone surrogate, not JSON): the standard parser
                body = _parse_body(raw)
        else:
            body = _parse_body(raw)
        method = body.get("method") if type(body) is dict else None
        if type(method) is str and method in _METHOD_EVIDENCE:  # a request: the usual case
            evidence = _METHOD_EVIDENCE[method]
        elif body is not None:
            evidence = _body_evidence(body)
        else:
            evidence = _truncated_evidence(raw)
    if evidence is not None:
        label, variant, found = evidence
        confidence = _ROUNDED.get(found) or round(found, 4)
        detail["methods"] = [] if label.startswith("reply:") else [label]
        if flags & BODY_TEXT:
            detail["excerpt"] = data[text_start : min(text_end, text_start + EXCERPT_LEN)].decode()
        else:
            detail["excerpt"] = excerpt(data[text_start:text_end])
        return Verdict(_MATCH, _KIND, _CLASS, variant, confidence, detail)
    if confidence:
        detail["methods"] = []
        detail["excerpt"] = _fast_head_excerpt(data, excerpt_end, plain, flags)
        return Verdict(_MATCH, _KIND, _CLASS, "http-mining-extensions", confidence, detail)
    if not complete:
        return NEED_MORE if len(data) < MAX_HEAD else EXCLUDE
    if body is None and body_due:
        return NEED_MORE  # a JSON-RPC body announced but not (all) here yet
    return EXCLUDE


def _fast_head_excerpt(data: bytes, end: int, plain: int, flags: int) -> str:
    """`_head_excerpt(data[:end], plain)`: for printable plain lines (HEAD_TEXT), only the
    bytes that can reach the excerpt are joined (a CRLF cut at the last of them lands past it)."""
    if flags & HEAD_TEXT:
        return data[: min(end, EXCERPT_LEN + 1)].replace(b"\r\n", b" | ")[:EXCERPT_LEN].decode()
    return _head_excerpt(data[:end], plain)


class HttpMiningSignature:
    """getwork / getblocktemplate over HTTP, mining headers, miner User-Agents."""

    name: str = "http-mining"
    transports: frozenset[int] = frozenset({6})

    def inspect(self, data: bytes, from_client: bool, transport: int) -> Verdict:
        if transport not in self.transports or not data:
            return NEED_MORE if transport in self.transports else EXCLUDE
        if data[0] not in _FIRST_BYTES:
            return EXCLUDE
        if not data.startswith(HTTP_HEADS):
            return NEED_MORE if any(h.startswith(data) for h in HTTP_HEADS) else EXCLUDE
        return inspect_http(data)
