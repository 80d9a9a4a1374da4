"""Shared helper: newline-delimited JSON objects at the start of one flow direction.

Stratum v1, eth-proxy and CryptoNote stratum all send one JSON object per line. Detection is
anchored on *real* JSON objects parsed from the start of the stream, never on substrings found
anywhere in the payload: that is what keeps a PostgreSQL row or a Suricata rule that merely
*quotes* `"method":"mining.subscribe"` from looking like a miner (the stream does not start with
a JSON object line), and what lets a signature see that a JSON-RPC `echo` service is JSON-RPC
but not mining.

Work is bounded: at most `MAX_SCAN` bytes and `MAX_LINES` lines are looked at, each line is at
most `MAX_LINE` bytes, and `json.loads` runs inside a catch-all (deep nesting raises
`RecursionError`, huge integers raise `ValueError`; both just mean "not a usable object").

Speed: nearly every first payload of a mining flow is one whole line from byte 0, so `judge`
handles whole-line streams that start with `{` in one pass (no `JsonLines`) and sends every
other shape to `_judge_reference`, the plain path; tests/signatures/test_jsonfast_equivalence.py
holds the two to identical answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from detector.base import EXCLUDE, NEED_MORE, EvidenceKind, HitClass, Outcome, Verdict

MAX_SCAN = 16384
MAX_LINE = 8192
MAX_LINES = 64
EXCERPT_LEN = 160

_WS = b" \t\r\n"
# Numbers orjson may not give as int: a run of 20 ASCII digits, or 19 after a minus (below
# -2**63). Found as zeros after mapping every digit to "0": several times cheaper than a regex
# (which costs ~7 ns a byte on a long notify line).
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 20
_LONG_NEGATIVE = b"-" + b"0" * 19
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0D}


@dataclass(frozen=True, slots=True)
class JsonLines:
    """What the start of a stream looks like as newline-delimited JSON.

    `objects` pairs each parsed top-level JSON object with its raw line (for excerpts).
    `anchored` is False when the stream cannot be newline-delimited JSON: it does not start with
    `{` (after whitespace and at most one printable mid-message tail), or its first complete
    line is not a JSON object. `incomplete` says the last line is an unterminated `{...` that
    more bytes could complete.
    """

    objects: tuple[tuple[dict[str, Any], bytes], ...]
    anchored: bool
    incomplete: bool


NOT_JSON = JsonLines(objects=(), anchored=False, incomplete=False)


def starts_like_json(data: bytes) -> bool:
    """Cheap pre-filter: the first non-whitespace byte is `{`, or the first line is printable
    and ends like a JSON object (`}`).

    The second case allows a capture that begins in the middle of a long line (a big
    `mining.notify` split over two segments): the tail of that line is skipped by `parse`.
    """
    head = data[:64].lstrip(_WS)
    if not head:
        return False
    first = head[0]
    if first == 0x7B:
        return True
    if first not in _TEXT_BYTES:
        return False
    newline = data.find(b"\n", 0, MAX_LINE)
    return newline > 0 and data[:newline].rstrip(b"\r")[-1:] == b"}"


def load_object(line: bytes) -> dict[str, Any] | None:
    """The line as a JSON object, or None; exactly what `json.loads` of the UTF-8 text gives.

    orjson parses the common case three times faster; the standard parser takes the lines
    orjson refuses (NaN, Infinity, lone surrogate escapes) and those with a run of 20 digits or
    a minus and 19 digits, the only place the two disagree (orjson turns an integer beyond 64
    bits, or below -2**63, into a float).
    """
    if len(line) > MAX_LINE:
        return None
    try:
        zeroed = line.translate(_DIGITS_TO_ZERO)
        if _LONG_DIGITS not in zeroed and _LONG_NEGATIVE not in zeroed:
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                value = json.loads(line.decode("utf-8"))
        else:
            value = json.loads(line.decode("utf-8"))
    except Exception:  # any decode/parse failure means "not an object"
        return None
    return value if isinstance(value, dict) else None


def _is_tail_of_line(line: bytes) -> bool:
    """A printable fragment ending like a JSON object: the end of a cut-off message."""
    stripped = line.rstrip(b"\r")
    return (
        0 < len(stripped) <= MAX_LINE
        and stripped[-1:] == b"}"
        and all(b in _TEXT_BYTES for b in stripped)
    )


def parse(data: bytes) -> JsonLines:
    """Split the stream into lines and parse every line that starts with `{`.

    The first complete line must be a JSON object (or a printable mid-message tail followed by
    one); later lines that are not objects are skipped (a keep-alive blank line, junk).
    """
    buf = data[:MAX_SCAN]
    lines = buf.split(b"\n")
    tail = lines.pop()  # bytes after the last newline ("" when the data ends with one)
    objects: list[tuple[dict[str, Any], bytes]] = []
    first_seen = False
    for index, raw in enumerate(lines[:MAX_LINES]):
        line = raw.strip(_WS)
        if not line:
            continue
        if not first_seen:
            first_seen = True
            if line[:1] != b"{":
                if index == 0 and _is_tail_of_line(raw):
                    first_seen = False  # mid-message start: skip the cut-off tail
                    continue
                return NOT_JSON
            obj = load_object(line)
            if obj is None:
                return NOT_JSON
            objects.append((obj, line))
            continue
        if line[:1] == b"{":
            obj = load_object(line)
            if obj is not None:
                objects.append((obj, line))
    rest = tail.strip(_WS)
    incomplete = False
    if rest[:1] == b"{" and len(lines) <= MAX_LINES:
        obj = load_object(rest)
        if obj is not None:  # a complete object without its newline (e.g. an HTTP body)
            objects.append((obj, rest))
        else:  # unterminated: more bytes may complete it, unless we cut it ourselves
            incomplete = len(rest) < MAX_LINE and len(data) <= MAX_SCAN
    elif rest and not first_seen:
        return NOT_JSON  # the only line there is does not start with '{'
    elif not first_seen:
        return JsonLines((), anchored=True, incomplete=True)  # only whitespace so far
    if not objects and not incomplete:
        return NOT_JSON
    return JsonLines(objects=tuple(objects), anchored=True, incomplete=incomplete)


def scan_prefix(text: bytes, limit: int = MAX_SCAN) -> tuple[dict[str, str], set[str]]:
    """Top-level string members and the keys of the top-level `result` object of a JSON text
    that may be cut short.

    A getblocktemplate reply (and a `submitblock` request) carries whole blocks and runs to
    megabytes, and a sampled packet (sFlow) holds only the first 128 bytes of a Stratum line,
    so `json.loads` cannot help. This walks the prefix token by token (strings, brackets, `:`
    and `,`; bounded by `limit`) and keeps structure, not substrings: a key counts only where
    the grammar puts a key.
    """
    members: dict[str, str] = {}
    result_keys: set[str] = set()
    stack: list[int] = []  # b"{"[0] or b"["[0] per open container
    expect_key = False
    last_key = ""  # most recent key of the top-level object
    pending_key: str | None = None
    n = min(len(text), limit)
    i = 0
    while i < n:
        ch = text[i]
        if ch == 0x22:  # '"'
            j = i + 1
            while j < n and text[j] != 0x22:
                j += 2 if text[j] == 0x5C else 1
            if j >= n:
                break
            token = text[i + 1 : j].decode("utf-8", "replace")
            depth = len(stack)
            if expect_key and stack[-1:] == [0x7B]:
                if depth == 1:
                    last_key = pending_key = token
                elif depth == 2 and last_key == "result" and stack[0] == 0x7B:
                    result_keys.add(token)
            elif depth == 1 and pending_key is not None:
                members[pending_key] = token
            expect_key = False
            i = j + 1
            continue
        if ch in (0x7B, 0x5B):  # '{' '['
            stack.append(ch)
            expect_key = ch == 0x7B
            pending_key = None
        elif ch in (0x7D, 0x5D):  # '}' ']'
            if stack:
                stack.pop()
            expect_key = False
        elif ch == 0x2C:  # ','
            expect_key = stack[-1:] == [0x7B]
            if len(stack) == 1:
                pending_key = None
        i += 1
    return members, result_keys


def close_cut_line(data: bytes) -> bytes | None:
    """The stream with its cut-off last JSON line replaced by a complete stand-in, or None.

    For packets that were truncated on purpose (sFlow keeps the first 128 bytes of each sampled
    packet): no more bytes will come, but the line's opening members usually name the method
    (`{"id":1,"method":"mining.subscribe","params":["cgminer/4.9`). The stand-in keeps only the
    top-level string members seen (method, jsonrpc, worker, ...) with empty params, so a
    signature can judge the method; it is never used for data that may still grow.
    """
    doc = parse(data)
    if not doc.anchored or not doc.incomplete:
        return None
    cut = data[:MAX_SCAN]
    start = cut.rfind(b"\n") + 1
    members, _ = scan_prefix(cut[start:].lstrip(_WS))
    if "method" not in members:
        return None
    stand_in: dict[str, object] = {"id": None, **members, "params": []}
    return cut[:start] + json.dumps(stand_in).encode() + b"\n"


def excerpt(raw: bytes) -> str:
    """At most `EXCERPT_LEN` printable characters of a matched line."""
    text = raw[: EXCERPT_LEN * 4].decode("utf-8", "replace")[:EXCERPT_LEN]
    return text if text.isprintable() else "".join(ch if ch.isprintable() else "." for ch in text)


def method_of(obj: dict[str, Any]) -> str | None:
    """The object's `"method"` if it is a non-empty string (a request or a push)."""
    method = obj.get("method")
    return method if isinstance(method, str) and method else None


