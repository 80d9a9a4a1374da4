"""The JSON-lines signatures' shortcuts give exactly the straightforward answers.

`jsonlines.judge` takes shortcuts for the common first payloads and falls back to
`jsonlines._judge_reference`; the signatures' `assess`, variant and detail functions were
rewritten for speed. The oracle here is the straightforward version of each (the rewritten
pieces as they were before, reading the same method tables; the helpers the rewrite left alone,
such as the reply-shape tests and CryptoNote's detail, are called, not copied): every verdict —
outcome, kind, class, variant, confidence and detail, compared by `repr` so that key order,
int/float and NaN count — must be identical, on the streams the scan feeds the signatures from
the shared real captures and the repo's samples, on cuts of those, and on generated streams.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.base import EXCLUDE, Outcome, Verdict
from detector.signatures import SIGNATURES, cryptonote, ethproxy, jsonlines, stratum
from detector.signatures.jsonlines import Clue, Found, clip, method_of
from minewatch.lists import build_matcher
from minewatch.scanrun import collect_hits
from tests.conftest import MINING, SAMPLES, captures, need_shared

NAMES = ("stratum", "ethproxy", "cryptonote")

# --- the oracle: straightforward assess / variant / detail -------------------------------------


def _labels(found: Found) -> list[str]:
    return sorted({c.label for c, _, _ in found.hits if not c.label.startswith("reply:")})


def _stratum_assess(obj: dict[str, Any]) -> Clue | None:
    method = method_of(obj)
    if method is not None:
        weight = stratum.CLIENT_METHODS.get(method) or stratum.POOL_METHODS.get(method)
        if weight is not None:
            return Clue(method, weight)
        if method.startswith("mining.") and len(method) <= 48:
            return Clue(method, stratum.UNKNOWN_MINING_METHOD)
        return None
    if "method" in obj:
        return None
    # the reply-shape tests were not rewritten: the oracle calls them
    if stratum._subscribe_reply(obj.get("result")):
        return Clue("reply:subscribe", stratum.SUBSCRIBE_REPLY)
    if stratum._error_reply(obj):
        return Clue("reply:stratum-error", stratum.ERROR_REPLY)
    return None


def _strings(value: Any, depth: int = 0) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and depth < 3:
        return [s for item in value[:16] for s in _strings(item, depth + 1)]
    return []


_EQUIHASH_AGENT = re.compile(r"ewbf|equihash|nheqminer|dstm|optiminer|zcash", re.IGNORECASE)
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def _stratum_variant(found: Found) -> str:
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
                len(params) == 4
                and (stratum._port_like(params[3]) or stratum._port_like(params[1]))
            ):
                equihash = True
        elif clue.label == "mining.notify" and isinstance(params, list):
            hexes = [isinstance(p, str) and _HEX64.fullmatch(p) is not None for p in params[:8]]
            if len(params) == 8 and all(hexes[2:5]):
                equihash = True
            elif len(params) == 4 and hexes[1] and hexes[2]:
                return "ethereum-stratum-nicehash"
    return "stratum-v1-equihash" if equihash else "stratum-v1"


def _stratum_detail(found: Found) -> dict[str, Any]:
    detail: dict[str, Any] = {"methods": _labels(found), "excerpt": found.first_line()}
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


_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_HEXNUM = re.compile(r"0x[0-9a-fA-F]{1,64}")


def _ethproxy_assess(obj: dict[str, Any]) -> Clue | None:
    method = method_of(obj)
    if method is not None:
        weight = ethproxy.METHODS.get(method)
        return Clue(method, weight) if weight is not None else None
    result = obj.get("result")
    if (
        "method" not in obj
        and isinstance(result, list)
        and 3 <= len(result) <= 4
        and all(isinstance(item, str) for item in result)
        and _HASH.fullmatch(result[0]) is not None
        and _HASH.fullmatch(result[1]) is not None
        and _HEXNUM.fullmatch(result[2]) is not None
    ):
        return Clue("reply:getwork", ethproxy.WORK_REPLY)
    return None


def _ethproxy_detail(found: Found) -> dict[str, Any]:
    detail: dict[str, Any] = {"methods": _labels(found), "excerpt": found.first_line()}
    for clue, obj, _ in found.hits:
        if "worker" not in detail and clue.label in ("eth_submitLogin", "eth_login"):
            params = obj.get("params")
            login = clip(params[0], 64) if isinstance(params, list) and params else None
            worker = clip(obj.get("worker"), 64)
            if login or worker:
                detail["worker"] = login or worker
    return detail


def _cryptonote_assess(obj: dict[str, Any]) -> Clue | None:
    c = cryptonote
    method = method_of(obj)
    params = obj.get("params")
    if method == "login":
        return Clue("login", c.LOGIN) if c._has_strings(params, "login") else None
    if method == "submit":
        return Clue("submit", c.SUBMIT) if c._has_strings(params, "job_id", "nonce") else None
    if method == "job":
        return Clue("job", c.JOB) if c._is_job(params) else None
    if method == "keepalived":
        return (
            Clue("keepalived", c.KEEPALIVE) if params is None or isinstance(params, dict) else None
        )
    if method == "getjob":
        return Clue("getjob", c.GETJOB) if c._has_strings(params, "id") else None
    if method is not None or "method" in obj:
        return None
    result = obj.get("result")
    if isinstance(result, dict) and c._is_job(result.get("job")):
        return Clue("reply:login", c.LOGIN_REPLY)
    if c._is_job(result):
        return Clue("reply:getjob", c.LOGIN_REPLY)
    return None


ORACLE: dict[
    str,
    tuple[
        Callable[[dict[str, Any]], Clue | None],
        Callable[[Found], str],
        Callable[[Found], dict[str, Any]],
    ],
] = {
    "stratum": (_stratum_assess, _stratum_variant, _stratum_detail),
    "ethproxy": (_ethproxy_assess, lambda _f: "eth-proxy", _ethproxy_detail),
    # CryptoNote's detail was not rewritten (its `Found.labels` is checked through the others)
    "cryptonote": (_cryptonote_assess, lambda _f: "stratum-cryptonote", cryptonote._detail),
}
MODULES = {"stratum": stratum, "ethproxy": ethproxy, "cryptonote": cryptonote}


def reference_inspect(name: str, data: bytes, transport: int) -> Verdict:
    """What the signature answered before the shortcuts: `_judge_reference` plus the oracle."""
    if transport != 6:
        return EXCLUDE
    assess, variant, detail = ORACLE[name]
    found = jsonlines._judge_reference(data, assess)
    if isinstance(found, Verdict):
        return found
    return jsonlines.JsonRpcSignature(name, assess, variant, detail).verdict(found)


def comparable(verdict: Verdict | Found) -> tuple[object, ...]:
    if isinstance(verdict, Found):
        return ("found", repr(verdict.confidence), repr(verdict.hits))
    v = verdict
    return (v.outcome, v.kind, v.cls, v.variant, repr(v.confidence), repr(v.detail))


def check(data: bytes, from_client: bool = True, transport: int = 6) -> None:
    """Every JSON-lines signature, and `judge` with every `assess`, agree with the oracle."""
    for name in NAMES:
        got = SIGNATURES[name].inspect(data, from_client, transport)
        want = reference_inspect(name, data, transport)
        assert comparable(got) == comparable(want), (name, data[:300])
        fast = jsonlines.judge(data, MODULES[name].assess)
        slow = jsonlines._judge_reference(data, ORACLE[name][0])
        assert comparable(fast) == comparable(slow), (name, data[:300])


# --- real captures ------------------------------------------------------------------------------


def _cuts(data: bytes) -> Iterator[bytes]:
    """The stream (also with CRLF and space-padded line ends), its prefixes ending at or just
    before each newline, and streams starting at or in the middle of each line."""
    yield data
    yield data.replace(b"\n", b"\r\n")
    yield data.replace(b"\n", b" \t\n")
    start = 0
    for _ in range(jsonlines.MAX_LINES + 2):
        end = data.find(b"\n", start)
        if end < 0:
            break
        yield data[: end + 1]
        yield data[:end]
        yield data[: (start + end) // 2]
        yield data[start : end + 1]  # a stream that starts at this line (mid-session)
        yield data[(start + end) // 2 :]  # one that starts mid-line
        start = end + 1


@pytest.fixture(scope="module")
def scan_streams() -> list[tuple[bytes, bool, int]]:
    """Every stream the scan shows the JSON-lines signatures on the mining captures and the
    repo's samples (captured by wrapping the registered signatures during `collect_hits`)."""
    need_shared()
    seen: dict[tuple[bytes, bool, int], None] = {}
    originals = {name: SIGNATURES[name].inspect for name in NAMES}

    def recorder(name: str) -> Callable[[bytes, bool, int], Verdict]:
        def inspect(data: bytes, from_client: bool, transport: int) -> Verdict:
            seen.setdefault((bytes(data), from_client, transport), None)
            return originals[name](data, from_client, transport)

        return inspect

    files = captures(MINING) + sorted(SAMPLES.glob("*.pcap*"))
    try:
        for name in NAMES:
            SIGNATURES[name].inspect = recorder(name)  # type: ignore[method-assign,assignment]
        collect_hits(files, build_matcher()[0])
    finally:
        for name in NAMES:
            del SIGNATURES[name].inspect  # back to the class's method
    assert len(seen) > 100
    return list(seen)


