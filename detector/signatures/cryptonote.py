"""CryptoNote / Monero stratum (XMRig, xmr-stak and their pools).

JSON-RPC lines like Stratum v1, but with bare method names that are too generic to trust on
their own (`login`, `submit`, `job`): the *params shape* is what identifies the protocol.
`login` must carry a params object with a `login` string (the wallet), `submit` must carry
`job_id` and `nonce`, a `job` push must carry `blob`, `job_id` and `target`. The pool's reply
to a login (`"result": {"id": ..., "job": {...}, "status": "OK"}`) is evidence too.

Captures may begin mid-session (only `job` pushes and `submit`s, no login): each of those is
strong on its own because of its params shape. A generic `{"method":"login","params":
{"user":...}}` service has the method name but not the shape, and is excluded.
"""

from __future__ import annotations

from typing import Any

from detector.signatures.jsonlines import Clue, Found, JsonRpcSignature, clip, method_of

LOGIN = 0.97
SUBMIT = 0.95
JOB = 0.97
LOGIN_REPLY = 0.95
KEEPALIVE = 0.85
GETJOB = 0.85


def _has_strings(params: Any, *keys: str) -> bool:
    return isinstance(params, dict) and all(isinstance(params.get(k), str) for k in keys)


def _is_job(job: Any) -> bool:
    return _has_strings(job, "blob", "job_id", "target")


# One shared (frozen) clue per shape instead of one per call.
_LOGIN = Clue("login", LOGIN)
_SUBMIT = Clue("submit", SUBMIT)
_JOB = Clue("job", JOB)
_KEEPALIVE = Clue("keepalived", KEEPALIVE)
_GETJOB = Clue("getjob", GETJOB)
_LOGIN_REPLY = Clue("reply:login", LOGIN_REPLY)
_GETJOB_REPLY = Clue("reply:getjob", LOGIN_REPLY)


def assess(obj: dict[str, Any]) -> Clue | None:
    """Evidence for CryptoNote stratum carried by one JSON object, or None."""
    method = method_of(obj)
    params = obj.get("params")
    if method == "login":
        return _LOGIN if _has_strings(params, "login") else None
    if method == "submit":
        return _SUBMIT if _has_strings(params, "job_id", "nonce") else None
    if method == "job":
        return _JOB if _is_job(params) else None
    if method == "keepalived":
        return _KEEPALIVE if params is None or isinstance(params, dict) else None
    if method == "getjob":
        return _GETJOB if _has_strings(params, "id") else None
    if method is not None or "method" in obj:
        return None
    result = obj.get("result")
    if isinstance(result, dict) and _is_job(result.get("job")):
        return _LOGIN_REPLY
    if _is_job(result):  # reply to getjob
        return _GETJOB_REPLY
    return None


def _detail(found: Found) -> dict[str, Any]:
    detail: dict[str, Any] = {"methods": found.labels, "excerpt": found.first_line()}
    for clue, obj, _ in found.hits:
        params = obj.get("params")
        if clue.label == "login" and isinstance(params, dict):
            agent = clip(params.get("agent"))
            if agent:
                detail["agent"] = agent
            worker = clip(params.get("login"), 64)
            if worker:
                detail["worker"] = worker
            algo = params.get("algo")
            if isinstance(algo, list):
                detail["algo"] = [a for a in (clip(x, 32) for x in algo[:16]) if a]
            break
    return detail


class CryptoNoteSignature(JsonRpcSignature):
    """CryptoNote (Monero) stratum JSON lines, client or pool side."""

    def __init__(self) -> None:
        super().__init__("cryptonote", assess, lambda _found: "stratum-cryptonote", _detail)
