"""Flow table: agrees with a naive dictionary model on random packet streams."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.batch import PACKET_DTYPE, ST_MALFORMED, ST_OK
from pipelines.flows import FlowTable

ADDRS = [
    (0, 0xFFFF_0A00_0001),
    (0, 0xFFFF_CB00_7109),
    (0x20010DB8_00000000, 1),
    (0, 0xFFFF_0A00_0002),
]

packet = st.tuples(
    st.integers(0, 3),
    st.integers(0, 3),
    st.sampled_from([80, 443, 3333, 40000, 50001]),
    st.sampled_from([80, 443, 3333, 40000, 50001]),
    st.sampled_from([6, 17]),
    st.sampled_from([0x02, 0x12, 0x10, 0x18, 0x11, 0x04]),
    st.booleans(),
)


def _batch(pkts: list[tuple[int, int, int, int, int, int, bool]]) -> np.ndarray:
    out = np.zeros(len(pkts), dtype=PACKET_DTYPE)
    for i, (a, b, sp, dp, proto, flags, ok) in enumerate(pkts):
        out[i]["status"] = ST_OK if ok else ST_MALFORMED
        out[i]["src_hi"], out[i]["src_lo"] = ADDRS[a]
        out[i]["dst_hi"], out[i]["dst_lo"] = ADDRS[b]
        out[i]["sport"], out[i]["dport"], out[i]["proto"] = sp, dp, proto
        out[i]["tcp_flags"] = flags if proto == 6 else 0
        out[i]["ip_len"] = 60
    return out


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(st.lists(packet, max_size=60), min_size=1, max_size=5))
def test_packets_are_conserved_per_five_tuple(batches: list[list[tuple]]) -> None:  # type: ignore[type-arg]
    table = FlowTable(capacity=4)  # tiny: forces growth
    naive: Counter[tuple] = Counter()  # type: ignore[type-arg]
    ended = []
    t = 0.0
    for pkts in batches:
        pk = _batch(pkts)
        ts = np.arange(len(pk), dtype=np.float64) + t
        t += len(pk)
        slot, _direction, _new, reused = table.update(pk, ts)
        ended.append(reused)
        for (a, b, sp, dp, proto, _f, ok), s in zip(pkts, slot, strict=True):
            assert (s >= 0) == ok
            if ok:
                naive[frozenset([(ADDRS[a], sp), (ADDRS[b], dp)]), proto] += 1
    ended.append(table.drain())
    assert len(table) == 0
    got: Counter[tuple] = Counter()  # type: ignore[type-arg]
    uids = set()
    for part in ended:
        for f in part:
            key = (
                frozenset(
                    [
                        ((int(f["c_hi"]), int(f["c_lo"])), int(f["cport"])),
                        ((int(f["s_hi"]), int(f["s_lo"])), int(f["sport"])),
                    ]
                ),
                int(f["proto"]),
            )
            got[key] += int(f["pkts_c2s"] + f["pkts_s2c"])
            assert f["first_ts"] <= f["last_ts"]
            uids.add(int(f["uid"]))
    assert got == naive
    assert len(uids) == sum(len(p) for p in ended)  # every flow has its own uid


def test_syn_decides_client_and_port_reuse_splits() -> None:
    syn = (0, 1, 50001, 3333, 6, 0x02, True)
    synack = (1, 0, 3333, 50001, 6, 0x12, True)
    fin_c = (0, 1, 50001, 3333, 6, 0x11, True)
    fin_s = (1, 0, 3333, 50001, 6, 0x11, True)
    table = FlowTable()
    pk = _batch([synack, syn, fin_c, fin_s, syn])
    _slot, direction, new, reused = table.update(pk, np.arange(5, dtype=np.float64))
    assert list(direction) == [1, 0, 0, 1, 0]  # the SYN/ACK's receiver is the client
    assert list(new) == [1, 0, 0, 0, 1]
    assert len(reused) == 1 and reused[0]["pkts_c2s"] == 2 and reused[0]["pkts_s2c"] == 2
    assert reused[0]["cport"] == 50001


def test_mid_session_port_heuristic() -> None:
    table = FlowTable()
    pk = _batch([(1, 0, 3333, 50001, 6, 0x18, True)])  # pool speaks first, no handshake seen
    table.update(pk, np.zeros(1))
    f = table.drain()[0]
    assert f["cport"] == 50001 and f["sport"] == 3333 and f["client_by_syn"] == 0
