"""Garbage never raises, never hangs, and never costs the good records before it."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from pipelines.decoders.flowexport import decode_batch, pack
from pipelines.decoders.flowstate import FlowState
from pipelines.decoders.templates import TemplateError, parse_template_set

from .builders import (
    V4_FIELDS,
    decode,
    flow_values,
    ipfix,
    record,
    set_,
    template,
    v5,
    v5_record,
    v9,
)

GOOD = set_(256, record(V4_FIELDS, flow_values()) * 2)
TMPL = set_(2, template(256, V4_FIELDS))


def hdr10(body: bytes, length: int | None = None) -> bytes:
    return struct.pack(">HHIII", 10, 16 + len(body) if length is None else length, 1, 0, 0) + body


def test_set_length_zero_stops_the_walk_but_keeps_earlier_sets() -> None:
    st = FlowState()
    recs = decode(st, [hdr10(TMPL + GOOD + b"\x01\x00\x00\x00" + GOOD)])
    assert len(recs) == 2
    assert st.stats().malformed_datagrams == 1


def test_set_length_past_the_end() -> None:
    st = FlowState()
    recs = decode(st, [hdr10(TMPL + GOOD + b"\x01\x00\xff\xf0" + b"\0" * 20)])
    assert len(recs) == 2
    assert st.stats().malformed_datagrams == 1


def test_message_length_longer_than_the_datagram() -> None:
    st = FlowState()
    body = TMPL + GOOD
    recs = decode(st, [hdr10(body, length=16 + len(body) + 100)])
    assert len(recs) == 2
    assert st.stats().malformed_datagrams == 1


def test_truncated_datagram_keeps_complete_sets() -> None:
    st = FlowState()
    whole = ipfix([TMPL, GOOD, GOOD])
    recs = decode(st, [whole[:-5]])
    assert len(recs) == 2  # the second data set is cut: its records are not guessed at
    assert st.stats().malformed_datagrams == 1


def test_absurd_field_count() -> None:
    st = FlowState()
    bad = struct.pack(">HH", 300, 60000) + b"\0\x08\0\x04" * 3
    recs = decode(st, [ipfix([TMPL, set_(2, bad), GOOD])])
    assert len(recs) == 2
    s = st.stats()
    assert (s.malformed_datagrams, s.templates_learned) == (1, 1)


def test_good_templates_before_a_bad_one_in_the_same_set_are_learned() -> None:
    body = template(256, V4_FIELDS) + struct.pack(">HH", 257, 5000)
    with pytest.raises(TemplateError) as exc:
        parse_template_set(10, 2, body)
    assert [t.tid for t in exc.value.args[1]] == [256]


@pytest.mark.parametrize(
    "body",
    [
        template(12, V4_FIELDS),  # template id < 256
        template(256, [(8, 0), (12, 0)]),  # records of length 0 would never advance
        struct.pack(">HHH", 300, 2, 3) + b"\0\x08\0\x04" * 2,  # scope count > field count
    ],
)
def test_impossible_templates_are_rejected(body: bytes) -> None:
    st = FlowState()
    set_id = 3 if len(body) % 4 == 2 else 2
    decode(st, [ipfix([set_(set_id, body)])])
    s = st.stats()
    assert (s.malformed_datagrams, s.templates_learned) == (1, 0)


def test_variable_length_record_overrunning_its_set() -> None:
    st = FlowState()
    fields = [(8, 4), (82, 65535)]
    good = record(fields, ["1.2.3.4", b"ok"])
    bad = bytes([5, 6, 7, 8, 200]) + b"short"  # claims 200 bytes of name
    recs = decode(st, [ipfix([set_(2, template(256, fields)), set_(256, good + bad)])])
    assert len(recs) == 1
    assert st.stats().malformed_datagrams == 1


def test_v9_padding_after_records_is_not_a_record() -> None:
    st = FlowState()
    recs = decode(
        st,
        [
            v9(
                [
                    set_(0, template(256, V4_FIELDS, ipfix=False)),
                    set_(256, record(V4_FIELDS, flow_values()) + b"\0\0"),
                ]
            )
        ],
    )
    assert len(recs) == 1
    assert st.stats().malformed_datagrams == 0


def test_unknown_versions_and_runts_are_counted() -> None:
    st = FlowState()
    decode(st, [b"\x00\x07" + b"\0" * 30, b"\x00", b"", b"\x00\x00\x00\x05" + b"\0" * 24])
    s = st.stats()
    # version 7 and sFlow v5 (no decoder registered here) are unknown; the two runts malformed
    assert (s.datagrams, s.unknown_versions, s.malformed_datagrams) == (4, 2, 2)


def test_offsets_outside_the_buffer_are_a_caller_bug() -> None:
    st = FlowState()
    buf, off, ln = pack([v5([v5_record()])])
    with pytest.raises(ValueError, match="outside the buffer"):
        decode_batch(st, buf, off, ln + 1, np.ones(1, np.uint32), 0.0)


def test_unregistered_exporter_id_is_refused() -> None:
    st = FlowState()
    buf, off, ln = pack([v5([v5_record()]), ipfix([TMPL, GOOD])])
    assert len(decode_batch(st, buf, off, ln, np.array([0, 7], np.uint32), 0.0)) == 0
    assert st.stats().datagrams_refused == 2


def test_exporter_table_is_bounded() -> None:
    st = FlowState(max_exporters=2)
    assert [st.exporter_id(f"192.0.2.{i}") for i in range(4)] == [1, 2, 0, 0]
    decode(st, [v5([v5_record()])], exporter="192.0.2.3")
    assert st.stats().datagrams_refused == 1


def test_template_table_is_bounded() -> None:
    st = FlowState(max_templates=2)
    decode(st, [ipfix([set_(2, b"".join(template(256 + i, V4_FIELDS) for i in range(4)))])])
    s = st.stats()
    assert (s.templates_learned, s.templates_refused) == (2, 2)
