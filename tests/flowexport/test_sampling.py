"""Sampling rates for v9 / IPFIX: options records per sampler, rates inside data records,
and exporters that say nothing."""

from __future__ import annotations

import pytest

from pipelines.decoders.flow_kernels import sampling_rate
from pipelines.decoders.flowstate import FlowState

from .builders import (
    V4_FIELDS,
    decode,
    flow_values,
    ipfix,
    options_template_ipfix,
    options_template_v9,
    record,
    set_,
    template,
    v9,
)

WITH_SAMPLER_V9 = [*V4_FIELDS, (48, 1)]
WITH_SELECTOR = [*V4_FIELDS, (302, 8)]


def test_several_v9_samplers_with_different_rates() -> None:
    """Cisco style: an options record per sampler (samplerId 48, samplerMode 49,
    samplerRandomInterval 50); each data record names its sampler."""
    st = FlowState()
    opt_fields = [(48, 1), (49, 1), (50, 4)]
    dg = v9(
        [
            set_(1, options_template_v9(257, [(1, 4)], opt_fields), pad=True),
            set_(
                257,
                record([(1, 4), *opt_fields], [0, 1, 2, 100])
                + record([(1, 4), *opt_fields], [0, 2, 2, 1000]),
                pad=True,
            ),
            set_(0, template(256, WITH_SAMPLER_V9, ipfix=False)),
            set_(
                256,
                b"".join(
                    record(WITH_SAMPLER_V9, [*flow_values(sport=s), sid])
                    for s, sid in ((1, 1), (2, 2), (3, 1), (4, 3))
                ),
            ),
        ]
    )
    recs = decode(st, [dg])
    assert list(recs["sport"]) == [1, 2, 3, 4]
    assert list(recs["sampler"]) == [1, 2, 1, 3]
    assert list(recs["sampling"]) == [100, 1000, 100, 0]  # sampler 3 was never described
    assert st.stats().records_no_sampling == 1


def test_several_ipfix_selectors_with_packet_interval_and_space() -> None:
    """PSAMP style: selectorId 302 as scope, samplingPacketInterval 305 / Space 306."""
    st = FlowState()
    scope, opts = [(302, 8)], [(304, 2), (305, 4), (306, 4)]
    dg = ipfix(
        [
            set_(3, options_template_ipfix(300, scope, opts)),
            set_(
                300, record([*scope, *opts], [7, 1, 1, 99]) + record([*scope, *opts], [8, 1, 2, 2])
            ),
            set_(2, template(256, WITH_SELECTOR)),
            set_(
                256,
                record(WITH_SELECTOR, [*flow_values(), 7])
                + record(WITH_SELECTOR, [*flow_values(), 8]),
            ),
        ]
    )
    recs = decode(st, [dg])
    # select 1 skip 99: 1 in 100; select 2 skip 2: 1 in 2
    assert list(recs["sampling"]) == [100, 2]


def test_samplers_are_per_exporter() -> None:
    st = FlowState()
    scope, opts = [(302, 8)], [(305, 4), (306, 4)]
    decode(
        st,
        [
            ipfix(
                [
                    set_(3, options_template_ipfix(300, scope, opts)),
                    set_(300, record([*scope, *opts], [7, 1, 9])),
                ]
            )
        ],
        exporter="192.0.2.1",
    )
    data = ipfix(
        [
            set_(2, template(256, WITH_SELECTOR)),
            set_(256, record(WITH_SELECTOR, [*flow_values(), 7])),
        ]
    )
    assert decode(st, [data], exporter="192.0.2.1")["sampling"][0] == 10
    assert decode(st, [data], exporter="192.0.2.2")["sampling"][0] == 0


def test_options_rate_without_sampler_id_is_the_stream_default() -> None:
    """softflowd style: one options record with samplingInterval (v9) for the whole exporter."""
    st = FlowState()
    dg = v9(
        [
            set_(1, options_template_v9(257, [(2, 4)], [(34, 4), (35, 1)]), pad=True),
            set_(257, record([(2, 4), (34, 4), (35, 1)], [0, 64, 1]), pad=True),
            set_(0, template(256, V4_FIELDS, ipfix=False)),
            set_(256, record(V4_FIELDS, flow_values())),
        ]
    )
    assert decode(st, [dg])["sampling"][0] == 64
    later = v9([set_(256, record(V4_FIELDS, flow_values()))], seq=1)
    assert decode(st, [later])["sampling"][0] == 64


@pytest.mark.parametrize(
    ("ie_fields", "values", "rate"),
    [
        ([(34, 4)], [250], 250),  # v9 SAMPLING_INTERVAL inside each data record
        ([(34, 2), (35, 1)], [10, 2], 10),
        ([(50, 4)], [512], 512),
        ([(305, 4), (306, 4)], [1, 31], 32),
        ([(305, 4), (306, 4)], [3, 7], 3),  # 10/3 = 3.33 rounds to 3
        ([(309, 4), (310, 4)], [1, 4096], 4096),
        ([(311, 8)], [0.001], 1000),
        ([(311, 4)], [0.25], 4),
        ([(305, 4)], [0], 0),  # interval 0 says nothing
    ],
)
def test_sampling_inside_data_records(ie_fields, values, rate) -> None:  # type: ignore[no-untyped-def]
    st = FlowState()
    fields = [*V4_FIELDS, *ie_fields]
    dg = ipfix(
        [set_(2, template(256, fields)), set_(256, record(fields, [*flow_values(), *values]))]
    )
    assert decode(st, [dg])["sampling"][0] == rate


def test_record_rate_beats_sampler_and_default() -> None:
    st = FlowState()
    dg = v9(
        [
            set_(1, options_template_v9(257, [(1, 4)], [(48, 1), (50, 4)]), pad=True),
            set_(257, record([(1, 4), (48, 1), (50, 4)], [0, 1, 100]), pad=True),
            set_(0, template(256, [*WITH_SAMPLER_V9, (34, 4)], ipfix=False)),
            set_(256, record([*WITH_SAMPLER_V9, (34, 4)], [*flow_values(), 1, 8])),
        ]
    )
    assert decode(st, [dg])["sampling"][0] == 8


def test_no_sampling_rate_anywhere_is_zero_and_counted() -> None:
    st = FlowState()
    dg = ipfix([set_(2, template(256, V4_FIELDS)), set_(256, record(V4_FIELDS, flow_values()) * 4)])
    recs = decode(st, [dg])
    assert list(recs["sampling"]) == [0, 0, 0, 0]
    s = st.stats()
    assert s.records_no_sampling == 4
    assert s.exporters[("192.0.2.1", 10)].records_no_sampling == 4


def test_sampling_rate_formula() -> None:
    assert sampling_rate(0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0) == 1  # select every packet
    assert sampling_rate(0.0, 0.0, 1.0, 1023.0, 0.0, 0.0, 0.0) == 1024
    assert sampling_rate(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0) == 0  # a probability > 1 is garbage
    assert sampling_rate(0.0, 0.0, 0.0, 0.0, 5.0, 4.0, 0.0) == 0  # size > population: garbage
    assert sampling_rate(1e12, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0) == 2**32 - 1
