"""eth-proxy: Ethereum getwork over a raw TCP stratum-style connection (ethminer `stratum1+tcp`).

Miners send `eth_submitLogin` / `eth_login`, `eth_getWork`, `eth_submitWork`,
`eth_submitHashrate` as newline-delimited JSON-RPC, usually with an extra `"worker"` member.
The pool answers `eth_getWork` (and pushes new work) with a three-hash result
`["0x<header hash>", "0x<seed hash>", "0x<boundary>"]`; that triple is the server-side evidence
when the capture shows only the pool direction.

`eth_getWork`/`eth_submitWork`/`eth_submitHashrate` are also standard Ethereum node RPC
methods, but only miners call them, and here they must arrive as newline-delimited JSON at the
very start of a TCP stream, not as an HTTP request to a node (that case is `http_mining`'s).
"""

from __future__ import annotations

import re
from typing import Any

from detector.signatures.jsonlines import Clue, Found, JsonRpcSignature, clip

METHODS: dict[str, float] = {
    "eth_submitLogin": 0.97,
    "eth_login": 0.95,
    "eth_getWork": 0.95,
    "eth_submitWork": 0.97,
    "eth_submitHashrate": 0.95,
}
WORK_REPLY = 0.9

_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_HEXNUM = re.compile(r"0x[0-9a-fA-F]{1,64}")


def work_triple(result: Any) -> bool:
    """`["0x<64 hex>", "0x<64 hex>", "0x<hex>"]` (an optional 4th member: block number)."""
    if not isinstance(result, list) or not 3 <= len(result) <= 4:
        return False
    if not all(isinstance(item, str) for item in result):
        return False
    return (
        _HASH.fullmatch(result[0]) is not None
        and _HASH.fullmatch(result[1]) is not None
        and _HEXNUM.fullmatch(result[2]) is not None
    )


# Prebuilt clues: one shared (frozen) object per method instead of one per call.
_METHOD_CLUES: dict[str, Clue] = {m: Clue(m, w) for m, w in METHODS.items()}
_WORK_REPLY = Clue("reply:getwork", WORK_REPLY)


def assess(obj: dict[str, Any]) -> Clue | None:
    """Evidence for eth-proxy carried by one JSON object, or None."""
    method = obj.get("method")
    if isinstance(method, str) and method:
        return _METHOD_CLUES.get(method)
    if "method" not in obj and work_triple(obj.get("result")):
        return _WORK_REPLY
    return None


_LOGINS = frozenset({"eth_submitLogin", "eth_login"})


def _detail(found: Found) -> dict[str, Any]:
    detail: dict[str, Any] = {"methods": found.labels, "excerpt": found.first_line()}
    for clue, obj, _ in found.hits:
        if clue.label in _LOGINS:
            params = obj.get("params")
            login = clip(params[0], 64) if isinstance(params, list) and params else None
            worker = clip(obj.get("worker"), 64)
            if login or worker:
                detail["worker"] = login or worker
                break
    return detail


class EthProxySignature(JsonRpcSignature):
    """eth-proxy JSON lines, client or pool side."""

    def __init__(self) -> None:
        super().__init__("ethproxy", assess, lambda _found: "eth-proxy", _detail)
