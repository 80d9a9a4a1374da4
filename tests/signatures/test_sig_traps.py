"""The known false-positive traps, run through *every* registered signature.

1. A generic JSON-RPC service on a pool port (`echo`), which nDPI once flagged (issue 2216).
2. Mining method names quoted inside another protocol: a PostgreSQL DataRow holding a
   Suricata rule (and even a whole stratum line after a newline), or a stratum-looking JSON
   object embedded in a binary message.
"""

from __future__ import annotations

import pytest

from detector.base import HitClass, Outcome
from detector.signatures import SIGNATURES

from . import samples as s

TRAPS = {
    "jsonrpc-echo": s.JSONRPC_ECHO,
    "jsonrpc-echo-reply": s.JSONRPC_ECHO_REPLY,
    "jsonrpc-echo-session": s.JSONRPC_ECHO + s.JSONRPC_ECHO_REPLY,
    "ndpi-2216": b'{"jsonrpc":"2.0","method":"subscribe","params":["newHeads"],"id":1}\n',
    "postgres-rule-row": s.POSTGRES_RULE_ROW,
    "binary-embedded": s.BINARY_EMBEDDED,
    "json-log-line": b'{"event_type":"alert","payload":"{\\"method\\":\\"mining.subscribe\\"}"}\n',
    "text-then-json-quote": b'note: "method":"mining.subscribe" is stratum\n{"a":1}\n',
    "http-body-quote": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
    b'{"id":1,"method":"mining.subscribe","params":[]}\n',
}


@pytest.mark.parametrize("trap", sorted(TRAPS))
@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_trap_is_not_mining(trap: str, name: str) -> None:
    sig = SIGNATURES[name]
    for transport in sig.transports:
        for from_client in (True, False):
            verdict = sig.inspect(TRAPS[trap], from_client, transport)
            assert not (verdict.outcome is Outcome.MATCH and verdict.cls is HitClass.MINING), (
                name,
                verdict,
            )


@pytest.mark.parametrize("name", ["stratum", "ethproxy", "cryptonote"])
def test_jsonrpc_echo_request_is_excluded(name: str) -> None:
    assert SIGNATURES[name].inspect(s.JSONRPC_ECHO, True, 6).outcome is Outcome.EXCLUDE


@pytest.mark.parametrize("trap", ["postgres-rule-row", "binary-embedded", "text-then-json-quote"])
@pytest.mark.parametrize("name", ["stratum", "ethproxy", "cryptonote", "http-mining"])
def test_embedded_mining_text_is_excluded(trap: str, name: str) -> None:
    assert SIGNATURES[name].inspect(TRAPS[trap], True, 6).outcome is Outcome.EXCLUDE