def clip(value: object, limit: int = 96) -> str | None:
    """A string field for `detail`, truncated; None for anything that is not a string."""
    if not isinstance(value, str) or not value:
        return None
    value = value[:limit]
    return value if value.isprintable() else "".join(c if c.isprintable() else "." for c in value)


@dataclass(frozen=True, slots=True)
class Clue:
    """One object that is evidence for a protocol: a method name or a reply shape, and how sure."""

    label: str
    confidence: float


Assess = Callable[[dict[str, Any]], Clue | None]


@dataclass(frozen=True, slots=True)
class Found:
    """The objects that carried evidence, in stream order, with the combined confidence."""

    hits: tuple[tuple[Clue, dict[str, Any], bytes], ...]
    confidence: float

    @property
    def labels(self) -> list[str]:
        """Sorted unique method names (reply shapes, prefixed `reply:`, are left out)."""
        if len(self.hits) == 1:  # the usual case: no set, no sort
            label = self.hits[0][0].label
            return [] if label.startswith("reply:") else [label]
        return sorted({c.label for c, _, _ in self.hits if not c.label.startswith("reply:")})

    def first_line(self) -> str:
        return excerpt(self.hits[0][2])


# After this many JSON-RPC replies without a single clue, stop asking for more.
MAX_SILENT_OBJECTS = 16


