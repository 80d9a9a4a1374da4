"""Explicit decoder state for flow export: exporters, streams, templates, samplers, held sets.

A stream is one (exporter, export version, source id / observation domain): sequence numbers,
templates and sampler ids are all scoped to it. Per-stream counters and sequence state live in
one numpy structured array so the kernels update them in place; everything keyed by Python
objects (dicts of templates and samplers) is only touched for templates and options records,
which are rare.

Every table is bounded; what does not fit is refused and counted, never grown without limit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipelines.decoders.flowrec import DecodeStats, ExporterStats
from pipelines.decoders.held import HeldSets
from pipelines.decoders.templates import Template, TemplateTable, Withdrawal

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]

STATE_FORMAT = "minewatch-flow-templates"
STATE_VERSION = 1
VERSION_CODE = {5: 0, 9: 1, 10: 2}
CODE_VERSION = {v: k for k, v in VERSION_CODE.items()}
MAX_EXPORTERS = 1 << 20  # exporter ids must fit the 29 bits of a stream key

# Per-stream sequence state and counters, updated in place by the kernels.
SLOT_DTYPE = np.dtype(
    [
        ("expected", np.int64),  # next sequence number, -1 = not synchronised
        ("uptime", np.int64),  # last sysUptime ms (v5/v9), -1 = none
        ("datagrams", np.int64),
        ("records", np.int64),
        ("nosamp", np.int64),  # records with no sampling rate
        ("gaps", np.int64),
        ("lost", np.int64),
        ("reordered", np.int64),
        ("restarts", np.int64),
        ("init_ms", np.int64),  # systemInitTimeMilliseconds from options, -1 = unknown
        ("rate", np.int64),  # sampling rate from options without a sampler id, 0 = unknown
    ],
    align=True,
)


class TemplateStateError(ValueError):
    """A saved template state that cannot be loaded (unknown format or version, bad content)."""


class FlowState:
    """Everything the NetFlow/IPFIX decoders remember between datagrams."""

    def __init__(
        self,
        *,
        max_exporters: int = 4096,
        max_streams: int = 65536,
        max_templates: int = 65536,
        max_samplers: int = 65536,
        hold_seconds: float = 120.0,
        hold_bytes: int = 4 << 20,
    ) -> None:
        self.max_exporters = min(max_exporters, MAX_EXPORTERS - 1)
        self.max_streams = min(max_streams, 1 << 22)
        self.max_templates = max_templates
        self.max_samplers = max_samplers
        self.tally = DecodeStats()  # live global counters; read them through stats()
        self._exp_ids: dict[str, int] = {}
        self._exp_names: list[str] = [""]  # id 0 is never assigned: "refused"
        self._slot_ids: dict[tuple[int, int, int], int] = {}
        self.slot_keys: list[tuple[int, int, int]] = []  # slot -> (exporter id, version, domain)
        self.slots = np.zeros(0, dtype=SLOT_DTYPE)
        self.table = TemplateTable()
        self.live: dict[tuple[int, int], int] = {}  # (slot, template id) -> layout index
        self._lookup: tuple[I64, I64] | None = None
        # last template set body per (slot, set id), and how many templates it held
        self.template_sets: dict[tuple[int, int], tuple[bytes, int]] = {}
        self.samplers: dict[tuple[int, int], int] = {}  # (slot, sampler id) -> rate
        self._samp: tuple[I64, U64, I64] | None = None
        self.held = HeldSets(self.tally, hold_seconds, hold_bytes)
        self.batches = 0  # decode calls so far (tells held sets of this call from older ones)

    # -- exporters and streams --------------------------------------------------------------
    def exporter_id(self, address: str) -> int:
        """The id of an exporter address (registering it); 0 when the table is full."""
        eid = self._exp_ids.get(address)
        if eid is None:
            if len(self._exp_names) > self.max_exporters:
                return 0
            eid = len(self._exp_names)
            self._exp_ids[address] = eid
            self._exp_names.append(address)
        return eid

    def exporter_address(self, eid: int) -> str:
        return self._exp_names[eid]

    def slots_for(self, exporters: U32, versions: I64, domains: I64) -> I64:
        """Stream slot per datagram (-1 = refused: unknown exporter id or table full)."""
        code = np.where(versions == 5, 0, np.where(versions == 9, 1, 2)).astype(np.int64)
        key = (exporters.astype(np.int64) << 34) | (code << 32) | (domains & 0xFFFF_FFFF)
        uniq, inv = np.unique(key, return_inverse=True)
        ids = [
            self.slot(int(k) >> 34, CODE_VERSION[(int(k) >> 32) & 3], int(k) & 0xFFFF_FFFF)
            for k in uniq
        ]
        slots: I64 = np.array(ids, dtype=np.int64)[inv.reshape(-1)]
        return slots

    def slot(self, exporter: int, version: int, domain: int) -> int:
        key = (exporter, version, domain)
        sid = self._slot_ids.get(key)
        if sid is not None:
            return sid
        if exporter <= 0 or exporter >= len(self._exp_names):
            return -1
        if len(self.slot_keys) >= self.max_streams:
            return -1
        sid = len(self.slot_keys)
        if sid >= len(self.slots):
            grown = np.zeros(max(16, 2 * len(self.slots)), dtype=SLOT_DTYPE)
            grown[: len(self.slots)] = self.slots
            self.slots = grown
        self.slots[sid] = (-1, -1, 0, 0, 0, 0, 0, 0, 0, -1, 0)
        self._slot_ids[key] = sid
        self.slot_keys.append(key)
        return sid

    # -- templates ---------------------------------------------------------------------------
    def learn(self, slot: int, tmpl: Template) -> int | None:
        """Install a template; returns its new layout index, or None when nothing changed."""
        key = (slot, tmpl.tid)
        old = self.live.get(key)
        if old is not None and self.table.layouts[old] == tmpl:
            self.tally.templates_refreshed += 1
            return None
        if old is None and len(self.live) >= self.max_templates:
            self.tally.templates_refused += 1
            return None
        if old is None:
            self.tally.templates_learned += 1
        else:
            self.tally.templates_changed += 1
        idx = self.table.add(tmpl)
        self.live[key] = idx
        self._lookup = None
        return idx

    def remember_template_set(
        self, slot: int, set_id: int, body: bytes, events: list[Template | Withdrawal]
    ) -> None:
        """Keep a template set that is only templates, so a byte-identical resend of it
        (the usual case) skips parsing; one with withdrawals is always applied again."""
        full = len(self.live) >= self.max_templates  # a refused template must be retried
        if not full and all(isinstance(e, Template) for e in events):
            self.template_sets[(slot, set_id)] = (body, len(events))
        else:
            self.template_sets.pop((slot, set_id), None)

    def withdraw(self, slot: int, w: Withdrawal) -> list[int]:
        """Remove withdrawn templates; returns the template ids removed."""
        if w.all_of:
            tids = [
                t
                for (s, t), i in self.live.items()
                if s == slot and self.table.layouts[i].options == w.options
            ]
        else:
            tids = [w.tid] if (slot, w.tid) in self.live else []
        for t in tids:
            del self.live[(slot, t)]
        for key in [k for k in self.template_sets if k[0] == slot]:
            del self.template_sets[key]
        self.tally.templates_withdrawn += len(tids)
        if tids:
            self._lookup = None
        return tids

    def lookup_arrays(self) -> tuple[I64, I64]:
        """Live templates as sorted keys ((slot << 16 | tid) << 24) and layout indexes."""
        if self._lookup is None:
            items = sorted(((s << 16 | t) << 24, i) for (s, t), i in self.live.items())
            self._lookup = (
                np.array([k for k, _ in items], dtype=np.int64),
                np.array([i for _, i in items], dtype=np.int64),
            )
        return self._lookup

    def compact(self) -> None:
        """Drop layouts no live template uses (only between batches: indexes change)."""
        if len(self.table.layouts) <= 2 * len(self.live) + 256:
            return
        table = TemplateTable()
        self.live = {k: table.add(self.table.layouts[i]) for k, i in sorted(self.live.items())}
        self.table = table
        self._lookup = None

    # -- samplers ----------------------------------------------------------------------------
    def set_sampler(self, slot: int, sampler: int, rate: int) -> None:
        key = (slot, sampler)
        if self.samplers.get(key) == rate:
            return
        if key not in self.samplers and len(self.samplers) >= self.max_samplers:
            return
        self.samplers[key] = rate
        self._samp = None

    def sampler_arrays(self) -> tuple[I64, U64, I64]:
        """Samplers sorted by (slot, sampler id), for a binary search in the kernel."""
        if self._samp is None:
            items = sorted(self.samplers.items())
            self._samp = (
                np.array([s for (s, _), _ in items], dtype=np.int64),
                np.array([i for (_, i), _ in items], dtype=np.uint64),
                np.array([r for _, r in items], dtype=np.int64),
            )
        return self._samp

    # -- metrics -----------------------------------------------------------------------------
    @property
    def counters(self) -> DecodeStats:
        """The same snapshot as `stats()`."""
        return self.stats()

    def stats(self) -> DecodeStats:
        """A snapshot of the counters, with per-(exporter, version) totals of the streams."""
        out = self.tally.copy()
        per: dict[tuple[str, int], ExporterStats] = {}
        for sid, (eid, version, _) in enumerate(self.slot_keys):
            row = self.slots[sid]
            e = per.setdefault((self._exp_names[eid], version), ExporterStats())
            e.datagrams += int(row["datagrams"])
            e.records += int(row["records"])
            e.records_no_sampling += int(row["nosamp"])
            e.sequence_gaps += int(row["gaps"])
            e.lost += int(row["lost"])
            e.reordered += int(row["reordered"])
            e.restarts += int(row["restarts"])
        out.exporters = per
        out.templates_live = len(self.live)
        out.held_sets_now = len(self.held)
        out.held_bytes_now = self.held.bytes
        for e in per.values():
            out.records += e.records
            out.records_no_sampling += e.records_no_sampling
            out.sequence_gaps += e.sequence_gaps
            out.lost += e.lost
            out.reordered += e.reordered
            out.exporter_restarts += e.restarts
        return out

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write templates, sampler rates and init times as versioned JSON, atomically."""
        streams: dict[int, dict[str, Any]] = {}

        def entry(sid: int) -> dict[str, Any]:
            if sid not in streams:
                eid, version, domain = self.slot_keys[sid]
                row = self.slots[sid]
                streams[sid] = {
                    "exporter": self._exp_names[eid],
                    "version": version,
                    "domain": domain,
                    "init_ms": int(row["init_ms"]),
                    "rate": int(row["rate"]),
                    "templates": [],
                    "samplers": [],
                }
            return streams[sid]

        for (sid, _), idx in sorted(self.live.items()):
            t = self.table.layouts[idx]
            entry(sid)["templates"].append(
                {"id": t.tid, "options": t.options, "scope": t.scope_count, "fields": t.fields}
            )
        for (sid, sampler), rate in sorted(self.samplers.items()):
            entry(sid)["samplers"].append([sampler, rate])
        for sid, row in enumerate(self.slots[: len(self.slot_keys)]):
            if row["init_ms"] >= 0 or row["rate"] > 0:
                entry(sid)
        doc = {"format": STATE_FORMAT, "version": STATE_VERSION, "streams": list(streams.values())}
        target = Path(path)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        dfd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    @classmethod
    def load(cls, path: str | Path, **limits: Any) -> FlowState:
        """A new state holding what `save` wrote; TemplateStateError if it is not such a file."""
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TemplateStateError(f"cannot read template state {path}: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
            raise TemplateStateError(f"{path} is not a minewatch template state")
        if doc.get("version") != STATE_VERSION:
            raise TemplateStateError(f"{path}: unsupported state version {doc.get('version')!r}")
        state = cls(**limits)
        try:
            for s in doc["streams"]:
                version = int(s["version"])
                if version not in (5, 9, 10):
                    raise TemplateStateError(f"bad export version {version}")
                sid = state.slot(state.exporter_id(str(s["exporter"])), version, int(s["domain"]))
                if sid < 0:
                    continue
                state.slots[sid]["init_ms"] = int(s["init_ms"])
                state.slots[sid]["rate"] = int(s["rate"])
                for t in s["templates"]:
                    fields = tuple((int(a), int(b), int(c)) for a, b, c in t["fields"])
                    tmpl = Template(
                        version, int(t["id"]), fields, int(t["scope"]), bool(t["options"])
                    )
                    state.learn(sid, tmpl)
                for sampler, rate in s["samplers"]:
                    state.set_sampler(sid, int(sampler), int(rate))
        except (KeyError, TypeError, ValueError) as exc:
            raise TemplateStateError(f"{path}: bad template state: {exc}") from exc
        state.tally.templates_learned = 0
        return state
