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

from detector.signatures.jsonlines import Clue, Found, JsonRpcSignature, clip, method_of

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


def assess(obj: dict[str, Any]) -> Clue | None:
    """Evidence for Stratum v1 carried by one JSON object, or None."""
    method = method_of(obj)
    if method is not None:
        weight = CLIENT_METHODS.get(method) or POOL_METHODS.get(method)
        if weight is not None:
            return Clue(method, weight)
        if method.startswith("mining.") and len(method) <= 48:
            return Clue(method, UNKNOWN_MINING_METHOD)
        return None
    if "method" in obj:
        return None
    if _subscribe_reply(obj.get("result")):
        return Clue("reply:subscribe", SUBSCRIBE_REPLY)
    if _error_reply(obj):
        return Clue("reply:stratum-error", ERROR_REPLY)
    return None


def _strings(value: Any, depth: int = 0) -> list[str]:
    """Strings inside a small nested list (bounded), for EthereumStratum markers."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and depth < 3:
        return [s for item in value[:16] for s in _strings(item, depth + 1)]
    return []


def _port_like(value: Any) -> bool:
    if type(value) is int:
        return 0 < value < 65536
    return isinstance(value, str) and value.isdigit() and 0 < len(value) <= 5


def _variant(found: Found) -> str:
    equihash = False
    for clue, obj, _ in found.hits:
        params = obj.get("params")
        if clue.label == "mining.hello":
            return "ethereum-stratum-nicehash"
        if clue.label in ("mining.subscribe", "reply:subscribe"):
            source = params if clue.label == "mining.subscribe" else obj.get("result")
            if any(s.startswith("EthereumStratum/") for s in _strings(source)):
                return "ethereum-stratum-nicehash"
        if clue.label == "mining.set_target":
            equihash = True
        elif clue.label == "mining.subscribe" and isinstance(params, list):
            agent = params[0] if params and isinstance(params[0], str) else ""
            if _EQUIHASH_AGENT.search(agent[:64]) or (
                len(params) == 4 and (_port_like(params[3]) or _port_like(params[1]))
            ):
                equihash = True
        elif clue.label == "mining.notify" and isinstance(params, list):
            hexes = [isinstance(p, str) and _HEX64.fullmatch(p) is not None for p in params[:8]]
            if len(params) == 8 and all(hexes[2:5]):  # Zcash: version, prev, merkle, reserved
                equihash = True
            elif len(params) == 4 and hexes[1] and hexes[2]:  # job, seedhash, headerhash, clean
                return "ethereum-stratum-nicehash"
    return "stratum-v1-equihash" if equihash else "stratum-v1"


def _detail(found: Found) -> dict[str, Any]:
    detail: dict[str, Any] = {"methods": found.labels, "excerpt": found.first_line()}
    for clue, obj, _ in found.hits:
        params = obj.get("params")
        if "agent" not in detail:
            if clue.label == "mining.subscribe" and isinstance(params, list) and params:
                agent = clip(params[0])
                if agent:
                    detail["agent"] = agent
            elif clue.label == "mining.hello" and isinstance(params, dict):
                agent = clip(params.get("agent"))
                if agent:
                    detail["agent"] = agent
        is_authorize = clue.label == "mining.authorize" and "worker" not in detail
        if is_authorize and isinstance(params, list) and params:
            worker = clip(params[0], 64)
            if worker:
                detail["worker"] = worker
    return detail


class StratumSignature(JsonRpcSignature):
    """Stratum v1 JSON lines, client or pool side."""

    def __init__(self) -> None:
        super().__init__("stratum", assess, _variant, _detail)
