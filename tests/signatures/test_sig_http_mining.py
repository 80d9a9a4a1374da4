"""HTTP mining signature: getwork / getblocktemplate, mining headers, miner User-Agents."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.base import EvidenceKind, HitClass, Outcome, Verdict
from detector.signatures import SIGNATURES

from . import samples as s
from .test_sig_registry import match_is_well_formed

SIG = SIGNATURES["http-mining"]


def check(data: bytes, from_client: bool = True) -> Verdict:
    verdict = SIG.inspect(data, from_client, 6)
    if verdict.outcome is Outcome.MATCH:
        match_is_well_formed(verdict)
        assert verdict.kind is EvidenceKind.HTTP_MINING and verdict.cls is HitClass.MINING
    return verdict


def test_getblocktemplate_post() -> None:
    v = check(s.http_post(s.GBT_BODY))
    assert v.outcome is Outcome.MATCH
    assert v.variant == "getblocktemplate-http" and v.confidence >= 0.95
    assert v.detail["methods"] == ["getblocktemplate"]
    assert v.detail["user_agent"] == "cgminer 3.7.2"
    assert v.detail["headers"] == ["x-mining-extensions"]


def test_getwork_post() -> None:
    v = check(s.http_post(s.GETWORK_BODY, agent="bfgminer/5.2.0", mining_header=False))
    assert v.outcome is Outcome.MATCH and v.variant == "getwork-http"
    assert v.detail["methods"] == ["getwork"]


def test_headers_only_with_mining_header_is_provisional_until_the_body() -> None:
    """Mining headers with a JSON body still due: a provisional verdict, then the method."""
    v = check(s.http_post(b""))
    assert v.outcome is Outcome.NEED_MORE
    assert v.variant == "http-mining-extensions" and v.confidence >= 0.9
    assert v.detail["methods"] == []
    full = check(s.http_post(s.GBT_BODY))
    assert full.outcome is Outcome.MATCH and full.variant == "getblocktemplate-http"


def test_keepalive_second_request_does_not_spoil_the_body() -> None:
    body = b'{"method": "getwork", "params": [], "id":0}'
    two = s.http_post(body) + s.http_post(body)
    v = check(two)
    assert v.outcome is Outcome.MATCH and v.variant == "getwork-http"


def test_user_agent_alone_is_moderate() -> None:
    agent = "XMRig/6.21.0 (Windows NT 10.0; Win64; x64)"
    v = check(s.http_post(b"", agent=agent, mining_header=False))
    assert v.outcome is Outcome.NEED_MORE  # provisional: the announced body is still due
    assert v.variant == "http-mining-extensions"
    assert 0.6 <= v.confidence <= 0.75
    get = b"GET /work HTTP/1.1\r\nHost: pool\r\nUser-Agent: " + agent.encode() + b"\r\n\r\n"
    v = check(get)
    assert v.outcome is Outcome.MATCH and 0.6 <= v.confidence <= 0.75


def test_plain_json_post_waits_for_its_body() -> None:
    head = s.http_post(b"", agent="python-requests/2.31", mining_header=False)
    assert check(head).outcome is Outcome.NEED_MORE
    assert check(head + s.GBT_BODY).variant == "getblocktemplate-http"
    other = head + b'{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}'
    assert check(other).outcome is Outcome.EXCLUDE


def test_split_headers_need_more() -> None:
    data = s.http_post(s.GBT_BODY)
    assert check(data[:3]).outcome is Outcome.NEED_MORE
    assert check(data[:40]).outcome is Outcome.NEED_MORE


def test_responses() -> None:
    gbt = check(s.GBT_RESPONSE, from_client=False)
    assert gbt.outcome is Outcome.MATCH and gbt.variant == "getblocktemplate-http"
    gw = check(s.GETWORK_RESPONSE, from_client=False)
    assert gw.outcome is Outcome.MATCH and gw.variant == "getwork-http"
    x_stratum = s.http_response(b'{"id":null,"result":null}', b"X-Stratum: stratum+tcp://p:3333")
    v = check(x_stratum, from_client=False)
    assert v.outcome is Outcome.MATCH and v.variant == "http-mining-extensions"


@pytest.mark.parametrize(
    "data",
    [
        b"GET /index.html HTTP/1.1\r\nHost: example.org\r\nUser-Agent: Mozilla/5.0 (X11; Linux"
        b" x86_64) Gecko/20100101 Firefox/124.0\r\n\r\n",
        b"GET /cgminer-howto HTTP/1.1\r\nHost: example.org\r\nUser-Agent: curl/8.5.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nUser-Agent: Mozilla/5.0 (compatible; cgminer)\r\n\r\n",
        s.http_response(b"<html>cgminer getwork getblocktemplate X-Mining-Extensions</html>"),
        s.http_response(b'{"jsonrpc":"2.0","id":1,"result":"0x10d4f"}'),
        s.STRATUM_CLIENT,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ],
)
def test_not_mining(data: bytes) -> None:
    assert check(data).outcome is Outcome.EXCLUDE


def test_every_prefix_of_a_request_needs_more_until_decided() -> None:
    data = s.http_post(s.GBT_BODY, agent="", mining_header=False)
    head_end = data.index(b"\r\n\r\n")
    for n in range(1, head_end):
        assert check(data[:n]).outcome is Outcome.NEED_MORE, data[:n]
    assert check(data).variant == "getblocktemplate-http"


def _big_gbt_response() -> bytes:
    result = {
        "capabilities": ["proposal"],
        "version": 536870912,
        "rules": ["csv", "!segwit", "taproot"],
        "previousblockhash": "00" * 32,
        "transactions": [{"data": "ab" * 400, "txid": "cd" * 32, "fee": 1000}] * 2000,
        "coinbasevalue": 625000000,
    }
    return s.http_response(json.dumps({"result": result, "error": None, "id": 0}).encode())


def test_getblocktemplate_reply_too_long_to_parse() -> None:
    reply = _big_gbt_response()
    assert len(reply) > 1_000_000
    v = check(reply[:4096], from_client=False)
    assert v.outcome is Outcome.MATCH and v.variant == "getblocktemplate-http"


def test_submitblock_request_too_long_to_parse() -> None:
    body = json.dumps({"id": 7, "method": "submitblock", "params": ["00" * 500_000]}).encode()
    v = check(s.http_post(body, agent="python-requests/2.31", mining_header=False)[:4096])
    assert v.outcome is Outcome.MATCH and v.variant == "getblocktemplate-http"
    assert v.detail["methods"] == ["submitblock"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"result":{"data":{"previousblockhash":"00","version":1},"pad":"' + b"x" * 5000,
        b'{"note":"\\"previousblockhash\\" and version","result":{"pad":"' + b"x" * 5000,
        b'{"params":{"method":"getwork"},"pad":"' + b"x" * 5000,
    ],
)
def test_truncated_bodies_without_the_structure(body: bytes) -> None:
    head = s.http_response(b"")
    data = head.replace(b"Content-Length: 0", b"Content-Length: 99999") + body
    assert check(data[:4096], from_client=False).outcome is not Outcome.MATCH


# Edge cases of the head rules (pinned when the header loop became `http_head.read_head`).


def test_a_content_length_of_unicode_digits_is_no_length() -> None:
    """`str.isdigit()` takes "²" and `int()` refuses it: this used to raise."""
    data = b"POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: \xb2\r\n"
    v = check(data + b"User-Agent: cgminer 3.7.2\r\n\r\n")
    assert v.outcome is Outcome.MATCH and v.confidence == 0.7  # no body announced: no waiting
    assert v.detail["excerpt"].endswith("Content-Length: \ufffd | User-Agent: cgminer 3.7.2")
    assert check(data.replace(b"\xb2", b"1\xb9") + b"\r\n").outcome is Outcome.EXCLUDE


def test_content_length_digits() -> None:
    head = s.http_post(b"").replace(b"Content-Length: %d" % len(s.GBT_BODY), b"Content-Length: ")
    assert check(head.replace(b"Length: ", b"Length: 00000100")).outcome is Outcome.NEED_MORE
    nine = check(head.replace(b"Length: ", b"Length: 000000100"))  # 9 digits: no length
    assert nine.outcome is Outcome.MATCH and nine.variant == "http-mining-extensions"


def test_header_names_are_stripped_and_case_blind() -> None:
    v = check(b"GET /lp HTTP/1.1\r\n\tuSER-aGENT \x0b:  cgminer/4.10.0 \r\n\r\n")
    assert v.outcome is Outcome.MATCH and v.detail["user_agent"] == "cgminer/4.10.0"
    assert v.detail["excerpt"] == "GET /lp HTTP/1.1 | uSER-aGENT .:  cgminer/4.10.0"


def test_the_first_header_of_a_name_wins() -> None:
    two = b"GET / HTTP/1.1\r\nUser-Agent: Mozilla/5.0\r\nUser-Agent: cgminer 3.7.2\r\n\r\n"
    assert check(two).outcome is Outcome.EXCLUDE
    vary = b"HTTP/1.1 200 OK\r\nVary: User-Agent\r\nContent-Type: text/html\r\n\r\n<html>"
    assert check(vary, from_client=False).outcome is Outcome.EXCLUDE


@pytest.mark.parametrize(("fillers", "outcome"), [(63, Outcome.MATCH), (64, Outcome.EXCLUDE)])
def test_only_the_first_64_header_lines_count(fillers: int, outcome: Outcome) -> None:
    pad = b"".join(b"X-Pad: %d\r\n" % i for i in range(fillers))
    v = check(b"GET / HTTP/1.1\r\n" + pad + b"X-Stratum: x\r\n\r\n")
    assert v.outcome is outcome
    if outcome is Outcome.MATCH:  # the excerpt shows the first 12 lines only
        assert v.detail["excerpt"].endswith("| X-Pad: 9 | X-Pad: 10")


def test_lf_heads_and_their_excerpt() -> None:
    v = check(b"GET / HTTP/1.1\nX-Stratum: stratum+tcp://p:3333\n\n")
    assert v.outcome is Outcome.MATCH
    assert v.detail["excerpt"] == "GET / HTTP/1.1 | X-Stratum: stratum+tcp://p:3333"
    # a CRLF blank line beats an earlier LF one: the head runs on to it
    v = check(b"GET / HTTP/1.1\nA: b\n\nX-Stratum: x\r\n\r\n")
    assert (
        v.outcome is Outcome.MATCH
        and v.detail["excerpt"] == "GET / HTTP/1.1 | A: b |  | X-Stratum: x"
    )


def test_the_excerpt_strips_each_line() -> None:
    head = (
        b"POST / HTTP/1.1\r\nHost:  pool  \r\n\tAccept: */*\r\nContent-Type: application/json\r\n"
    )
    v = check(head + b"Content-Length: 50\r\nX-Mining-Extensions: midstate\r\n\r\n")
    assert v.outcome is Outcome.NEED_MORE and v.confidence == 0.9
    assert v.detail["excerpt"] == (
        "POST / HTTP/1.1 | Host:  pool | Accept: */* | Content-Type: application/json"
        " | Content-Length: 50 | X-Mining-Extensions: midstate"
    )


def test_a_json_body_with_trailing_data_is_not_json() -> None:
    reply = b'{"result":{"data":"' + b"ab" * 64 + b'","target":"ff"},"error":null,"id":0}'
    assert check(s.http_response(reply), from_client=False).variant == "getwork-http"
    assert check(s.http_response(reply + b" x"), from_client=False).outcome is Outcome.EXCLUDE


HEADER_NAMES = st.sampled_from(
    [b"User-Agent", b"user-agent", b"CONTENT-LENGTH", b"Content-Type", b"X-Mining-Extensions",
     b"x-stratum", b"X-Long-Polling", b"X-Roll-NTime", b"x-mining-hashrate", b"Host", b"Vary"]
)  # fmt: skip
HEADER_VALUES = st.sampled_from(
    [b"cgminer/4.10.0", b"XMRig/6.21 (Windows NT 10.0)", b"Mozilla/5.0 (cgminer)", b"116",
     b"\xb2", b"00000043", b"123456789", b"application/json", b"text/html", b"", b"\xa0\x85",
     b"longpoll midstate", b"User-Agent"]
)  # fmt: skip
BLANK = st.sampled_from([b"", b" ", b"\t", b"\r", b"\x0b", b"\x0c", b"\xa0"])
BODIES = st.sampled_from(
    [b"", s.GBT_BODY, s.GETWORK_BODY, b'{"method": "getwork"} x', b"[" * 3000, b"<html>",
     b'{"result":{"previousblockhash":"00","coinbasevalue":1}}', b'  {"method":"submitblock"']
)  # fmt: skip


@st.composite
def http_messages(draw: st.DrawFn) -> bytes:
    first = draw(st.sampled_from([b"POST / HTTP/1.1", b"GET /lp HTTP/1.0", b"HTTP/1.1 200 OK"]))
    lines = [first]
    for _ in range(draw(st.integers(0, 70))):
        name = draw(BLANK) + draw(HEADER_NAMES) + draw(BLANK)
        lines.append(name + b":" + draw(BLANK) + draw(HEADER_VALUES) + draw(BLANK))
    end = draw(st.sampled_from([b"\r\n", b"\n"]))
    data = end.join(lines) + end + draw(st.sampled_from([end, b""])) + draw(BODIES)
    return data[: draw(st.integers(1, len(data)))] if draw(st.booleans()) else data


@settings(max_examples=300, deadline=None, database=None)
@given(data=http_messages(), from_client=st.booleans())
def test_never_raises_on_http_like_messages(data: bytes, from_client: bool) -> None:
    verdict = check(data, from_client)
    assert isinstance(verdict, Verdict)
