"""CryptoNote / Monero stratum signature."""

from __future__ import annotations

import pytest

from detector.base import EvidenceKind, HitClass, Outcome, Verdict
from detector.signatures import SIGNATURES

from . import samples as s
from .test_sig_registry import match_is_well_formed

SIG = SIGNATURES["cryptonote"]


def check(data: bytes, from_client: bool = True) -> Verdict:
    verdict = SIG.inspect(data, from_client, 6)
    if verdict.outcome is Outcome.MATCH:
        match_is_well_formed(verdict)
        assert verdict.kind is EvidenceKind.STRATUM and verdict.cls is HitClass.MINING
        assert verdict.variant == "stratum-cryptonote"
    return verdict


def test_xmrig_login() -> None:
    v = check(s.XMRIG_LOGIN)
    assert v.outcome is Outcome.MATCH and v.confidence >= 0.95
    assert v.detail["methods"] == ["login"]
    assert v.detail["agent"].startswith("XMRig/6.21.0")
    assert v.detail["algo"] == ["rx/0", "cn/r"]
    assert v.detail["worker"].startswith("44AFFq5k")


def test_xmr_stak_login_without_jsonrpc_member() -> None:
    data = (
        b'{"method":"login","params":{"login":"4BCeEPhod.ryzen","pass":"x",'
        b'"agent":"xmr-stak-cpu/1.3.0-1.5.0"},"id":1}\n'
    )
    assert check(data).detail["agent"] == "xmr-stak-cpu/1.3.0-1.5.0"


def test_pool_login_reply() -> None:
    v = check(s.XMR_POOL_LOGIN_REPLY, from_client=False)
    assert v.outcome is Outcome.MATCH and v.detail["methods"] == []


def test_mid_session_without_login() -> None:
    client = check(s.XMR_MIDSESSION_CLIENT)
    assert client.outcome is Outcome.MATCH
    assert client.detail["methods"] == ["keepalived", "submit"]
    pool = check(s.XMR_MIDSESSION_POOL, from_client=False)
    assert pool.outcome is Outcome.MATCH and pool.detail["methods"] == ["job"]


def test_status_ok_alone_needs_more() -> None:
    data = b'{"jsonrpc":"2.0","result":{"status":"OK"},"id":"78","error":null}\n'
    assert check(data, False).outcome is Outcome.NEED_MORE


@pytest.mark.parametrize(
    "data",
    [
        b'{"method":"login","params":{"user":"bob","password":"hunter2"},"id":1}\n',
        b'{"method":"login","params":["bob","x"],"id":1}\n',
        b'{"method":"submit","params":{"form":"contact"},"id":1}\n',
        b'{"method":"job","params":{"name":"backup","target":"/srv"}}\n',
        s.STRATUM_CLIENT,
        s.JSONRPC_ECHO,
    ],
)
def test_generic_lookalikes_are_excluded(data: bytes) -> None:
    assert check(data).outcome is Outcome.EXCLUDE
