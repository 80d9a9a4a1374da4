"""eth-proxy signature."""

from __future__ import annotations

import pytest

from detector.base import EvidenceKind, HitClass, Outcome, Verdict
from detector.signatures import SIGNATURES

from . import samples as s
from .test_sig_registry import match_is_well_formed

SIG = SIGNATURES["ethproxy"]


def check(data: bytes, from_client: bool = True) -> Verdict:
    verdict = SIG.inspect(data, from_client, 6)
    if verdict.outcome is Outcome.MATCH:
        match_is_well_formed(verdict)
        assert verdict.kind is EvidenceKind.STRATUM and verdict.cls is HitClass.MINING
        assert verdict.variant == "eth-proxy"
    return verdict


def test_client_login_and_getwork() -> None:
    v = check(s.ETHPROXY_CLIENT)
    assert v.outcome is Outcome.MATCH
    assert v.confidence >= 0.97
    assert v.detail["methods"] == ["eth_getWork", "eth_submitLogin"]
    assert v.detail["worker"].startswith("0xb85150eb")


def test_pool_getwork_triple_is_server_evidence() -> None:
    v = check(s.ETHPROXY_POOL, from_client=False)
    assert v.outcome is Outcome.MATCH
    assert 0.85 <= v.confidence < 0.97


def test_plain_true_reply_needs_more() -> None:
    assert check(b'{"jsonrpc":"2.0","id":2,"result":true}\n', False).outcome is (Outcome.NEED_MORE)


@pytest.mark.parametrize(
    "line",
    [
        b'{"id":6,"jsonrpc":"2.0","method":"eth_submitHashrate","params":["0x1d08a61","0x00"]}\n',
        b'{"id":1,"method":"eth_login","params":["0xabc","x"],"worker":"rig"}\n',
        b'{"id":4,"method":"eth_submitWork","params":["0x1","0x2","0x3"]}\n',
    ],
)
def test_other_methods(line: bytes) -> None:
    assert check(line).outcome is Outcome.MATCH


@pytest.mark.parametrize(
    "data",
    [
        b'{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}\n',
        b'{"jsonrpc":"2.0","id":1,"result":["0x12","0x34","0x56"]}\n' * 20,
        s.STRATUM_CLIENT,
        s.JSONRPC_ECHO,
        b"POST / HTTP/1.1\r\n\r\n",
    ],
)
def test_not_ethproxy(data: bytes) -> None:
    assert check(data).outcome is Outcome.EXCLUDE
