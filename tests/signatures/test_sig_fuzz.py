"""Fuzzing every registered signature: never an exception, always a Verdict, bounded time.

Inputs: arbitrary bytes; mining-like JSON lines with random junk; HTTP-like requests; mutated
binary P2P headers; truncations and slices of the hand-written samples and of real payloads
(when the shared captures are present).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.base import Outcome, Verdict
from detector.signatures import SIGNATURES

from . import samples as s
from .flowpayloads import MINING_DIR, read_flows
from .test_sig_registry import match_is_well_formed

FUZZ = settings(
    deadline=timedelta(milliseconds=400),
    max_examples=300,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

names = st.sampled_from(sorted(SIGNATURES))
directions = st.booleans()

METHOD_NAMES = [
    "mining.subscribe", "mining.authorize", "mining.submit", "mining.notify",
    "mining.set_difficulty", "mining.set_target", "mining.configure", "mining.hello",
    "mining.extranonce.subscribe", "client.reconnect", "eth_submitLogin", "eth_getWork",
    "eth_submitWork", "login", "submit", "job", "keepalived", "getjob", "getwork",
    "getblocktemplate", "echo", "mining.", "",
]  # fmt: skip
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
    | st.sampled_from([*METHOD_NAMES, "EthereumStratum/1.0.0", "EWBF 0.3.4b", "0x" + "ab" * 32])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.sampled_from(["login", "blob", "job_id", "target", "nonce", "agent", "id", "job"])
            | st.text(max_size=6),
            inner,
            max_size=5,
        )
    ),
    max_leaves=16,
)
rpc_objects = st.fixed_dictionaries(
    {},
    optional={
        "id": st.none() | st.integers(-5, 10**6) | st.text(max_size=6),
        "method": st.sampled_from(METHOD_NAMES) | st.text(max_size=16),
        "params": json_values,
        "result": json_values,
        "error": json_values,
        "jsonrpc": st.just("2.0"),
        "worker": st.text(max_size=8),
    },
)

# Real-shaped objects from the samples, to be perturbed (so the MATCH paths get fuzzed too).
TEMPLATES = [
    json.loads(line)
    for sample in s.ALL_SAMPLES
    for line in sample.split(b"\n")
    if line.startswith(b"{") and line.endswith(b"}")
]


@st.composite
def perturbed_templates(draw: st.DrawFn) -> dict[str, object]:
    obj = dict(draw(st.sampled_from(TEMPLATES)))
    for key in draw(st.lists(st.sampled_from(sorted(obj)), max_size=2)):
        if draw(st.booleans()):
            obj.pop(key, None)
        else:
            obj[key] = draw(json_values)
    params = obj.get("params")
    if isinstance(params, list) and params and draw(st.booleans()):
        obj["params"] = [draw(json_values), *params[1:]]
    elif isinstance(params, dict) and params and draw(st.booleans()):
        obj["params"] = {**params, draw(st.sampled_from(sorted(params))): draw(json_values)}
    return obj


JUNK = [b"\n", b"{", b"}", b'"', b"\\"]


@st.composite
def json_lines(draw: st.DrawFn) -> bytes:
    """Mining-like newline-delimited JSON, with junk spliced in and a random truncation."""
    objects = st.one_of(perturbed_templates(), rpc_objects)
    lines = [json.dumps(obj).encode() for obj in draw(st.lists(objects, min_size=1, max_size=6))]
    data = bytearray(b"\n".join(lines) + draw(st.sampled_from([b"\n", b"", b"\r\n"])))
    for _ in range(draw(st.just(0) | st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(max_size=6) | st.sampled_from(JUNK))
    cut_start = draw(st.just(0) | st.integers(0, min(len(data), 40)))
    cut_end = draw(st.just(len(data)) | st.integers(cut_start, len(data)))
    return bytes(data[cut_start:cut_end])


@st.composite
def http_messages(draw: st.DrawFn) -> bytes:
    starts = [b"POST / HTTP/1.1", b"GET /lp HTTP/1.0", b"HTTP/1.1 200 OK", b"HTTP/1.0 404"]
    first = draw(st.sampled_from(starts))
    header_pool = [
        b"User-Agent: cgminer 3.7.2", b"User-Agent: Mozilla/5.0 (X11) Firefox/1", b"Host: x",
        b"X-Mining-Extensions: midstate", b"X-Stratum: stratum+tcp://p:3333",
        b"Content-Type: application/json", b"Content-Length: 9999", b"Content-Length: -1",
        b"Content-Length: 99999999999999999999", b"Transfer-Encoding: chunked", b": empty",
        b"X-Long-Polling: /lp",
    ]  # fmt: skip
    headers = draw(st.lists(st.sampled_from(header_pool) | st.binary(max_size=20), max_size=8))
    body = draw(st.just(b"") | json_lines() | st.binary(max_size=64))
    sep = draw(st.sampled_from([b"\r\n", b"\n"]))
    data = sep.join([first, *headers]) + sep + sep + body
    return data[: draw(st.integers(0, len(data)))]


@st.composite
def mutated_binary(draw: st.DrawFn) -> bytes:
    base = bytearray(
        draw(
            st.sampled_from(
                [
                    s.BITCOIN_VERSION + s.BITCOIN_VERACK,
                    s.LEVIN_HANDSHAKE,
                    s.rlpx_auth(),
                    s.DISCV4_PING,
                    s.discv4_packet(4, s.rlp_list([s.rlp_bytes(bytes(70))])),
                ]
            )
        )
    )
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(base) - 1))
        base[at] = draw(st.integers(0, 255))
    return bytes(base[: draw(st.integers(0, len(base)))])


@st.composite
def sample_slices(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(s.ALL_SAMPLES))
    start = draw(st.integers(0, len(data)))
    return data[start : draw(st.integers(start, len(data)))]


@pytest.fixture(scope="module", autouse=True)
def compiled_kernels() -> None:
    """Every signature once on every sample before the timed examples: on a fresh checkout the
    first call of a compiled kernel (HTTP head, Keccak, ClientHello) compiles it for seconds,
    which is start-up, not the bounded time per input this module checks."""
    for sig in SIGNATURES.values():
        for data in s.ALL_SAMPLES:
            for from_client in (True, False):
                sig.inspect(data, from_client, 6)
                sig.inspect(data, from_client, 17)


def run_all(name: str, data: bytes, from_client: bool) -> None:
    sig = SIGNATURES[name]
    for transport in (6, 17):
        verdict = sig.inspect(data, from_client, transport)
        assert isinstance(verdict, Verdict)
        assert isinstance(verdict.outcome, Outcome)
        if verdict.outcome is Outcome.MATCH:
            match_is_well_formed(verdict)
            assert transport in sig.transports
        assert sig.inspect(data, from_client, transport) == verdict  # pure


@FUZZ
@given(name=names, data=st.binary(max_size=4096), from_client=directions)
def test_arbitrary_bytes(name: str, data: bytes, from_client: bool) -> None:
    run_all(name, data, from_client)


@FUZZ
@given(name=names, data=json_lines(), from_client=directions)
def test_mining_like_json_lines(name: str, data: bytes, from_client: bool) -> None:
    run_all(name, data, from_client)


@FUZZ
@given(name=names, data=http_messages(), from_client=directions)
def test_http_like_messages(name: str, data: bytes, from_client: bool) -> None:
    run_all(name, data, from_client)


@FUZZ
@given(name=names, data=mutated_binary(), from_client=directions)
def test_mutated_p2p_headers(name: str, data: bytes, from_client: bool) -> None:
    run_all(name, data, from_client)


@FUZZ
@given(name=names, data=sample_slices(), from_client=directions)
def test_sample_truncations(name: str, data: bytes, from_client: bool) -> None:
    run_all(name, data, from_client)


@lru_cache(maxsize=1)
def real_payloads() -> tuple[bytes, ...]:
    out: list[bytes] = []
    for path in sorted(MINING_DIR.iterdir()):
        for flow in read_flows(path):
            out.extend(d for d in (flow.client_data, flow.server_data) if d)
    return tuple(out)


@pytest.mark.skipif(not MINING_DIR.is_dir(), reason=f"SKIPPED LOUDLY: no captures at {MINING_DIR}")
def test_real_payload_truncations() -> None:
    payloads = real_payloads()  # read the captures before the timed examples start
    assert payloads

    cuts = st.tuples(st.integers(0), st.integers(0))

    @FUZZ
    @given(name=names, data=st.sampled_from(payloads), cut=cuts)
    def check(name: str, data: bytes, cut: tuple[int, int]) -> None:
        start = cut[0] % (len(data) + 1)
        end = start + cut[1] % (len(data) - start + 1)
        run_all(name, data[start:end], True)
        run_all(name, data[start:end], False)

    check()


HOSTILE = {
    "megabyte-of-braces": b"{" * (1 << 20),
    "megabyte-of-newlines": b"\n" * (1 << 20),
    "deep-nesting-lines": (b'{"a":' + b"[" * 4000 + b"]" * 4000 + b"}\n") * 64,
    "many-short-lines": b'{"id":1,"result":true}\n' * 50_000,
    "huge-number": b'{"id":' + b"9" * 100_000 + b"}\n",
    "http-endless-headers": b"POST / HTTP/1.1\r\n" + b"X-A: b\r\n" * 100_000,
    "http-huge-body": s.http_post(b"[" * (1 << 20)),
    "http-truncated-json-body": s.http_post(
        b'{"a":' + b'{"b":"\\"",' * (1 << 17), agent="", mining_header=False
    ),
    "bitcoin-huge-length": b"\xf9\xbe\xb4\xd9block\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\x01"
    + b"\x00" * (1 << 20),
    "discv4-like-megabyte": bytes(96) + b"\x01\x04\xf9\xff\xff" + bytes(1 << 20),
    "rlpx-like": b"\x01\xab\x04" + b"\xff" * (1 << 20),
}


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_bounded_time_on_hostile_input(name: str, hostile: str) -> None:
    data = HOSTILE[hostile]
    started = time.perf_counter()
    run_all(name, data, True)
    assert time.perf_counter() - started < 0.5
