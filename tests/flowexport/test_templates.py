"""NetFlow v9 / IPFIX templates: data before template, refresh, change, withdrawal, layouts."""

from __future__ import annotations

import pytest

from pipelines.decoders.flowstate import FlowState
from pipelines.decoders.held import HELD_OVERHEAD

from .builders import (
    EXPORT,
    UPTIME,
    V4_FIELDS,
    V4_TIMES,
    decode,
    flow_values,
    ipfix,
    record,
    set_,
    template,
    tuples,
    v9,
)

TUPLE = ("10.0.0.1", "192.0.2.7", 40000, 3333, 6, 10, 1000)


def tmpl_ipfix(tid: int = 256, fields=V4_FIELDS, **kw) -> bytes:  # type: ignore[no-untyped-def]
    return ipfix([set_(2, template(tid, fields))], **kw)


def data_ipfix(tid: int = 256, n: int = 1, fields=V4_FIELDS, values=None, **kw) -> bytes:  # type: ignore[no-untyped-def]
    vals = values or flow_values()
    return ipfix([set_(tid, record(fields, vals) * n)], **kw)


def test_ipfix_template_then_data_same_datagram() -> None:
    st = FlowState()
    dg = ipfix([set_(2, template(256, V4_FIELDS)), set_(256, record(V4_FIELDS, flow_values()) * 3)])
    recs = decode(st, [dg])
    assert tuples(recs) == [TUPLE] * 3
    assert (recs["version"][0], recs["family"][0], recs["tcp_flags"][0]) == (10, 4, 0x18)
    # no time IEs: both times fall back to the export time
    assert (recs["first_ts"][0], recs["last_ts"][0]) == (EXPORT, EXPORT)
    s = st.stats()
    assert (s.templates_learned, s.records, s.template_misses) == (1, 3, 0)


def test_v9_template_then_data_with_uptime_times() -> None:
    st = FlowState()
    vals = [*flow_values(), UPTIME - 4000, UPTIME - 500]
    recs = decode(
        st, [v9([set_(0, template(300, V4_TIMES, ipfix=False)), set_(300, record(V4_TIMES, vals))])]
    )
    assert tuples(recs) == [TUPLE]
    assert recs["first_ts"][0] == pytest.approx(EXPORT - 4.0, abs=1e-6)
    assert recs["last_ts"][0] == pytest.approx(EXPORT - 0.5, abs=1e-6)
    assert recs["version"][0] == 9


def test_data_before_template_is_held_then_decoded() -> None:
    st = FlowState()
    early = decode(st, [data_ipfix(n=2, seq=0)], now=100.0)
    assert len(early) == 0
    s = st.stats()
    assert (s.template_misses, s.sets_held, s.records, s.held_sets_now) == (1, 1, 0, 1)
    assert s.held_bytes_now > 0
    s.held_sets_now = 99  # a snapshot: changing it changes nothing
    assert st.counters.held_sets_now == 1
    late = decode(st, [tmpl_ipfix(seq=2)], now=101.0)
    assert tuples(late) == [TUPLE] * 2
    s = st.stats()
    assert (s.held_sets_decoded, s.records_decoded_late, s.records) == (1, 2, 2)
    assert (s.held_sets_now, s.held_bytes_now, s.templates_live) == (0, 0, 1)
    assert len(st.held) == 0


def test_data_before_template_in_the_same_batch() -> None:
    st = FlowState()
    recs = decode(st, [data_ipfix(seq=0), tmpl_ipfix(seq=1), data_ipfix(seq=1)])
    assert len(recs) == 2
    assert st.stats().records_decoded_late == 1


def test_held_data_expires() -> None:
    st = FlowState(hold_seconds=30.0)
    decode(st, [data_ipfix()], now=100.0)
    decode(st, [data_ipfix(tid=999)], now=131.0)  # another miss; the first is now too old
    assert st.stats().held_sets_expired == 1
    assert len(decode(st, [tmpl_ipfix()], now=132.0)) == 0  # nothing left to decode for 256
    assert st.stats().records_decoded_late == 0


