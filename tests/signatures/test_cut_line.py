"""`close_cut_line`: a JSON line cut by a sampler's header size, judged by its opening members."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from detector.signatures.jsonlines import close_cut_line


def test_cut_subscribe_becomes_a_complete_stand_in() -> None:
    cut = b'{"id":1,"method":"mining.subscribe","params":["cgminer/4.9.2", "ab'
    out = close_cut_line(cut)
    assert out is not None and out.endswith(b"\n")
    assert json.loads(out) == {"id": None, "method": "mining.subscribe", "params": []}


def test_nothing_to_close_without_a_method_or_a_cut() -> None:
    assert close_cut_line(b'{"id":1,"params":["x"') is None
    assert close_cut_line(b'{"id":1,"method":"mining.subscribe","params":[]}\n') is None
    assert close_cut_line(b"GET / HTTP/1.1\r\n") is None


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_and_give_json_lines(raw: bytes) -> None:
    for data in (raw, b'{"method":"' + raw):
        out = close_cut_line(data)
        if out is not None:
            last = out.rstrip(b"\n").rsplit(b"\n", 1)[-1]
            obj = json.loads(last)
            assert isinstance(obj, dict) and "method" in obj and obj["params"] == []
