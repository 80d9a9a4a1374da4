"""NetFlow v5: layout, times, sampling header bits, sequence tracking, truncation."""

from __future__ import annotations

import pytest

from pipelines.decoders.flowstate import FlowState

from .builders import EXPORT, UPTIME, decode, tuples, v5, v5_record


def test_records_fields_and_times() -> None:
    st = FlowState()
    recs = decode(st, [v5([v5_record(), v5_record("10.0.0.2", "198.51.100.9", 1, 2, 17, 3, 99)])])
    assert tuples(recs) == [
        ("10.0.0.1", "192.0.2.7", 40000, 3333, 6, 10, 1000),
        ("10.0.0.2", "198.51.100.9", 1, 2, 17, 3, 99),
    ]
    r = recs[0]
    # first/last are sysUptime ms; the header ties sysUptime to unix time
    assert r["first_ts"] == pytest.approx(EXPORT - 5.0, abs=1e-6)
    assert r["last_ts"] == pytest.approx(EXPORT - 1.0, abs=1e-6)
    assert (r["family"], r["version"], r["tcp_flags"]) == (4, 5, 0x1B)
    assert r["exporter"] == st.exporter_id("192.0.2.1")
    s = st.stats()
    assert (s.datagrams, s.records, s.malformed_datagrams) == (1, 2, 0)


def test_engine_is_the_domain() -> None:
    st = FlowState()
    recs = decode(st, [v5([v5_record()], engine=(1, 7))])
    assert recs["domain"][0] == (1 << 8) | 7


@pytest.mark.parametrize(
    ("field", "rate"),
    [
        (0x0000, 0),  # nothing said: unknown, not "unsampled"
        (0x4000 | 100, 100),  # mode 01 (deterministic), interval 100
        (0x8000 | 512, 512),  # mode 10 (random): the mode bits are not part of the interval
        (0xC000 | 0x3FFF, 0x3FFF),  # the largest interval 14 bits hold
        (0x4000, 0),  # a mode but interval 0: unknown
        (1, 1),  # interval 1 = every packet
    ],
)
def test_sampling_interval_mode_bits(field: int, rate: int) -> None:
    st = FlowState()
    recs = decode(st, [v5([v5_record()] * 2, sampling=field)])
    assert list(recs["sampling"]) == [rate, rate]
    assert st.stats().records_no_sampling == (2 if rate == 0 else 0)


def test_flow_sequence_gap_counts_lost_flows() -> None:
    st = FlowState()
    dgs = [
        v5([v5_record()] * 3, seq=100),
        v5([v5_record()] * 2, seq=103),  # continues: 100 + 3
        v5([v5_record()] * 1, seq=110),  # 105 expected: 5 flows lost
        v5([v5_record()] * 1, seq=111),
    ]
    decode(st, dgs)
    e = st.stats().exporters[("192.0.2.1", 5)]
    assert (e.sequence_gaps, e.lost, e.restarts, e.datagrams, e.records) == (1, 5, 0, 4, 7)


def test_streams_are_per_engine() -> None:
    st = FlowState()
    decode(st, [v5([v5_record()], seq=0, engine=(0, 1)), v5([v5_record()], seq=500, engine=(0, 2))])
    decode(st, [v5([v5_record()], seq=1, engine=(0, 1)), v5([v5_record()], seq=501, engine=(0, 2))])
    assert st.stats().sequence_gaps == 0


def test_restart_is_not_a_gap() -> None:
    st = FlowState()
    decode(st, [v5([v5_record()] * 30, seq=900_000, uptime=86_400_000)])
    # the router rebooted: sysUptime and flow_sequence start again
    decode(
        st, [v5([v5_record()] * 2, seq=0, uptime=20_000), v5([v5_record()], seq=2, uptime=21_000)]
    )
    e = st.stats().exporters[("192.0.2.1", 5)]
    assert (e.restarts, e.sequence_gaps, e.lost) == (1, 0, 0)


def test_uptime_going_backwards_alone_is_a_restart() -> None:
    st = FlowState()
    decode(st, [v5([v5_record()], seq=5000, uptime=50_000_000)])
    decode(st, [v5([v5_record()], seq=5001, uptime=1_000)])
    assert st.stats().exporter_restarts == 1


def test_uptime_wrap_is_not_a_restart() -> None:
    st = FlowState()
    decode(st, [v5([v5_record(first=0xFFFF_0000, last=0xFFFF_F000)], seq=7, uptime=0xFFFF_FF00)])
    recs = decode(st, [v5([v5_record(first=0xFFFF_FF00, last=0x100)], seq=8, uptime=0x200)])
    s = st.stats()
    assert (s.exporter_restarts, s.sequence_gaps) == (0, 0)
    # 0x100 is 256 ms before the header's 0x200; 0xFFFF_FF00 is 256 ms before the wrap
    assert recs["last_ts"][0] == pytest.approx(EXPORT - 0.256, abs=1e-6)
    assert recs["first_ts"][0] == pytest.approx(EXPORT - 0.768, abs=1e-6)


def test_switched_times_ahead_of_uptime() -> None:
    """A few ms ahead of sysUptime is clock jitter (kept); far ahead can only be a time from
    before the 32-bit ms counter wrapped (a flow cannot start in the future)."""
    st = FlowState()
    ahead = v5_record(first=UPTIME + 20, last=UPTIME + 2_000_000_000)
    r = decode(st, [v5([ahead])])[0]
    assert r["first_ts"] == pytest.approx(EXPORT + 0.020, abs=1e-6)
    assert r["last_ts"] == pytest.approx(EXPORT - (2**32 - 2_000_000_000) / 1000, abs=1e-6)


def test_reordered_datagram_refunds_its_loss() -> None:
    st = FlowState()
    a, b, c = (v5([v5_record()] * 2, seq=s) for s in (0, 2, 4))
    decode(st, [a, c, b])
    e = st.stats().exporters[("192.0.2.1", 5)]
    assert (e.reordered, e.lost, e.restarts) == (1, 0, 0)


def test_truncated_datagram_keeps_complete_records() -> None:
    st = FlowState()
    whole = v5([v5_record(sport=1), v5_record(sport=2), v5_record(sport=3)])
    recs = decode(st, [whole[:-10]])
    assert list(recs["sport"]) == [1, 2]
    assert st.stats().malformed_datagrams == 1


def test_short_header_is_malformed() -> None:
    st = FlowState()
    assert len(decode(st, [v5([v5_record()])[:20]])) == 0
    assert st.stats().malformed_datagrams == 1
