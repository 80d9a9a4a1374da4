"""Options data records (NetFlow v9 FlowSet 1 / IPFIX set 3 templates): sampler rates and
system init time, decoded in Python because they are few (one per sampler per refresh).

A record naming a sampler (samplerId 48 or selectorId 302, in scope or not) sets that sampler's
rate for its stream, so data records carrying the same id pick it up; a record with a rate but no
sampler id sets the stream's default rate. systemInitTimeMilliseconds (160) is the base of
IPFIX flowStart/EndSysUpTime (22/21).
"""

from __future__ import annotations

import struct

from pipelines.decoders.flow_kernels import sampling_rate
from pipelines.decoders.flowstate import FlowState
from pipelines.decoders.templates import Template

RATE_IES = (34, 50, 305, 306, 309, 310)


class OptionsError(ValueError):
    """A record overrunning its set; carries the records read before it (`.args[1]`)."""


def parse_records(tmpl: Template, body: bytes) -> list[dict[int, int | float]]:
    """Every options record of a data set body (header excluded) as {IE: value}."""
    out: list[dict[int, int | float]] = []
    p, end = 0, len(body)
    minlen = tmpl.min_length
    while end - p >= minlen:
        rec: dict[int, int | float] = {}
        for k, (ie, pen, length) in enumerate(tmpl.fields):
            if tmpl.is_var(length):
                if p >= end:
                    raise OptionsError("record overruns its set", out)
                length = body[p]
                p += 1
                if length == 255:
                    if end - p < 2:
                        raise OptionsError("record overruns its set", out)
                    length = int.from_bytes(body[p : p + 2], "big")
                    p += 2
            if end - p < length:
                raise OptionsError("record overruns its set", out)
            raw = body[p : p + length]
            p += length
            if pen or (tmpl.version == 9 and k < tmpl.scope_count) or not 1 <= length <= 8:
                continue
            if ie == 311:
                if length in (4, 8):
                    rec[ie] = struct.unpack(">f" if length == 4 else ">d", raw)[0]
            else:
                rec[ie] = int.from_bytes(raw, "big")
        out.append(rec)
    return out


def apply(state: FlowState, slot: int, rec: dict[int, int | float]) -> None:
    """Remember what one options record says about its stream."""
    vals = [min(float(rec.get(ie, 0)), 2.0**63) for ie in RATE_IES]
    prob = float(rec.get(311, 0.0))
    rate = int(sampling_rate(*vals, prob if prob == prob else 0.0))  # type: ignore[call-arg]
    if 160 in rec:
        state.slots[slot]["init_ms"] = min(int(rec[160]), 2**62)
    if rate > 0:
        sampler = rec.get(48, rec.get(302))
        if sampler is None:
            state.slots[slot]["rate"] = rate
        else:
            state.set_sampler(slot, int(sampler), rate)