def test_held_data_is_bounded_in_memory() -> None:
    st = FlowState(hold_bytes=3 * (64 + HELD_OVERHEAD) + 10)
    decode(st, [data_ipfix(n=2) for _ in range(10)])  # 10 x 64-byte sets
    s = st.stats()
    assert s.sets_held == 10 and s.held_sets_dropped == 7
    assert st.held.bytes <= 3 * (64 + HELD_OVERHEAD) + 10
    assert len(decode(st, [tmpl_ipfix()])) == 6  # the 3 newest sets, 2 records each


def test_template_refresh_keeps_the_layout() -> None:
    st = FlowState()
    decode(st, [tmpl_ipfix(), tmpl_ipfix(), data_ipfix()])
    s = st.stats()
    assert (s.templates_learned, s.templates_refreshed, s.templates_changed) == (1, 1, 0)
    assert len(st.table.layouts) == 1


def test_template_change_applies_from_where_it_was_sent() -> None:
    st = FlowState()
    other = [(12, 4), (8, 4), (11, 2), (7, 2), (4, 1), (6, 1), (2, 8), (1, 8)]  # src/dst swapped
    recs = decode(
        st,
        [
            tmpl_ipfix(),
            data_ipfix(),  # old layout
            tmpl_ipfix(fields=other),
            data_ipfix(),  # same bytes, new layout: the addresses and ports swap
        ],
    )
    assert tuples(recs) == [TUPLE, ("192.0.2.7", "10.0.0.1", 3333, 40000, 6, 10, 1000)]
    assert st.stats().templates_changed == 1
    again = decode(st, [data_ipfix()])  # and the new layout stays
    assert tuples(again)[0][0] == "192.0.2.7"


def test_template_resent_after_a_change_applies_again() -> None:
    st = FlowState()
    other = [(12, 4), (8, 4), (11, 2), (7, 2), (4, 1), (6, 1), (2, 8), (1, 8)]
    recs = decode(st, [tmpl_ipfix(), tmpl_ipfix(fields=other), tmpl_ipfix(), data_ipfix()])
    assert tuples(recs) == [TUPLE]
    s = st.stats()
    assert (s.templates_learned, s.templates_changed) == (1, 2)


def test_withdrawn_template_resent_is_learned_again() -> None:
    st = FlowState()
    decode(st, [tmpl_ipfix(), ipfix([set_(2, bytes.fromhex("01000000"))]), tmpl_ipfix()])
    assert len(decode(st, [data_ipfix()])) == 1


def test_template_change_within_one_datagram() -> None:
    st = FlowState()
    v6 = [(27, 16), (28, 16), (7, 2), (11, 2), (4, 1), (6, 1), (2, 8), (1, 8)]
    dg = ipfix(
        [
            set_(2, template(256, V4_FIELDS)),
            set_(256, record(V4_FIELDS, flow_values())),
            set_(2, template(256, v6)),
            set_(256, record(v6, flow_values("2001:db8::1", "2001:db8::2"))),
        ]
    )
    recs = decode(st, [dg])
    assert list(recs["family"]) == [4, 6]
    assert tuples(recs)[1][:2] == ("2001:db8::1", "2001:db8::2")


def test_withdrawal_and_withdraw_all() -> None:
    st = FlowState()
    decode(st, [ipfix([set_(2, template(256, V4_FIELDS) + template(257, V4_FIELDS))])])
    decode(st, [ipfix([set_(2, bytes.fromhex("01000000"))])])  # withdraw 256
    assert len(decode(st, [data_ipfix(256)])) == 0
    assert len(decode(st, [data_ipfix(257)])) == 1
    decode(st, [ipfix([set_(2, bytes.fromhex("00020000"))])])  # withdraw all (id 2)
    assert len(decode(st, [data_ipfix(257)])) == 0
    s = st.stats()
    assert (s.templates_withdrawn, s.template_misses) == (2, 2)


