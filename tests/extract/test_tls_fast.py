"""The compiled ClientHello walk must agree with the full parser wherever it answers."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from conftest import BENIGN, need_shared
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.extract.tls import client_hello_sni, sni_text
from detector.extract.tls_fast import FALLBACK, FOUND, NO_SNI, sni_span
from pipelines.scan import ScanStats, read_batches


@cache
def real_hellos() -> tuple[bytes, ...]:
    """First segments that open a ClientHello record, from the real benign captures."""
    out = []
    for path in sorted(BENIGN.iterdir()):
        if path.suffix not in (".pcap", ".pcapng"):
            continue
        for batch, _ in read_batches(Path(path), ScanStats()):
            for p in batch.packets[batch.packets["payload_len"] > 8]:
                off, n = int(p["payload_off"]), int(p["payload_len"])
                data = batch.buf[off : off + n].tobytes()
                if data[:2] == b"\x16\x03" and data[5] == 1:
                    out.append(data)
    return tuple(out)


def _agree(data: bytes) -> int:
    status, off, length = sni_span(np.frombuffer(data, dtype=np.uint8))
    if status != FALLBACK:
        full = client_hello_sni(data)
        assert full.is_client_hello and not full.need_more and full.error is None, full
        want = sni_text(data[off : off + length]) if status == FOUND else None
        assert full.sni == want
    return int(status)


def test_real_hellos_take_the_fast_path_and_agree() -> None:
    need_shared()
    hellos = real_hellos()
    assert len(hellos) >= 50
    statuses = [_agree(h) for h in hellos]
    fast = sum(s != FALLBACK for s in statuses)
    found = sum(s == FOUND for s in statuses)
    print(f"\n{len(hellos)} real ClientHellos: {fast} on the fast path ({found} with SNI)")
    assert fast / len(hellos) >= 0.9  # the fallback is for the unusual hello
    assert found >= 0.8 * fast


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_hellos_never_disagree(data: st.DataObject) -> None:
    need_shared()
    hellos = real_hellos()
    base = bytearray(data.draw(st.sampled_from(hellos)))
    for _ in range(data.draw(st.integers(0, 4))):
        i = data.draw(st.integers(0, len(base) - 1))
        base[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(base)))
    _agree(bytes(base[:cut]) if data.draw(st.booleans()) else bytes(base))


@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_disagree(raw: bytes) -> None:
    _agree(b"\x16\x03\x01" + raw)
    _agree(raw)


def test_statuses_are_distinct() -> None:
    assert len({FALLBACK, FOUND, NO_SNI}) == 3