def is_rpc_shaped(obj: dict[str, Any]) -> bool:
    """A JSON-RPC request/notification (has a method) or a reply (id plus result or error)."""
    return "method" in obj or ("id" in obj and ("result" in obj or "error" in obj))


def judge(data: bytes, assess: Assess) -> Found | Verdict:
    """Common outcome logic of the JSON-lines signatures.

    MATCH-worthy (`Found`) when some object is evidence; EXCLUDE when the stream is not
    newline-delimited JSON, or carries a JSON object that belongs to another API (a request
    whose method `assess` does not know, or an object that is not JSON-RPC at all) and no
    evidence; NEED_MORE while only neutral replies (`{"id":4,"result":true}`) or an unfinished
    first line have been seen.

    The common first payloads take a shortcut with the same answers as `_judge_reference`:
    whole lines from a `{` at byte 0 are judged as they are split (no `JsonLines` in between),
    and a stream that starts with a byte no JSON text or mid-line tail can start with is
    excluded at once.
    """
    head = data[:1]
    if head == b"{":
        if data[-1:] == b"\n" and len(data) <= MAX_SCAN:
            return _judge_whole_lines(data, assess)
    elif head and head[0] not in _START_BYTES:
        return EXCLUDE
    return _judge_reference(data, assess)


# Bytes a stream worth parsing can start with: whitespace, or printable (`{` or a line's tail).
_START_BYTES = _TEXT_BYTES | frozenset(_WS)
# round(x, 4) of the few confidences the signatures produce, filled on first use.
_ROUNDED: dict[float, float] = {}


def _round4(value: float) -> float:
    """`round(value, 4)` (~0.4 µs), remembered for positive floats: a few table values."""
    if type(value) is not float:
        return round(value, 4)
    rounded = _ROUNDED.get(value)
    if rounded is None:
        rounded = round(value, 4)
        if value > 0 and len(_ROUNDED) < 256:  # -0.0 == 0.0 and nan != nan: never stored
            _ROUNDED[value] = rounded
    return rounded


