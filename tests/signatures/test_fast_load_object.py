"""`jsonlines.load_object` hands back the object of the line it read last (`_load_plain` parses
every time), so the three JSON-RPC signatures of one dispatch parse a line once: the answers
must be the plain ones whatever the order of the lines, and a buffer is never remembered.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.signatures import jsonlines

LINES = [
    b'{"id":1,"method":"mining.subscribe","params":[]}',
    b'{"id":1,"method":"mining.subscribe","params":[1]}',
    b'{"host_int": 330402624013167112717714583297153688482}',
    b'{"a":NaN}',
    b"{bad",
    b"[1]",
    b"",
    b"\x00",
]


@settings(max_examples=600, deadline=None, database=None)
@given(st.lists(st.sampled_from(LINES) | st.binary(max_size=40), max_size=12))
def test_load_object_agrees_in_any_order(lines: list[bytes]) -> None:
    """Repeats, neighbours that differ by one byte, and buffers (never remembered)."""
    for line in lines:
        want = repr(jsonlines._load_plain(line))
        assert repr(jsonlines.load_object(line)) == want
        assert repr(jsonlines.load_object(line)) == want
        buf = bytearray(line + b" ")  # not the last line read: a miss
        load: Any = jsonlines.load_object  # typed for bytes; buffers must work too
        assert repr(load(buf)) == repr(jsonlines._load_plain(bytes(buf)))
        buf[:] = b'{"changed": true}'
        assert repr(load(buf)) == repr(jsonlines._load_plain(bytes(buf)))