def test_real_scan_streams_agree(scan_streams: list[tuple[bytes, bool, int]]) -> None:
    matches = 0
    for data, from_client, transport in scan_streams:
        check(data, from_client, transport)
        matches += SIGNATURES["stratum"].inspect(data, from_client, 6).outcome is Outcome.MATCH
    assert matches > 50  # the shapes that matter were exercised


def test_cuts_of_real_streams_agree(scan_streams: list[tuple[bytes, bool, int]]) -> None:
    for data, from_client, _ in scan_streams:
        for cut in _cuts(data):
            check(cut, from_client)


# --- generated streams --------------------------------------------------------------------------

H64 = "ab" * 32
METHODS = [
    *stratum.CLIENT_METHODS, *stratum.POOL_METHODS, *ethproxy.METHODS, "mining.other",
    "mining." + "x" * 42, "login", "submit", "job", "keepalived", "getjob", "echo", "", "Mining.x",
]  # fmt: skip
STRINGS = [
    "cgminer/3.7.2", "EthereumStratum/1.0.0", "nheqminer/0.5c", "EWBF", "ſtm", "DSTM",
    "xmrig/6", "0x" + H64, H64, "0x1f", "3333", "0", "70000", "w.1", "", "a\x01b", "é" * 99,
]  # fmt: skip
KEYS = ["login", "agent", "algo", "blob", "job_id", "target", "nonce", "id", "job"]
strings = st.sampled_from(STRINGS) | st.text(max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | strings
    | st.sampled_from([21, 24, 65535, 65536])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=9)
        | st.dictionaries(
            st.sampled_from(KEYS) | st.text(max_size=4),
            inner,
            max_size=5,
        )
    ),
    max_leaves=14,
)
rpc = st.fixed_dictionaries(
    {},
    optional={
        "id": st.none() | st.integers(0, 10**21) | st.text(max_size=3),
        "method": st.sampled_from(METHODS) | values,
        "params": values,
        "result": values,
        "error": values | st.sampled_from([[21, "Job not found", None], [24, "x"]]),
        "worker": strings,
        "jsonrpc": st.just("2.0"),
    },
)
lines = rpc.map(lambda o: json.dumps(o).encode()) | st.sampled_from(
    [b"", b"  ", b"junk", b"[1]", b"{bad", b'{"a":NaN}', b'{"n":123456789012345678901}', b"}"]
)


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Mostly whole lines from the first byte (the shortcut's shape), else any start and end."""
    parts = draw(st.lists(lines, min_size=1, max_size=5))
    eol = draw(st.sampled_from([b"\n", b"\r\n", b" \n", b"\t\r\n"]))
    start = draw(st.sampled_from([b""] * 6 + [b" ", b"\n", b'"x"]}\n', b"\x00}\n"]))
    end = draw(st.sampled_from([eol] * 6 + [b"", b"\n  ", b'{"id":1,"method":"mining.su']))
    data = start + eol.join(parts) + end
    if draw(st.integers(0, 3)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


@settings(
    max_examples=1500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(streams(), st.sampled_from([6, 6, 6, 17]))
def test_generated_streams_agree(data: bytes, transport: int) -> None:
    check(data, True, transport)


EDGES = [
    b"",
    b" \r\n",
    b"{",
    b"{}\n",
    b"{}\n{}\n",
    b'{"id": 4, "method": "mining.subscribe", "params": ["cgminer/3.7.2"]}\n',
    b'{"id":1,"method":"mining.subscribe","params":[],"x":NaN}\n',
    b'{"id":99999999999999999999,"method":"mining.subscribe"}\n',
    b'{"id":1,"result":true}\n' * 70,
    b'{"id":1,"result":true}\n' * 64 + b'{"id":1,"method":"mining.notify","params":[]}\n',
    b'{"id":1,"result":true}\n' * 63 + b'{"id":1,"method":"mining.notify","params":[]}\n',
    b'{"method":"mining.notify","params":["' + b"a" * 9000 + b'"]}\n',
    b'{"method":"mining.notify","params":["' + b"a" * 17000 + b'"]}\n',
    b'{"method":"mining.subscribe"}\n' + b" " * 17000 + b"\n",
    b'{"id":1,"method":"eth_submitLogin","params":["0xabc"],"worker":"rig"}\n'
    b'{"id":2,"method":"mining.subscribe","params":["EthereumStratum/1.0.0"]}\n',
    b'{"id":1,"method":"login","params":{"login":"w","agent":"XMRig","algo":["rx/0",1]}}\n'
    b'{"id":2,"method":"mining.authorize","params":["w.1"]}\n',
]


@pytest.mark.parametrize("data", EDGES)
def test_edge_streams_agree(data: bytes) -> None:
    check(data)


@pytest.mark.parametrize(
    "number", [b"-9223372036854775809", b"-9999999999999999999", b"-9223372036854775808"]
)
def test_load_object_keeps_big_negative_integers(number: bytes) -> None:
    """orjson turns an integer below -2**63 (19 digits) into a float; json keeps the int."""
    line = b'{"id": ' + number + b', "method": "mining.submit"}'
    assert repr(jsonlines.load_object(line)) == repr(json.loads(line))
