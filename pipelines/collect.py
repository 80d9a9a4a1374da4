"""`minewatch collect`: NetFlow v5/v9, IPFIX and sFlow in, aggregated hits out.

Stages, one per concern: `UdpReceiver` threads only receive (one per listener, all feeding one
queue); this loop decodes each batch with the pure decoders (`pipelines.decoders.flowexport` for
NetFlow/IPFIX, `pipelines.decoders.sflow` for sFlow) and detects:

- flow records (NetFlow/IPFIX, sFlow sampled IPv4/IPv6) → `RecordStage` (block lists, DNS-learned
  endpoints, pair cache, behaviour score);
- sFlow raw packet headers → the same packet path as `minewatch scan` (`FlowStage`), so Stratum
  and the other payload signatures fire on sampled packets.

Every hit goes to the `Aggregator` (per subscriber and pool endpoint, counts scaled by the
sampling rate) which reports to the sink every `flush_every` seconds and at shutdown. NetFlow
templates are saved to `state_path` periodically and at shutdown, and loaded at start, so data
records keep decoding across a collector restart.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from detector.context import DetectContext
from detector.engine import Engine, Sink
from detector.hits import FlowHit
from minewatch.metrics import Metrics, Sample
from pipelines.aggregate import Aggregator
from pipelines.batch import addr_text, addr_words
from pipelines.decoders import sflow
from pipelines.decoders.flowexport import decode_batch
from pipelines.decoders.flowrec import FLOWREC_DTYPE, FlowRecords
from pipelines.decoders.flowstate import FlowState, TemplateStateError
from pipelines.decoders.sflow_seq import SflowState
from pipelines.gctune import tune_gc
from pipelines.records import RecordStage
from pipelines.scan import FlowStage
from pipelines.sources.udp import DatagramBatch, UdpReceiver, open_socket

log = logging.getLogger(__name__)
# NetFlow/IPFIX datagrams decoded and detected together. A full receive batch (1024 datagrams,
# ~30k records) made arrays of 3-4 MB per step, which glibc serves with fresh mmap'd pages each
# time: about a thousand page faults a batch, and 4 M records/s where 256 at a time run at 14 M
# (one core, the synthetic v5 datagrams bench/bench_collect.py offers).
SUB_BATCH = 256
Listener = tuple[str, str, int]  # kind ("netflow" | "sflow"), host, port


class Stoppable(Protocol):
    def is_set(self) -> bool: ...


@dataclass(slots=True)
class CollectStats:
    batches: int = 0
    datagrams: int = 0
    hits: dict[str, int] = field(default_factory=dict)  # reported (aggregated) hits by class
    state_saves: int = 0
    state_errors: int = 0
    errors: int = 0  # batches whose processing raised (logged)
    processed: dict[str, int] = field(default_factory=dict)  # datagrams decoded, by listener


class Collector:
    """Owns the receivers, the decoder states and the detection stages of one process."""

    def __init__(
        self, ctx: DetectContext, sink: Sink, listeners: Iterable[Listener], *,
        state_path: Path | None = None, flush_every: float = 60.0, metrics: Metrics | None = None,
        after_flush: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        self.ctx = ctx
        self.sink = sink
        self.stats = CollectStats()
        self.flush_every = flush_every
        self.after_flush = after_flush  # e.g. commit the store's buffered rows
        self.state_path = state_path
        self.nf_state = self._load_state(state_path)
        self.sf_state = SflowState()
        self.sf_stats = sflow.SflowStats()
        self.aggregator = Aggregator(self._report)
        self.records = RecordStage(ctx, self.aggregator, self._nf_source)
        self.sf_records = RecordStage(ctx, self.aggregator, self._sf_source)
        self._agents: list[str] = [""]
        self._agent_ids: dict[tuple[int, int], int] = {}
        self._rates: dict[tuple[int, ...], int] = {}  # address pair (words) → sFlow rate
        self.engine = Engine(ctx, self._packet_hit)
        self.packets = FlowStage(self.engine, "sflow")
        self._ready: queue.SimpleQueue[DatagramBatch | None] = queue.SimpleQueue()
        self.receivers: list[tuple[str, UdpReceiver]] = []
        for kind, host, port in listeners:
            sock = open_socket(host, port)
            self.receivers.append((kind, UdpReceiver(sock, ready=self._ready, kind=kind)))
        if metrics is not None:
            metrics.add(self.samples)

    # -- sources of hit labels -----------------------------------------------------------
    def _nf_source(self, eid: int) -> str:
        return f"netflow:{self.nf_state.exporter_address(eid)}"

    def _sf_source(self, aid: int) -> str:
        return f"sflow:{self._agents[aid]}"

    def _report(self, hit: FlowHit) -> None:
        self.stats.hits[str(hit.cls)] = self.stats.hits.get(str(hit.cls), 0) + 1
        self.sink(hit)

    def _packet_hit(self, hit: FlowHit) -> None:
        """A hit from sampled packets: scaled by the rate the pair's latest sample was taken at
        (one rate per agent and interface in practice; a pair seen by two samplers with
        different rates is scaled by the later one)."""
        a, b = addr_words(hit.client_ip), addr_words(hit.server_ip)
        self.aggregator.add(hit, self._rates.get((*min(a, b), *max(a, b)), 0))

    # -- state -----------------------------------------------------------------------------
    def _load_state(self, path: Path | None) -> FlowState:
        if path is None or not path.exists():
            return FlowState()
        try:
            return FlowState.load(path)
        except (TemplateStateError, OSError, ValueError) as exc:
            log.warning("ignoring unreadable template state %s: %s", path, exc)
            self.stats.state_errors += 1
            return FlowState()

    def save_state(self) -> None:
        if self.state_path is None:
            return
        try:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            self.nf_state.save(self.state_path)
            self.stats.state_saves += 1
        except OSError as exc:
            log.warning("cannot save template state %s: %s", self.state_path, exc)
            self.stats.state_errors += 1

    # -- the loop ----------------------------------------------------------------------------
    def run(self, stop: Stoppable) -> CollectStats:
        """Receive and detect until `stop` is set; then drain, flush and save."""
        tune_gc()
        for _, r in self.receivers:
            r.start()
        last_flush = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    batch = self._ready.get(timeout=0.25)
                except queue.Empty:
                    batch = None
                if batch is not None:
                    self.process(batch)
                if time.monotonic() - last_flush >= self.flush_every:
                    self.tick(time.time())
                    last_flush = time.monotonic()
        finally:
            for _, r in self.receivers:
                r.stop()
            while True:  # what was received before the stop is still processed
                try:
                    batch = self._ready.get_nowait()
                except queue.Empty:
                    break
                if batch is not None:
                    self.process(batch)
            self.close()
        return self.stats

    def process(self, batch: DatagramBatch) -> None:
        """Decode and detect one batch. A failure is logged with its traceback and counted
        (`minewatch_processing_errors_total`); the collector goes on with the next batch."""
        try:
            self._process(batch)
        except Exception:
            self.stats.errors += 1
            log.exception("batch of %d datagrams (%s) failed", len(batch), batch.kind)
        finally:
            batch.release()
            done = self.stats.processed
            done[batch.kind] = done.get(batch.kind, 0) + len(batch)

    def _process(self, batch: DatagramBatch) -> None:
        self.stats.batches += 1
        self.stats.datagrams += len(batch)
        if batch.kind == "sflow":
            self._sflow(batch)
            return
        ids = np.array([self.nf_state.exporter_id(s) for s in batch.sender_names], np.uint32)
        eids = ids[batch.sender_index] if len(ids) else np.zeros(len(batch), np.uint32)
        for at in range(0, len(batch), SUB_BATCH):  # in order: the same records, the same state
            part = slice(at, at + SUB_BATCH)
            recs = decode_batch(
                self.nf_state, batch.buf, batch.offsets[part], batch.lengths[part], eids[part],
                batch.received,
            )  # fmt: skip
            self.records.feed(recs)

    def _sflow(self, batch: DatagramBatch) -> None:
        out = sflow.decode_datagrams(
            batch.buf, batch.offsets, batch.lengths, batch.received, self.sf_state, self.sf_stats
        )
        if len(out.flows):
            self.sf_records.feed(self._sflow_records(out.flows))
        if len(out.chunk.records):
            pb = out.packet_batch()
            self._remember_rates(pb.packets, out.sampled["sampling_rate"])
            # payload bytes are copied by the engine before the buffer goes back to the receiver
            self.packets.feed(pb, float(pb.records["ts"].max()))

    def _remember_rates(self, packets: np.ndarray, rates: np.ndarray) -> None:
        if len(self._rates) > 1_000_000:
            self._rates.clear()
        src = list(zip(packets["src_hi"].tolist(), packets["src_lo"].tolist(), strict=True))
        dst = list(zip(packets["dst_hi"].tolist(), packets["dst_lo"].tolist(), strict=True))
        keys = ((*min(x, y), *max(x, y)) for x, y in zip(src, dst, strict=True))
        self._rates.update(zip(keys, rates.tolist(), strict=True))

    def _agent_id(self, hi: int, lo: int) -> int:
        aid = self._agent_ids.get((hi, lo))
        if aid is None:
            aid = self._agent_ids[(hi, lo)] = len(self._agents)
            self._agents.append(addr_text(hi, lo))
        return aid

    def _sflow_records(self, rows: np.ndarray) -> FlowRecords:
        """sFlow sampled IPv4/IPv6 records as flow records: one sampled packet each."""
        recs = np.zeros(len(rows), dtype=FLOWREC_DTYPE)
        for name in ("src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport", "proto"):
            recs[name] = rows[name]
        recs["tcp_flags"] = rows["tcp_flags"]
        recs["family"] = rows["family"]
        recs["first_ts"] = recs["last_ts"] = rows["ts"]
        recs["packets"] = 1
        recs["bytes"] = rows["ip_len"]
        recs["sampling"] = rows["sampling_rate"]
        recs["exporter"] = [
            self._agent_id(int(h), int(lo))
            for h, lo in zip(rows["agent_hi"].tolist(), rows["agent_lo"].tolist(), strict=True)
        ]
        return recs

    def tick(self, now: float) -> None:
        """Periodic work: end idle packet-path flows on wall time, report, save templates."""
        self.packets.expire(now)
        self.aggregator.flush(now)
        if self.after_flush is not None:
            self.after_flush()
        self.save_state()

    def close(self) -> None:
        """Final flush: end every packet-path flow, report every changed aggregate, save."""
        self.packets.drain()
        self.aggregator.flush()
        if self.after_flush is not None:
            self.after_flush()
        self.save_state()

    # -- metrics -------------------------------------------------------------------------------
    def samples(self) -> Iterable[Sample]:
        for kind, r in self.receivers:
            lab = {"listener": kind}
            st = r.stats
            yield Sample("datagrams_received", "UDP datagrams received", st.datagrams, lab)
            yield Sample("datagrams_dropped", "Datagrams dropped (kernel: socket buffer full)",
                         r.refresh_drops(), {**lab, "where": "kernel"})  # fmt: skip
            yield Sample("receiver_buffer_waits", "Times every receive buffer was busy",
                         st.waits_for_buffer, lab)  # fmt: skip
            yield Sample("datagrams_processed", "Datagrams decoded and detected on",
                         self.stats.processed.get(kind, 0), lab)  # fmt: skip
            yield Sample("datagrams_truncated", "Datagrams larger than a receive slot",
                         st.truncated, lab)  # fmt: skip
        c = self.nf_state.counters
        yield Sample("template_misses", "Data sets whose template was unknown", c.template_misses)
        yield Sample("flows_no_sampling", "Flow records without a sampling rate",
                     c.records_no_sampling + self.sf_stats.no_sampling_rate)  # fmt: skip
        yield Sample("decode_malformed", "Malformed datagrams", c.malformed_datagrams,
                     {"format": "netflow"})  # fmt: skip
        yield Sample("decode_malformed", "Malformed datagrams", self.sf_stats.malformed_datagrams,
                     {"format": "sflow"})  # fmt: skip
        for (exporter, version), e in list(c.exporters.items()):
            lab = {"exporter": exporter, "version": str(version)}
            yield Sample("records_decoded", "Flow records decoded", e.records, lab)
            yield Sample("sequence_gaps", "Sequence gaps", e.sequence_gaps, lab)
            yield Sample("sequence_lost", "Flows/packets/records lost in gaps", e.lost, lab)
            yield Sample("exporter_restarts", "Exporter restarts (sequence reset)", e.restarts, lab)
        yield Sample("sflow_packets", "sFlow raw packet headers decoded", self.sf_stats.packets)
        yield Sample("sflow_lost_samples", "sFlow samples lost in sequence gaps",
                     self.sf_stats.lost_samples)  # fmt: skip
        yield Sample("sflow_drops", "Packets the sFlow agents dropped", self.sf_stats.drops)
        for kind, n in sorted(self.sf_stats.samples.items()):
            yield Sample("sflow_samples", "sFlow samples by kind", n, {"kind": kind})
        yield Sample("processing_errors", "Batches whose processing failed (logged)",
                     self.stats.errors)  # fmt: skip
        for cls, n in sorted(self.stats.hits.items()):
            yield Sample("hits", "Aggregated hits reported", n, {"class": cls})
        yield Sample("aggregates", "Subscriber-pool aggregates held", len(self.aggregator.acc),
                     gauge=True)  # fmt: skip
