"""Stratum v1 (Bitcoin family, Zcash/Equihash, NiceHash EthereumStratum), both directions.

Newline-delimited JSON-RPC over TCP. Either side may speak first in a capture, so the
signature looks at client requests (`mining.subscribe`, `mining.authorize`, ...), pool pushes
(`mining.notify`, `mining.set_difficulty`, ...) and the one pool reply whose shape is
unmistakable on its own, the subscribe result
`[[["mining.set_difficulty", id], ["mining.notify", id]], extranonce1, extranonce2_size]`.
A bare `{"id":4,"result":true,"error":null}` is neutral: NEED_MORE, not a match.

Stratum pools also answer with errors as `[code, message, traceback]` arrays with codes in the
20s (20 other, 21 stale job, 24 unauthorized, ...); such a reply is weak evidence on its own
(a pool answering garbage from a TLS or HTTP client), so it matches with low confidence.

Variants: `stratum-v1`; `stratum-v1-equihash` (Zcash-style `mining.set_target`, an Equihash
miner agent, the 4-parameter subscribe, or the 8-field Zcash notify);
`ethereum-stratum-nicehash` (`EthereumStratum/x.y.z` in subscribe or its reply, or
`mining.hello`).
"""

from __future__ import annotations

import re
from typing import Any

from detector.signatures.jsonlines import Clue, Found, JsonRpcSignature, clip

# Client → pool requests and their confidence as sole evidence.
CLIENT_METHODS: dict[str, float] = {
    "mining.subscribe": 0.97,
    "mining.authorize": 0.97,
    "mining.configure": 0.95,  # BIP 310
    "mining.submit": 0.97,
    "mining.extranonce.subscribe": 0.97,
    "mining.suggest_difficulty": 0.95,
    "mining.suggest_target": 0.95,
    "mining.get_transactions": 0.95,
    "mining.multi_version": 0.9,
    "mining.hello": 0.95,  # ethminer EthereumStratum/2.0.0
    "mining.bye": 0.9,
    "mining.noop": 0.9,
}
# Pool → client pushes. The `client.*` names are short and generic, so they weigh less.
POOL_METHODS: dict[str, float] = {
    "mining.notify": 0.97,
    "mining.set_difficulty": 0.97,
    "mining.set_target": 0.97,  # Zcash/Equihash (ZIP 301)
    "mining.set_extranonce": 0.95,
    "mining.set_version_mask": 0.95,  # BIP 310
    "client.reconnect": 0.8,
    "client.show_message": 0.8,
    "client.get_version": 0.8,
}
UNKNOWN_MINING_METHOD = 0.85  # any other "mining.*" method: the namespace is Stratum's own
SUBSCRIBE_REPLY = 0.95
ERROR_REPLY = 0.6

_SUBSCRIPTION_NAMES = frozenset({"mining.notify", "mining.set_difficulty"})
_EQUIHASH_AGENT = re.compile(r"ewbf|equihash|nheqminer|dstm|optiminer|zcash", re.IGNORECASE)
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def _subscribe_reply(result: Any) -> bool:
    """True for `[[[name, id], ...], ...]` or `[[name, id], ...]` with Stratum subscriptions."""
    if not isinstance(result, list) or len(result) < 2 or not isinstance(result[0], list):
        return False
    head = result[0]
    candidates = [head, *(item for item in head[:8] if isinstance(item, list))]
    return any(
        len(c) >= 2 and isinstance(c[0], str) and c[0] in _SUBSCRIPTION_NAMES for c in candidates
    )


def _error_reply(obj: dict[str, Any]) -> bool:
    """`{"id": x, "result": null, "error": [code, "message", traceback]}`, code in the 20s."""
    error = obj.get("error")
    return (
        "id" in obj
        and "result" in obj
        and obj["result"] is None
        and isinstance(error, list)
        and 2 <= len(error) <= 3
        and type(error[0]) is int
        and 20 <= error[0] <= 29
        and isinstance(error[1], str)
    )


# Prebuilt clues: one shared (frozen) object per known method instead of one per call.
_METHOD_CLUES: dict[str, Clue] = {
    m: Clue(m, w) for m, w in {**POOL_METHODS, **CLIENT_METHODS}.items()
}
_SUBSCRIBE_REPLY = Clue("reply:subscribe", SUBSCRIBE_REPLY)
_ERROR_REPLY = Clue("reply:stratum-error", ERROR_REPLY)