def _judge_whole_lines(data: bytes, assess: Assess) -> Found | Verdict:
    """`judge` for a stream of whole lines (ends with a newline) whose first byte is `{`: no tail,
    no mid-message start, so `parse` reduces to "first line must load, later `{` lines may"."""
    end = data.find(b"\n")
    if end == len(data) - 1:  # a single line: the usual first payload
        line = data[:end].rstrip(_WS)
        obj = load_object(line)
        if obj is None:
            return EXCLUDE
        clue = assess(obj)
        if clue is not None:
            return Found(hits=((clue, obj, line),), confidence=_round4(clue.confidence))
        return EXCLUDE if "method" in obj or not is_rpc_shaped(obj) else NEED_MORE
    raws = data.split(b"\n", MAX_LINES)
    raws.pop()  # "" after the final newline, or what lies beyond the first MAX_LINES lines
    line = raws[0].rstrip(_WS)
    first = load_object(line)
    if first is None:
        return EXCLUDE
    objects = [(first, line)]
    for raw in raws[1:]:
        line = raw.strip(_WS)
        if line[:1] == b"{" and (obj := load_object(line)) is not None:
            objects.append((obj, line))
    hits: list[tuple[Clue, dict[str, Any], bytes]] = []
    foreign = False
    for obj, line in objects:
        clue = assess(obj)
        if clue is not None:
            hits.append((clue, obj, line))
        elif "method" in obj or not is_rpc_shaped(obj):
            foreign = True
    return _outcome(hits, foreign, len(objects))


def _outcome(
    hits: list[tuple[Clue, dict[str, Any], bytes]], foreign: bool, count: int
) -> Found | Verdict:
    """Evidence (best confidence, +0.02 when two strong methods agree), else exclude or wait."""
    if hits:
        best = max(c.confidence for c, _, _ in hits)
        strong = {c.label for c, _, _ in hits if c.confidence >= 0.9}
        if len(strong) >= 2:
            best = min(0.99, best + 0.02)
        return Found(hits=tuple(hits), confidence=_round4(best))
    if foreign or count >= MAX_SILENT_OBJECTS:
        return EXCLUDE
    return NEED_MORE


def _judge_reference(data: bytes, assess: Assess) -> Found | Verdict:
    """`judge` the straightforward way (any input): pre-filter, `parse`, assess every object."""
    if not data[:64].lstrip(_WS) and not data[:MAX_SCAN].strip(_WS):
        return NEED_MORE  # nothing (but whitespace) seen yet
    if not starts_like_json(data):
        return EXCLUDE
    doc = parse(data)
    if not doc.anchored:
        return EXCLUDE
    hits: list[tuple[Clue, dict[str, Any], bytes]] = []
    foreign = False
    for obj, raw in doc.objects:
        clue = assess(obj)
        if clue is not None:
            hits.append((clue, obj, raw))
        elif "method" in obj or not is_rpc_shaped(obj):
            foreign = True
    if hits:
        best = max(c.confidence for c, _, _ in hits)
        strong = {c.label for c, _, _ in hits if c.confidence >= 0.9}
        if len(strong) >= 2:
            best = min(0.99, best + 0.02)
        return Found(hits=tuple(hits), confidence=round(best, 4))
    if foreign or len(doc.objects) >= MAX_SILENT_OBJECTS:
        return EXCLUDE
    return NEED_MORE


class JsonRpcSignature:
    """The shared shape of the JSON-RPC mining signatures (Stratum, eth-proxy, CryptoNote):
    judge the lines with the protocol's `assess`, then name the variant and collect the detail.
    TCP only; exclude / need-more handling comes from `judge`."""

    transports: frozenset[int] = frozenset({6})

    def __init__(
        self,
        name: str,
        assess: Assess,
        variant: Callable[[Found], str],
        detail: Callable[[Found], dict[str, Any]],
    ) -> None:
        self.name = name
        self._assess = assess
        self._variant = variant
        self._detail = detail

    def inspect(self, data: bytes, from_client: bool, transport: int) -> Verdict:
        if transport not in self.transports:
            return EXCLUDE
        found = judge(data, self._assess)
        return found if isinstance(found, Verdict) else self.verdict(found)

    def verdict(self, found: Found) -> Verdict:
        """The MATCH verdict for what `judge` found: the protocol's variant and detail."""
        # positional: keyword arguments cost a third more, on every match
        return Verdict(
            _MATCH, _STRATUM, _MINING, self._variant(found), found.confidence, self._detail(found)
        )


_MATCH, _STRATUM, _MINING = Outcome.MATCH, EvidenceKind.STRATUM, HitClass.MINING
