"""NetFlow v9 / IPFIX templates: parsing template sets, and compiling layouts for the kernel.

Templates are rare (a few per exporter, resent every minute or every N packets), so they are
parsed in Python. Each layout is compiled once into rows of small numpy tables (per field: wire
length or -1 for variable length, and a target code saying which record column it fills) that
the data-record kernel in `flow_kernels` walks without touching Python.

Layouts are append-only within a batch: a template change gets a new compiled index, so data
sets earlier in the same batch still decode with the layout that was live when they were sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]

VARLEN = 65535  # IPFIX: field length 65535 in a template = variable length (RFC 7011 §7)
MAX_FIELDS = 1024  # more fields than this in one template is garbage, not a router
MIN_DATA_TEMPLATE_ID = 256

# Target codes: which record value a field fills (0 = skip it).
SKIP, BYTES, PKTS, PROTO, FLAGS, SPORT, DPORT, SRC4, DST4, SRC6, DST6 = range(11)
LAST_UP, FIRST_UP, START_S, END_S, START_MS, END_MS = range(11, 17)
START_US, END_US, START_NS, END_NS, START_DUS, END_DUS, INIT_MS = range(17, 24)
S_INTERVAL, S_RANDOM, SAMPLER, PKT_INTERVAL, PKT_SPACE, S_SIZE, S_POP, S_PROB = range(24, 32)
BYTES_TOTAL, PKTS_TOTAL = 32, 33

# IE id -> (code, allowed lengths); unsigned integers may use any reduced size 1..8
# (RFC 7011 §6.2), addresses and NTP timestamps have exactly one encoding.
_INT = frozenset(range(1, 9))
IE_CODES: dict[int, tuple[int, frozenset[int]]] = {
    1: (BYTES, _INT),  # octetDeltaCount / IN_BYTES
    2: (PKTS, _INT),  # packetDeltaCount / IN_PKTS
    4: (PROTO, _INT),
    6: (FLAGS, _INT),  # tcpControlBits: 1 byte in v9, 2 in IPFIX; the low 8 bits are the flags
    7: (SPORT, _INT),
    8: (SRC4, frozenset({4})),
    11: (DPORT, _INT),
    12: (DST4, frozenset({4})),
    21: (LAST_UP, _INT),  # flowEndSysUpTime / LAST_SWITCHED, ms
    22: (FIRST_UP, _INT),  # flowStartSysUpTime / FIRST_SWITCHED, ms
    27: (SRC6, frozenset({16})),
    28: (DST6, frozenset({16})),
    32: (DPORT, _INT),  # icmpTypeCodeIPv4: type << 8 | code in the port column, as v5 does
    34: (S_INTERVAL, _INT),  # samplingInterval
    48: (SAMPLER, _INT),  # samplerId
    50: (S_RANDOM, _INT),  # samplerRandomInterval
    85: (BYTES_TOTAL, _INT),  # octetTotalCount, used when no delta count is exported
    86: (PKTS_TOTAL, _INT),  # packetTotalCount
    139: (DPORT, _INT),  # icmpTypeCodeIPv6
    150: (START_S, _INT),  # flowStartSeconds
    151: (END_S, _INT),
    152: (START_MS, _INT),  # flowStartMilliseconds
    153: (END_MS, _INT),
    154: (START_US, frozenset({8})),  # flowStartMicroseconds, NTP format
    155: (END_US, frozenset({8})),
    156: (START_NS, frozenset({8})),  # flowStartNanoseconds, NTP format
    157: (END_NS, frozenset({8})),
    158: (START_DUS, _INT),  # flowStartDeltaMicroseconds, before the export time
    159: (END_DUS, _INT),
    160: (INIT_MS, _INT),  # systemInitTimeMilliseconds: base of 21/22 in IPFIX
    302: (SAMPLER, _INT),  # selectorId
    305: (PKT_INTERVAL, _INT),  # samplingPacketInterval: packets selected ...
    306: (PKT_SPACE, _INT),  # samplingPacketSpace: ... then packets skipped
    309: (S_SIZE, _INT),  # samplingSize (n of N)
    310: (S_POP, _INT),  # samplingPopulation (N)
    311: (S_PROB, frozenset({4, 8})),  # samplingProbability, float32/float64
}


class TemplateError(ValueError):
    """A template set that cannot be a real template (truncated, absurd counts)."""


@dataclass(frozen=True, slots=True)
class Template:
    """One template as sent: fields are (element id, enterprise number or 0, wire length)."""

    version: int
    tid: int
    fields: tuple[tuple[int, int, int], ...]
    scope_count: int = 0  # options templates: the first scope_count fields are scope fields
    options: bool = False

    @property
    def min_length(self) -> int:
        """Shortest possible record: fixed lengths, and one length octet per variable field."""
        return sum(1 if self.is_var(n) else n for _, _, n in self.fields)

    def is_var(self, length: int) -> bool:
        return self.version == 10 and length == VARLEN

    def codes(self) -> list[int]:
        """Target code per field. v9 options scope fields are not IEs (1 = System, ...)."""
        out = []
        for k, (ie, pen, length) in enumerate(self.fields):
            code, lengths = IE_CODES.get(ie, (SKIP, _INT))
            skip = pen != 0 or (self.version == 9 and k < self.scope_count)
            out.append(SKIP if skip or self.is_var(length) or length not in lengths else code)
        return out


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """IPFIX template withdrawal; tid 2 (or 3) with no fields withdraws all (options) templates."""

    tid: int
    all_of: bool = False
    options: bool = False


TemplateEvent = Template | Withdrawal


def _u16(data: bytes, p: int) -> int:
    return (data[p] << 8) | data[p + 1]


def parse_template_set(version: int, set_id: int, data: bytes) -> list[TemplateEvent]:
    """Parse the body of one template / options template set (header excluded).

    Raises TemplateError carrying the events parsed before the damage (`.args[1]`), so the
    templates that precede a bad record in the same set are still learned.
    """
    events: list[TemplateEvent] = []
    options = set_id in (1, 3)
    p, end = 0, len(data)
    try:
        while end - p >= 4:
            tid = _u16(data, p)
            if version == 9 and options:
                if end - p < 6:
                    break
                scope_len, opt_len = _u16(data, p + 2), _u16(data, p + 4)
                if tid == 0 and scope_len == 0:
                    break  # padding
                if scope_len % 4 or opt_len % 4:
                    raise TemplateError("options template lengths not a multiple of 4")
                count, scope = (scope_len + opt_len) // 4, scope_len // 4
                p += 6
            elif version == 10 and options:
                count = _u16(data, p + 2)
                if count == 0:
                    events.append(Withdrawal(tid, tid == 3, True))
                    p += 4
                    continue
                if end - p < 6:
                    raise TemplateError("options template header truncated")
                scope = _u16(data, p + 4)
                if scope == 0 or scope > count:
                    raise TemplateError("options template scope count out of range")
                p += 6
            else:
                count, scope = _u16(data, p + 2), 0
                if count == 0:
                    if version == 9 and tid == 0:
                        break  # padding
                    if version == 9:
                        raise TemplateError("template with no fields")
                    events.append(Withdrawal(tid, tid == 2, False))
                    p += 4
                    continue
                p += 4
            if tid < MIN_DATA_TEMPLATE_ID:
                raise TemplateError(f"template id {tid} < 256")
            if count > MAX_FIELDS or count * 4 > end - p:
                raise TemplateError(f"field count {count} does not fit the set")
            fields = []
            for _ in range(count):
                if end - p < 4:
                    raise TemplateError("field specifier truncated")
                ie, length = _u16(data, p), _u16(data, p + 2)
                p += 4
                pen = 0
                if version == 10 and ie & 0x8000:
                    if end - p < 4:
                        raise TemplateError("enterprise number truncated")
                    pen = int.from_bytes(data[p : p + 4], "big")
                    ie &= 0x7FFF
                    p += 4
                fields.append((ie, pen, length))
            tmpl = Template(version, tid, tuple(fields), scope, options)
            if tmpl.min_length == 0:
                raise TemplateError("template records of length 0")
            events.append(tmpl)
    except TemplateError as exc:
        raise TemplateError(str(exc), events) from None
    return events


class TemplateTable:
    """Compiled layouts for the kernel; append-only, rebuilt lazily, compacted between batches."""

    def __init__(self) -> None:
        self.layouts: list[Template] = []
        self._codes: list[list[int]] = []
        self._arrays: tuple[I64, I64, I64, I64, I64] | None = None
        self._options: npt.NDArray[np.bool_] | None = None

    def add(self, tmpl: Template) -> int:
        self.layouts.append(tmpl)
        self._codes.append(tmpl.codes())
        self._arrays = None
        self._options = None
        return len(self.layouts) - 1

    def options_mask(self) -> npt.NDArray[np.bool_]:
        """True for the layouts of options templates (their records are not flows)."""
        if self._options is None:
            self._options = np.array([t.options for t in self.layouts], dtype=np.bool_)
        return self._options

    def arrays(self) -> tuple[I64, I64, I64, I64, I64]:
        """(t_first, t_nf, t_minlen, f_len, f_code): field rows of layout t are
        f_*[t_first[t] : t_first[t] + t_nf[t]]; f_len is -1 for variable-length fields."""
        if self._arrays is None:
            nf = np.array([len(t.fields) for t in self.layouts], dtype=np.int64)
            first = np.zeros(len(nf), dtype=np.int64)
            if len(nf) > 1:
                np.cumsum(nf[:-1], out=first[1:])
            f_len = np.array(
                [-1 if t.is_var(n) else n for t in self.layouts for _, _, n in t.fields],
                dtype=np.int64,
            )
            f_code = np.array([c for codes in self._codes for c in codes], dtype=np.int64)
            minlen = np.array([t.min_length for t in self.layouts], dtype=np.int64)
            self._arrays = (first, nf, minlen, f_len, f_code)
        return self._arrays