def assess(obj: dict[str, Any]) -> Clue | None:
    """Evidence for Stratum v1 carried by one JSON object, or None."""
    method = obj.get("method")
    if isinstance(method, str) and method:
        clue = _METHOD_CLUES.get(method)
        if clue is not None:
            return clue
        if method.startswith("mining.") and len(method) <= 48:
            return Clue(method, UNKNOWN_MINING_METHOD)
        return None
    if "method" in obj:
        return None
    if _subscribe_reply(obj.get("result")):
        return _SUBSCRIBE_REPLY
    if _error_reply(obj):
        return _ERROR_REPLY
    return None


def _has_ethereum_stratum(value: Any, depth: int = 0) -> bool:
    """An `EthereumStratum/` string inside a small nested list (bounded: 3 levels, 16 items)."""
    if isinstance(value, str):
        return value.startswith("EthereumStratum/")
    if isinstance(value, list) and depth < 3:
        for item in value[:16]:
            if isinstance(item, str):
                if item.startswith("EthereumStratum/"):
                    return True
            elif _has_ethereum_stratum(item, depth + 1):
                return True
    return False


def _equihash_agent(agent: str) -> bool:
    """`_EQUIHASH_AGENT.search(agent)`; for ASCII text (nearly every agent) `lower()` and `in`
    give the same answer at half the cost (case-insensitive regex matching differs only on
    non-ASCII letters such as `ſ` or the Kelvin sign)."""
    if not agent.isascii():
        return _EQUIHASH_AGENT.search(agent) is not None
    a = agent.lower()
    return (
        "ewbf" in a
        or "equihash" in a
        or "nheqminer" in a
        or "dstm" in a
        or "optiminer" in a
        or "zcash" in a
    )


def _port_like(value: Any) -> bool:
    if type(value) is int:
        return 0 < value < 65536
    return isinstance(value, str) and value.isdigit() and 0 < len(value) <= 5


# The labels `_variant` looks at; any other clue says nothing about the variant.
_VARIANT_LABELS = frozenset(
    {"mining.hello", "mining.subscribe", "reply:subscribe", "mining.set_target", "mining.notify"}
)


def _hex64(value: Any) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _variant(found: Found) -> str:
    equihash = False
    for clue, obj, _ in found.hits:
        label = clue.label
        if label not in _VARIANT_LABELS:
            continue
        if label == "mining.hello":
            return "ethereum-stratum-nicehash"
        if label == "reply:subscribe":
            if _has_ethereum_stratum(obj.get("result")):
                return "ethereum-stratum-nicehash"
            continue
        if label == "mining.set_target":
            equihash = True
            continue
        params = obj.get("params")
        if label == "mining.subscribe":
            if _has_ethereum_stratum(params):
                return "ethereum-stratum-nicehash"
            if isinstance(params, list):
                agent = params[0] if params and isinstance(params[0], str) else ""
                if _equihash_agent(agent[:64]) or (
                    len(params) == 4 and (_port_like(params[3]) or _port_like(params[1]))
                ):
                    equihash = True
        elif isinstance(params, list):  # mining.notify
            if len(params) == 8:  # Zcash: version, prev, merkle, reserved
                if _hex64(params[2]) and _hex64(params[3]) and _hex64(params[4]):
                    equihash = True
            elif len(params) == 4 and _hex64(params[1]) and _hex64(params[2]):
                return "ethereum-stratum-nicehash"  # job, seedhash, headerhash, clean
    return "stratum-v1-equihash" if equihash else "stratum-v1"


_DETAIL_LABELS = frozenset({"mining.subscribe", "mining.hello", "mining.authorize"})


def _detail(found: Found) -> dict[str, Any]:
    detail: dict[str, Any] = {"methods": found.labels, "excerpt": found.first_line()}
    for clue, obj, _ in found.hits:
        label = clue.label
        if label not in _DETAIL_LABELS:
            continue
        params = obj.get("params")
        if label == "mining.authorize":
            if "worker" not in detail and isinstance(params, list) and params:
                worker = clip(params[0], 64)
                if worker:
                    detail["worker"] = worker
        elif "agent" not in detail:
            if label == "mining.subscribe":
                agent = clip(params[0]) if isinstance(params, list) and params else None
            else:  # mining.hello
                agent = clip(params.get("agent")) if isinstance(params, dict) else None
            if agent:
                detail["agent"] = agent
    return detail


class StratumSignature(JsonRpcSignature):
    """Stratum v1 JSON lines, client or pool side."""

    def __init__(self) -> None:
        super().__init__("stratum", assess, _variant, _detail)