def test_templates_are_per_exporter_and_domain() -> None:
    st = FlowState()
    decode(st, [tmpl_ipfix(domain=1)], exporter="192.0.2.1")
    assert len(decode(st, [data_ipfix(domain=2)], exporter="192.0.2.1")) == 0
    assert len(decode(st, [data_ipfix(domain=1)], exporter="192.0.2.99")) == 0
    assert len(decode(st, [data_ipfix(domain=1)], exporter="192.0.2.1")) == 1
    # v9 with the same source id and template id is another stream too
    assert len(decode(st, [v9([set_(256, record(V4_FIELDS, flow_values()))], source=1)])) == 0


def test_variable_length_fields_both_length_forms() -> None:
    st = FlowState()
    fields = [(8, 4), (82, 65535), (12, 4), (96, 65535), (2, 4)]  # interfaceName, applicationName
    long_name = b"x" * 300  # > 254: 255 then a 2-byte length
    vals1 = ["10.0.0.1", b"eth0", "192.0.2.7", long_name, 5]
    vals2 = ["10.0.0.3", b"", "192.0.2.8", b"y" * 254, 6]
    recs = decode(
        st,
        [
            ipfix(
                [
                    set_(2, template(400, fields)),
                    set_(400, record(fields, vals1) + record(fields, vals2)),
                ]
            )
        ],
    )
    assert [t[:2] for t in tuples(recs)] == [("10.0.0.1", "192.0.2.7"), ("10.0.0.3", "192.0.2.8")]
    assert list(recs["packets"]) == [5, 6]


def test_enterprise_fields_are_skipped_not_misread() -> None:
    st = FlowState()
    # enterprise element 1 of PEN 9 (its number collides with octetDeltaCount) and 8 (with the
    # source address): both are skipped over, the standard fields are read
    fields = [(8, 4), (1, 4, 9), (12, 4), (8, 4, 29305), (1, 8), (2, 4), (12345, 65535, 9)]
    vals = ["10.0.0.1", 0xDEADBEEF, "192.0.2.7", "203.0.113.5", 1234, 7, b"enterprise-text"]
    recs = decode(st, [ipfix([set_(2, template(500, fields)), set_(500, record(fields, vals))])])
    assert tuples(recs) == [("10.0.0.1", "192.0.2.7", 0, 0, 0, 7, 1234)]


@pytest.mark.parametrize("width", range(1, 9))
def test_reduced_size_counters(width: int) -> None:
    st = FlowState()
    fields = [(8, 4), (12, 4), (1, width), (2, width)]
    big = (1 << (8 * width)) - 1
    recs = decode(
        st,
        [
            ipfix(
                [
                    set_(2, template(256, fields)),
                    set_(256, record(fields, ["1.2.3.4", "5.6.7.8", big, 3])),
                ]
            )
        ],
    )
    assert (int(recs["bytes"][0]), int(recs["packets"][0])) == (big, 3)


def test_total_counts_when_no_delta_counts() -> None:
    st = FlowState()
    fields = [(8, 4), (12, 4), (85, 8), (86, 8)]
    recs = decode(
        st,
        [
            ipfix(
                [
                    set_(2, template(256, fields)),
                    set_(256, record(fields, ["1.2.3.4", "5.6.7.8", 900, 9])),
                ]
            )
        ],
    )
    assert (int(recs["bytes"][0]), int(recs["packets"][0])) == (900, 9)


