"""v9 / IPFIX sequence numbers: gaps are lost packets (v9) or records (IPFIX), restarts are not."""

from __future__ import annotations

from pipelines.decoders.flowstate import FlowState

from .builders import V4_FIELDS, decode, flow_values, ipfix, record, set_, template, v9

TMPL9 = set_(0, template(256, V4_FIELDS, ipfix=False))
TMPL10 = set_(2, template(256, V4_FIELDS))


def data9(seq: int, n: int = 3, uptime: int = 3_600_000, source: int = 0) -> bytes:
    return v9(
        [set_(256, record(V4_FIELDS, flow_values()) * n)], seq=seq, uptime=uptime, source=source
    )


def data10(seq: int, n: int = 3, domain: int = 0) -> bytes:
    return ipfix([set_(256, record(V4_FIELDS, flow_values()) * n)], seq=seq, domain=domain)


def counters(st: FlowState, version: int) -> tuple[int, int, int, int]:
    e = st.stats().exporters[("192.0.2.1", version)]
    return e.sequence_gaps, e.lost, e.restarts, e.reordered


def test_v9_sequence_counts_export_packets() -> None:
    st = FlowState()
    decode(st, [v9([TMPL9], seq=10), data9(11, n=30), data9(12), data9(15), data9(16)])
    assert counters(st, 9) == (1, 2, 0, 0)  # 13 and 14 lost: 2 packets, whatever they held


def test_ipfix_sequence_counts_data_records_per_domain() -> None:
    st = FlowState()
    decode(
        st,
        [
            ipfix([TMPL10], seq=0, domain=1),
            ipfix([TMPL10], seq=0, domain=2),
            data10(0, n=3, domain=1),
            data10(0, n=5, domain=2),
            data10(3, n=2, domain=1),  # 0 + 3
            data10(5, n=1, domain=2),  # 0 + 5
            data10(9, n=1, domain=1),  # 3 + 2 = 5 expected: 4 records lost
        ],
    )
    assert counters(st, 10) == (1, 4, 0, 0)


def test_ipfix_options_records_count_in_the_sequence() -> None:
    from .builders import options_template_ipfix

    st = FlowState()
    opt = set_(3, options_template_ipfix(300, [(302, 8)], [(305, 4), (306, 4)]))
    orec = set_(300, record([(302, 8), (305, 4), (306, 4)], [1, 1, 9]) * 2)
    decode(st, [ipfix([TMPL10, opt, orec], seq=0), data10(2, n=4), data10(6)])
    assert counters(st, 10) == (0, 0, 0, 0)


def test_v9_restart_sequence_reset() -> None:
    st = FlowState()
    decode(st, [v9([TMPL9], seq=70_000, uptime=9_000_000), data9(70_001, uptime=9_001_000)])
    # reboot: sequence and sysUptime start again; templates would be resent too
    decode(
        st, [v9([TMPL9], seq=0, uptime=30_000), data9(1, uptime=31_000), data9(2, uptime=32_000)]
    )
    assert counters(st, 9) == (0, 0, 1, 0)


def test_ipfix_restart_sequence_reset() -> None:
    st = FlowState()
    decode(st, [ipfix([TMPL10], seq=0)] + [data10(3 * k) for k in range(50)])
    decode(st, [ipfix([TMPL10], seq=0), data10(0), data10(3)])
    assert counters(st, 10) == (0, 0, 1, 0)


def test_ipfix_huge_forward_jump_is_a_restart() -> None:
    st = FlowState()
    decode(st, [ipfix([TMPL10], seq=0), data10(0), data10(3_000_000_000)])
    assert counters(st, 10) == (0, 0, 1, 0)


def test_v9_reordered_packet() -> None:
    st = FlowState()
    decode(st, [v9([TMPL9], seq=0), data9(1), data9(3), data9(2), data9(4)])
    assert counters(st, 9) == (1, 0, 0, 1)


def test_sequence_wraps_at_32_bits() -> None:
    st = FlowState()
    decode(
        st, [ipfix([TMPL10], seq=0xFFFF_FFFD), data10(0xFFFF_FFFD, n=3), data10(0, n=3), data10(3)]
    )
    assert counters(st, 10) == (0, 0, 0, 0)


def test_unknown_record_count_resynchronises() -> None:
    """An IPFIX message with a set we could not decode (template unknown) has an unknown
    record count: the next message resynchronises instead of counting a made-up gap."""
    st = FlowState()
    missing = ipfix([set_(999, b"\0" * 40)], seq=3)
    decode(st, [ipfix([TMPL10], seq=0), data10(0), missing, data10(50), data10(53)])
    assert counters(st, 10) == (0, 0, 0, 0)
