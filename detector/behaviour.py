"""Behaviour score for flows seen without payload (NetFlow/IPFIX records, sampled sFlow).

A miner's pool connection is a long-lived TCP session with a slow, steady rhythm of small
messages: job notifications one way, shares the other, mostly PSH/ACK segments. Four features,
each judged on whole arrays of flows (thresholds in `Thresholds`, measured on the real captures
in ../shared/data — see README "Behaviour score" for the figures):

- *long-lived*: active for at least `min_seconds`;
- *slow cadence*: `min_ppm`..`max_ppm` packets per minute (estimated, i.e. scaled by sampling);
- *small packets*: `min_bpp`..`max_bpp` mean bytes per packet;
- *PSH/ACK*: the cumulative TCP flags hold PSH and ACK and nothing but SYN/FIN/RST besides
  (no URG, ECE, CWR). RST is allowed: a miner that is killed, or a capture that is cut, ends
  its session with one.

The score is the fraction of features met. A flow meeting all four gets `behaviour` evidence of
low confidence (`CONFIDENCE`): enough for the verification queue, never enough to block, and never
reported for a flow the pcap path could read (payload signatures decide those). Heavily sampled
records (1:`max_sampling` and sparser) are not judged: a single sampled packet says nothing about
rhythm; such flows rely on the block lists and the pair cache, aggregated per subscriber.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from detector.base import Evidence, EvidenceKind, HitClass

if TYPE_CHECKING:
    from detector.context import DetectContext
    from pipelines.flows import Flows

CONFIDENCE = 0.45
_OTHER_FLAGS = 0xFF & ~(0x01 | 0x02 | 0x04 | 0x08 | 0x10)  # URG ECE CWR (not FIN SYN RST PSH ACK)
_PSH_ACK = 0x18


@dataclass(frozen=True, slots=True)
class Thresholds:
    min_seconds: float = 150.0
    min_ppm: float = 1.0
    max_ppm: float = 60.0
    min_bpp: float = 60.0
    max_bpp: float = 900.0
    max_sampling: int = 100  # records sampled 1:N with N >= this are not judged


def features(
    flows: Flows, th: Thresholds, sampling: npt.NDArray[np.uint32] | None = None
) -> npt.NDArray[np.bool_]:
    """Per flow, which of the four features hold: shape (n, 4) — long, cadence, size, flags.
    Packet and byte counts are scaled by `sampling` (1-in-N per flow; 0 = unknown, as is)."""
    seconds = flows["last_ts"] - flows["first_ts"]
    packets = (flows["pkts_c2s"] + flows["pkts_s2c"]).astype(np.float64)
    octets = (flows["bytes_c2s"] + flows["bytes_s2c"]).astype(np.float64)
    if sampling is not None:
        scale = np.maximum(sampling, 1).astype(np.float64)
        packets *= scale
        octets *= scale
    with np.errstate(divide="ignore", invalid="ignore"):
        ppm = packets / (seconds / 60.0)
        bpp = octets / packets
    flags = flows["flags_c2s"] | flows["flags_s2c"]
    out = np.zeros((len(flows), 4), dtype=bool)
    out[:, 0] = seconds >= th.min_seconds
    out[:, 1] = (ppm >= th.min_ppm) & (ppm <= th.max_ppm)
    out[:, 2] = (bpp >= th.min_bpp) & (bpp <= th.max_bpp)
    out[:, 3] = ((flags & _PSH_ACK) == _PSH_ACK) & ((flags & _OTHER_FLAGS) == 0)
    out[flows["proto"] != 6] = False
    return out


def score(flows: Flows, th: Thresholds | None = None) -> npt.NDArray[np.float64]:
    """Fraction of the behaviour features each flow meets (0..1)."""
    f = features(flows, th or Thresholds())
    return f.mean(axis=1) if len(flows) else np.zeros(0)


class Behaviour:
    """Flow detector: `behaviour` evidence for flows that meet every feature."""

    name = "behaviour"

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.th = thresholds or Thresholds()

    def check(
        self,
        ctx: DetectContext,
        flows: Flows,
        now: float,
        sampling: npt.NDArray[np.uint32] | None = None,
    ) -> list[tuple[int, Evidence]]:
        if not len(flows):
            return []
        f = features(flows, self.th, sampling)
        ok = f.all(axis=1)
        if sampling is not None:
            ok &= sampling < self.th.max_sampling
        found: list[tuple[int, Evidence]] = []
        for row in np.flatnonzero(ok).tolist():
            flow = flows[row]
            k = max(int(sampling[row]), 1) if sampling is not None else 1
            seconds = float(flow["last_ts"] - flow["first_ts"])
            packets = int(flow["pkts_c2s"] + flow["pkts_s2c"]) * k
            octets = int(flow["bytes_c2s"] + flow["bytes_s2c"]) * k
            detail = {
                "behaviour": {
                    "seconds": round(seconds, 1),
                    "packets_per_minute": round(packets / (seconds / 60.0), 2),
                    "bytes_per_packet": round(octets / packets, 1),
                    "tcp_flags": int(flow["flags_c2s"] | flow["flags_s2c"]),
                }
            }
            ev = Evidence(EvidenceKind.BEHAVIOUR, CONFIDENCE, HitClass.MINING, "behaviour", detail)
            found.append((row, ev))
        return found