def test_ipfix_absolute_times() -> None:
    st = FlowState()
    ntp = (EXPORT - 20 + 2208988800) << 32 | (1 << 31)  # 20 s before export, + 0.5 s
    cases = [
        ([(150, 4), (151, 4)], [EXPORT - 60, EXPORT - 30], (EXPORT - 60.0, EXPORT - 30.0)),
        ([(152, 8), (153, 8)], [(EXPORT - 9) * 1000 + 250, EXPORT * 1000], (EXPORT - 8.75, EXPORT)),
        ([(154, 8), (157, 8)], [ntp, ntp], (EXPORT - 19.5, EXPORT - 19.5)),
        ([(158, 4), (159, 4)], [3_000_000, 1_000_000], (EXPORT - 3.0, EXPORT - 1.0)),
        ([(153, 8)], [EXPORT * 1000 - 100], (EXPORT - 0.1, EXPORT - 0.1)),  # one known: both
    ]
    for tid, (tfields, tvals, (first, last)) in enumerate(cases, start=256):
        fields = [(8, 4), (12, 4), *tfields]
        dg = ipfix(
            [
                set_(2, template(tid, fields)),
                set_(tid, record(fields, ["1.1.1.1", "2.2.2.2", *tvals])),
            ]
        )
        r = decode(st, [dg])[0]
        assert (r["first_ts"], r["last_ts"]) == (
            pytest.approx(first, abs=1e-6),
            pytest.approx(last, abs=1e-6),
        ), tid


def test_ipfix_uptime_times_with_init_time_in_record_or_options() -> None:
    st = FlowState()
    init_ms = (EXPORT - 3600) * 1000
    fields = [(8, 4), (12, 4), (160, 8), (22, 4), (21, 4)]
    dg = ipfix(
        [
            set_(2, template(256, fields)),
            set_(256, record(fields, ["1.1.1.1", "2.2.2.2", init_ms, 1000, 2000])),
        ]
    )
    r = decode(st, [dg])[0]
    assert (r["first_ts"], r["last_ts"]) == (EXPORT - 3599.0, EXPORT - 3598.0)
    # softflowd's way: systemInitTimeMilliseconds in an options record, 22/21 in the data
    from .builders import options_template_ipfix

    st = FlowState()
    plain = [(8, 4), (12, 4), (22, 4), (21, 4)]
    dg = ipfix(
        [
            set_(3, options_template_ipfix(258, [(143, 4)], [(160, 8)])),
            set_(258, record([(143, 4), (160, 8)], [1, init_ms])),
            set_(2, template(256, plain)),
            set_(256, record(plain, ["1.1.1.1", "2.2.2.2", 1000, 2000])),
        ]
    )
    r = decode(st, [dg])[0]
    assert (r["first_ts"], r["last_ts"]) == (EXPORT - 3599.0, EXPORT - 3598.0)
    assert st.stats().options_records == 1


def test_v9_options_scope_is_not_read_as_an_element() -> None:
    """v9 options scope types (1 System, 2 Interface, ...) are not IE numbers: a scope of type
    1 must not be taken for octetDeltaCount, nor a scope of type 8 for an address."""
    from .builders import options_template_v9

    st = FlowState()
    otmpl = options_template_v9(260, [(1, 4), (8, 4)], [(34, 4)])
    dg = v9(
        [
            set_(1, otmpl, pad=True),
            set_(260, record([(1, 4), (8, 4), (34, 4)], [77, 88, 100]), pad=True),
            set_(0, template(300, V4_FIELDS, ipfix=False)),
            set_(300, record(V4_FIELDS, flow_values())),
        ]
    )
    recs = decode(st, [dg])
    assert tuples(recs) == [TUPLE]  # the options record is not a flow
    assert recs["sampling"][0] == 100


def test_ipv6_records() -> None:
    st = FlowState()
    fields = [(27, 16), (28, 16), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4)]
    vals = ["2001:db8::10", "2001:db8:ffff::1", 5555, 3333, 6, 2, 120]
    recs = decode(
        st, [v9([set_(0, template(256, fields, ipfix=False)), set_(256, record(fields, vals))])]
    )
    assert tuples(recs) == [("2001:db8::10", "2001:db8:ffff::1", 5555, 3333, 6, 2, 120)]
    assert recs["family"][0] == 6
