"""The HTTP mining signature's short ways give exactly the plain way's verdicts.

`http_mining.inspect_http` reads the body with orjson and builds excerpts without Unicode checks
where `http_head.read_message` says that is safe; `reference_inspect_http` below is the plain
step-by-step reading (the signature's code before the short ways). Every field of the verdict
(outcome, kind, class, variant, confidence with its exact float, detail with its key order)
must agree, on generated messages and on every
HTTP stream of the shared captures (read at test time, never committed), cut at many offsets.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.base import EXCLUDE, NEED_MORE, EvidenceKind, HitClass, Outcome, Verdict
from detector.signatures.http_head import (
    BODY_TEXT,
    FAST_JSON,
    HEAD_TEXT,
    HTTP,
    MAX_HEAD,
    NO_LINE,
    read_head,
    read_message,
)
from detector.signatures.http_mining import (
    _MINING_CONFIDENCE,
    _MINING_FOUND,
    HTTP_HEADS,
    JSON_START_BYTES,
    MAX_BODY,
    USER_AGENT,
    _body_evidence,
    _head_excerpt,
    _miner_agent,
    _parse_body,
    _truncated_evidence,
    inspect_http,
)
from detector.signatures.jsonlines import EXCERPT_LEN, clip, excerpt

from .flowpayloads import BENIGN_DIR, MINING_DIR, read_flows

JSON_START = frozenset(bytes([c]) for c in JSON_START_BYTES)


def _mining(outcome: Outcome, variant: str, confidence: float, detail: dict[str, Any]) -> Verdict:
    """An HTTP mining verdict, its confidence rounded to 4 places."""
    return Verdict(outcome, kind=EvidenceKind.HTTP_MINING, cls=HitClass.MINING, variant=variant,
                   confidence=round(confidence, 4), detail=detail)  # fmt: skip


def reference_inspect_http(data: bytes) -> Verdict:
    """`inspect_http` the plain way, step by step (the code before the short ways): the rules it
    must keep."""
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
    json_body = complete and body_raw[:1] in JSON_START
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


SAMPLES_DIR = Path(__file__).resolve().parents[2] / "samples"
SETTINGS = settings(
    max_examples=600,
    deadline=timedelta(milliseconds=500),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def key(verdict: Verdict) -> str:
    """Everything a verdict says, exact floats and key order included."""
    v = verdict
    return repr((v.outcome, v.kind, v.cls, v.variant, v.confidence, v.detail))


def same(data: bytes) -> None:
    assert key(inspect_http(data)) == key(reference_inspect_http(data)), data


# --- generated messages -------------------------------------------------------------------

FIRST_LINES = [
    b"POST / HTTP/1.1", b"POST /rpc HTTP/1.0", b"GET /work HTTP/1.1", b"HTTP/1.1 200 OK",
    b"HTTP/1.0 500 Internal Server Error", b"PUT /x HTTP/1.1", b"POST  / HTTP/1.1", b"POST /",
    b"HTTP/1.1 200", b"OPTIONS * HTTP/1.1",
]  # fmt: skip
NAMES = [
    b"User-Agent", b"user-agent", b"USER-AGENT", b" User-Agent ", b"Content-Length",
    b"content-length", b"Content-Type", b"X-Mining-Extensions", b"x-stratum", b"X-Long-Polling",
    b"X-Mining-Hashrate", b"X-Roll-NTime", b"Host", b"Accept", b"Authorization", b"X-Other",
]  # fmt: skip
VALUES = [
    b"cgminer 3.7.2", b"cgminer/4.10.0", b"bfgminer/5.4.2 (Linux)",
    b"XMRig/6.21.0 (Windows NT 10.0; Win64)", b"Mozilla/5.0 (X11; cgminer/1)",
    b"(cgminer/1) curl/8", b"python-requests/2.31", b"application/json",
    b"application/JSON-rpc", b"text/html", b"44", b"116", b" 12 ", b"0", b"99999999",
    b"123456789", b"-1", b"\xa044", b"longpoll midstate rollntime", b"", b"\xe9t\xe9",
    b"a\tb", b"x\rb",
]  # fmt: skip
BODIES = [
    b'{"method": "getwork", "params": [], "id":0}',
    b'{"id": 0, "method": "getblocktemplate", "params": [{"capabilities": ["coinbasetxn"]}]}',
    b'{"result": {"data": "00000001abcdef0123456789", "target": "ffff"}, "error": null}',
    b'{"result": {"previousblockhash": "00ab", "coinbasevalue": 5000000000, "bits": "1d"}}',
    b'{"result": {"previousblockhash": "00ab", "version": 2, "transactions": [{"data": "00"},',
    b'{"result": ["0x' + b"a" * 64 + b'", "0x' + b"b" * 64 + b'", "0x1f"], "id": 1}',
    b'[{"method": "eth_getWork"}, {"method": "eth_submitHashrate", "params": [1e400]}]',
    b'{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}',
    b'{"method": "submitblock", "params": ["00"], "id": 123456789012345678901234567890}',
    b'{"method": "getwork", "x": NaN}', b'{"method": "get\\u0077ork"}',
    b'{"method": "getwork\\ud800"}', b'{"method": "getwork", "s": "\\ud83d\\ude00"}',
    b'{"method": "getwork"} trailing', b'{"method": "getwork"}{"method": "getwork"}',
    b'{"method": "x", "method": "getwork"}', b'{"method": "getwork", "a": -9999999999999999999}',
    b'{"method": "getwork", "a": "\xc3\xa9"}', b'{"method": "getwork", "a": "\xed\xa0\x80"}',
    b"[" * 70 + b"]" * 70, b"[" * 1030 + b"]" * 1030, b"<html>hi</html>", b"",
]  # fmt: skip

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["getwork", "getblocktemplate", "eth_submitWork", "0x" + "ab" * 32])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["method", "result", "data", "target", "previousblockhash", "bits"])
            | st.text(max_size=5),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        body = draw(st.sampled_from(BODIES))
    else:
        value = draw(json_values)
        body = json.dumps(value, ensure_ascii=draw(st.booleans()), allow_nan=True).encode(
            "utf-8", "surrogatepass"
        )
    if draw(st.booleans()):  # junk around it: blanks, trailing data, a second message
        before = draw(st.sampled_from([b"", b" ", b"\n", b"\t", b"\x0c", b"\x0b"]))
        after = draw(st.sampled_from([b"", b"\n", b" ", b"\r\n", b"x", b"\x00", b"POST / "]))
        body = before + body + after
    if draw(st.integers(0, 4)) == 0:
        body = body + b" " * MAX_BODY  # past what the signature parses
    return body


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    eol = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n", b" \r\n"]))
    lines = [draw(st.sampled_from(FIRST_LINES))]
    body = draw(bodies())
    for _ in range(draw(st.integers(0, 14))):
        name = draw(st.sampled_from(NAMES))
        value = draw(st.sampled_from(VALUES) | st.binary(max_size=12))
        if name.strip().lower() == b"content-length" and draw(st.booleans()):
            value = str(max(0, len(body) + draw(st.integers(-5, 5)))).encode()
        lines.append(name + draw(st.sampled_from([b": ", b":", b" : ", b":\t"])) + value)
    data = eol.join(lines) + eol + eol + body
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


@SETTINGS
@given(data=messages())
def test_generated_messages(data: bytes) -> None:
    same(data)


@SETTINGS
@given(data=st.binary(max_size=400).map(lambda b: b"POST / HTTP/1.1\r\n" + b))
def test_arbitrary_bytes_after_a_request_line(data: bytes) -> None:
    same(data)


def test_the_short_ways_are_taken_for_a_cgminer_request() -> None:
    """A guard against a fast path that silently never runs."""
    head = (
        b"POST / HTTP/1.1\r\nHost: pool:3335\r\nContent-type: application/json\r\n"
        b"X-Mining-Extensions: longpoll midstate rollntime\r\nContent-Length: 44\r\n"
        b"User-Agent: cgminer 3.7.2\r\n\r\n"
    )
    body = b'{"method": "getwork", "params": [], "id":0}'
    flags = read_message(head + body, MAX_BODY, EXCERPT_LEN)[-1]
    assert flags == FAST_JSON | BODY_TEXT | HEAD_TEXT
    same(head)
    same(head + body)


def test_orjson_is_not_trusted_with_long_integers_or_deep_nesting() -> None:
    head = b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n"
    for body in (b'{"a": ' + b"9" * 19 + b"}", b"[" * 65 + b"]" * 65, b'{"a": "\xc3\xa9"}'):
        data = head % len(body) + body
        assert not read_message(data, MAX_BODY, EXCERPT_LEN)[-1] & FAST_JSON
        same(data)


# --- the shared captures -------------------------------------------------------------------


@lru_cache(maxsize=1)
def capture_streams() -> tuple[bytes, ...]:
    """Each direction of each flow in the shared captures and the samples that starts like
    an HTTP message."""
    paths = [
        p
        for d in (MINING_DIR, BENIGN_DIR, SAMPLES_DIR)
        if d.is_dir()
        for p in sorted(d.iterdir())
        if p.suffix in (".pcap", ".pcapng")
    ]
    streams = []
    for path in paths:
        for flow in read_flows(path):
            for data in (flow.client_data, flow.server_data):
                if data.startswith(HTTP_HEADS):
                    streams.append(data)
    return tuple(dict.fromkeys(streams))


def cuts(data: bytes) -> range | list[int]:
    """Every offset up to some way past the head's end (where the short ways start and the
    body arrives), then every 29th."""
    end = data.find(b"\r\n\r\n")
    dense = (end if end >= 0 else 600) + 400
    return [*range(min(dense, len(data)) + 1), *range(dense + 1, len(data) + 1, 29), len(data)]


@pytest.mark.skipif(not MINING_DIR.is_dir(), reason="shared captures not found (../shared/data)")
def test_every_http_stream_of_the_captures() -> None:
    streams = capture_streams()
    assert len(streams) > 100
    bad = [
        data[:cut]
        for data in streams
        for cut in cuts(data)
        if key(inspect_http(data[:cut])) != key(reference_inspect_http(data[:cut]))
    ]
    assert not bad, bad[:3]
