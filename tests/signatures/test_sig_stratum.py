"""Stratum v1 signature: hand-written payloads for each variant and direction."""

from __future__ import annotations

import pytest

from detector.base import EvidenceKind, HitClass, Outcome, Verdict
from detector.signatures import SIGNATURES

from . import samples as s
from .test_sig_registry import match_is_well_formed

SIG = SIGNATURES["stratum"]


def check(data: bytes, from_client: bool = True) -> Verdict:
    verdict = SIG.inspect(data, from_client, 6)
    if verdict.outcome is Outcome.MATCH:
        match_is_well_formed(verdict)
        assert verdict.kind is EvidenceKind.STRATUM
        assert verdict.cls is HitClass.MINING
    return verdict


def test_client_session() -> None:
    v = check(s.STRATUM_CLIENT)
    assert v.outcome is Outcome.MATCH
    assert v.variant == "stratum-v1"
    assert v.confidence >= 0.97
    assert v.detail["methods"] == ["mining.authorize", "mining.submit", "mining.subscribe"]
    assert v.detail["agent"] == "cgminer/4.10.0"
    assert v.detail["worker"] == "alice.rig1"
    assert v.detail["excerpt"].startswith('{"id": 1, "method": "mining.subscribe"')


def test_pool_session_and_pushes_alone() -> None:
    v = check(s.STRATUM_POOL, from_client=False)
    assert v.outcome is Outcome.MATCH and v.variant == "stratum-v1"
    assert v.detail["methods"] == ["mining.notify", "mining.set_difficulty"]
    assert check(s.STRATUM_POOL_PUSH_ONLY, False).outcome is Outcome.MATCH


def test_subscribe_reply_alone_is_strong() -> None:
    v = check(s.SUBSCRIBE_REPLY_ALONE, from_client=False)
    assert v.outcome is Outcome.MATCH
    assert v.confidence >= 0.9
    assert v.detail["methods"] == []


def test_unnested_subscribe_reply() -> None:
    data = b'{"error":null,"id":1,"result":[["mining.notify","ae68"],"08000002",4]}\n'
    assert check(data, False).outcome is Outcome.MATCH


def test_neutral_reply_alone_needs_more() -> None:
    assert check(s.NEUTRAL_REPLY, False).outcome is Outcome.NEED_MORE
    assert check(s.NEUTRAL_REPLY * 40, False).outcome is Outcome.EXCLUDE


def test_neutral_reply_then_push_matches() -> None:
    v = check(s.NEUTRAL_REPLY * 3 + s.STRATUM_POOL_PUSH_ONLY, False)
    assert v.outcome is Outcome.MATCH
    assert v.detail["methods"] == ["mining.notify"]


def test_stratum_error_reply_is_weak() -> None:
    v = check(s.STRATUM_ERROR_ONLY, False)
    assert v.outcome is Outcome.MATCH
    assert v.confidence < 0.8
    assert check(b'{"id":1,"result":null,"error":[-32601,"nope",null]}\n').outcome is not (
        Outcome.MATCH
    )


@pytest.mark.parametrize(
    "data, from_client",
    [(s.EQUIHASH_CLIENT, True), (s.EQUIHASH_POOL, False), (s.ZCASH_NOTIFY, False)],
)
def test_equihash_variant(data: bytes, from_client: bool) -> None:
    v = check(data, from_client)
    assert v.outcome is Outcome.MATCH
    assert v.variant == "stratum-v1-equihash"


def test_equihash_agent_detail() -> None:
    v = check(s.EQUIHASH_CLIENT)
    assert v.detail["agent"] == "EWBF 0.3.4b"
    assert v.detail["worker"] == "t1exampleaddress.rig4"


@pytest.mark.parametrize(
    "data, from_client",
    [(s.NICEHASH_CLIENT, True), (s.NICEHASH_POOL, False), (s.MINING_HELLO, True)],
)
def test_nicehash_variant(data: bytes, from_client: bool) -> None:
    v = check(data, from_client)
    assert v.outcome is Outcome.MATCH
    assert v.variant == "ethereum-stratum-nicehash"


def test_mining_hello_agent() -> None:
    assert check(s.MINING_HELLO).detail["agent"] == "ethminer-0.19.0"


def test_bip310_configure() -> None:
    v = check(s.BIP310_CONFIGURE)
    assert v.outcome is Outcome.MATCH and v.detail["methods"] == ["mining.configure"]


def test_unknown_mining_method_is_moderate() -> None:
    v = check(b'{"id":9,"method":"mining.ping","params":[]}\n')
    assert v.outcome is Outcome.MATCH
    assert 0.8 <= v.confidence < 0.95


def test_mid_session_start_inside_a_line() -> None:
    cut = s.STRATUM_POOL[s.STRATUM_POOL.index(b'mining.set_difficulty","b4') + 5 :]
    assert check(cut, False).outcome is Outcome.MATCH


def test_incremental_prefixes() -> None:
    data = s.STRATUM_CLIENT
    first_line_end = data.index(b"\n")
    for n in range(1, first_line_end):
        assert check(data[:n]).outcome is Outcome.NEED_MORE, n
    assert check(data[: first_line_end + 1]).outcome is Outcome.MATCH


@pytest.mark.parametrize(
    "data",
    [
        s.XMRIG_LOGIN,
        s.ETHPROXY_CLIENT,
        s.JSONRPC_ECHO,
        b'{"method":"getinfo","params":[],"id":1}\n',
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
        s.POSTGRES_RULE_ROW,
        s.BINARY_EMBEDDED,
    ],
)
def test_excluded(data: bytes) -> None:
    assert check(data).outcome is Outcome.EXCLUDE
