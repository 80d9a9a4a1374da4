"""Compiled reading of an HTTP head: the few facts the HTTP mining signature judges by.

`http_mining.inspect_http` needs little of a head: where it ends, where its first line ends,
three headers (User-Agent, Content-Length, Content-Type) and which mining headers it has.
Finding those with a Python loop over every header line (partition, strip, lower and a set
lookup per line) was a third of the signature's time; `read_head` walks the bytes once in
compiled code, with that loop's rules (tests/signatures/test_http_head.py holds it to them):

- the head ends at the first `\\r\\n\\r\\n` within the first MAX_HEAD bytes, else at the first
  `\\n\\n`; a head without either ends at its last newline (the line after it may be cut);
- the header lines are lines 1..MAX_HEADERS of the head, split at `\\n`;
- a header line's name is its text before the first colon, stripped like `bytes.strip()`,
  lower-cased (ASCII only); the first line with a given name wins;
- the User-Agent value is stripped like `bytes.strip()`; Content-Length counts only as 1 to 8
  ASCII digits once stripped like `str.strip()` strips its Latin-1 text; of Content-Type only
  whether it holds `json` (any case) matters.
`read_message` adds, in the same call, where the body is and whether the signature's short ways
apply to it (see its doc), so the signature needs no second look at the bytes in Python.
"""

from __future__ import annotations

import numba as nb
import numpy as np

MAX_HEAD = 8192
MAX_HEADERS = 64
# The mining headers read, sorted: bit i of `read_head`'s mining mask is MINING_NAMES[i].
MINING_NAMES = ("x-long-polling", "x-mining-extensions", "x-mining-hashrate", "x-roll-ntime",
                "x-stratum")  # fmt: skip
# Every name read, lower case: the three whose values matter, then the mining ones.
_NAMES = ("user-agent", "content-length", "content-type", *MINING_NAMES)
_USER_AGENT, _CONTENT_LENGTH, _CONTENT_TYPE, _FIRST_MINING = 0, 1, 2, 3
_NAME_BYTES = np.frombuffer("".join(_NAMES).encode(), dtype=np.uint8).copy()
_NAME_START = np.cumsum(np.array([0, *map(len, _NAMES)], dtype=np.int64))
_VERSION = np.frombuffer(b" HTTP/1.", dtype=np.uint8).copy()
EXCERPT_LINES = 12
# `read_head`'s status
NO_LINE, NOT_HTTP, HTTP = 0, 1, 2


@nb.njit(cache=True)
def _blank(c):  # type: ignore[no-untyped-def]
    """What `bytes.strip()` removes."""
    return c == 32 or 9 <= c <= 13


@nb.njit(cache=True)
def _str_space(c):  # type: ignore[no-untyped-def]
    """What `str.strip()` removes from Latin-1 text."""
    return c == 32 or 9 <= c <= 13 or 28 <= c <= 31 or c == 133 or c == 160


@nb.njit(cache=True)
def _find(data, byte, start, stop):  # type: ignore[no-untyped-def]
    """`data.find(byte, start, stop)` for one byte."""
    for i in range(start, stop):
        if data[i] == byte:
            return i
    return -1


@nb.njit(cache=True)
def _name(data, start, end):  # type: ignore[no-untyped-def]
    """Index in _NAMES of data[start:end] lower-cased, or -1."""
    size = end - start
    for k in range(len(_NAME_START) - 1):
        at = _NAME_START[k]
        if _NAME_START[k + 1] - at != size:
            continue
        i = 0
        while i < size:
            c = data[start + i]
            if 65 <= c <= 90:
                c += 32
            if c != _NAME_BYTES[at + i]:
                break
            i += 1
        if i == size:
            return k
    return -1


@nb.njit(cache=True)
def _length(data, start, end):  # type: ignore[no-untyped-def]
    """The Content-Length value in data[start:end]: 1 to 8 ASCII digits, else -1."""
    while start < end and _str_space(data[start]):
        start += 1
    while end > start and _str_space(data[end - 1]):
        end -= 1
    if end == start or end - start > 8:
        return -1
    value = 0
    for i in range(start, end):
        c = data[i]
        if c < 48 or c > 57:
            return -1
        value = value * 10 + (c - 48)
    return value


@nb.njit(cache=True)
def _has_json(data, start, end):  # type: ignore[no-untyped-def]
    """1 if data[start:end] contains `json` in any case, else 0."""
    for i in range(start, end - 3):
        if (
            data[i] | 32 == 106  # j
            and data[i + 1] | 32 == 115  # s
            and data[i + 2] | 32 == 111  # o
            and data[i + 3] | 32 == 110  # n
        ):
            return 1
    return 0


@nb.njit(cache=True)
def _request_line(data, end):  # type: ignore[no-untyped-def]
    """Whether data[:end] is `[A-Z]{3,7} [!-~]{1,2048} HTTP/1\\.[01]\\r?` (a request line)."""
    if end > 0 and data[end - 1] == 13:
        end -= 1
    method = 0
    while method < 8 and method < end and 65 <= data[method] <= 90:
        method += 1
    tail = end - 9  # where " HTTP/1.x" starts
    if method < 3 or method > 7 or tail < method + 2 or data[method] != 32:
        return False
    for i in range(8):
        if data[tail + i] != _VERSION[i]:
            return False
    if data[end - 1] != 48 and data[end - 1] != 49:
        return False
    if tail - method - 1 > 2048:
        return False
    i = method + 1
    while i < tail and 33 <= data[i] <= 126:
        i += 1
    return i == tail


@nb.njit(cache=True)
def _status_line(data, end):  # type: ignore[no-untyped-def]
    """Whether data[:end] is `HTTP/1\\.[01] [1-5][0-9][0-9]( [ -~\\t]{0,256})?\\r?`."""
    if end > 0 and data[end - 1] == 13:
        end -= 1
    if end < 12:
        return False
    for i in range(7):
        if data[i] != _VERSION[i + 1]:
            return False
    if (
        (data[7] != 48 and data[7] != 49)
        or data[8] != 32
        or not 49 <= data[9] <= 53
        or not 48 <= data[10] <= 57
        or not 48 <= data[11] <= 57
    ):
        return False
    if end == 12:
        return True
    if data[12] != 32 or end - 13 > 256:
        return False
    i = 13
    while i < end and (32 <= data[i] <= 126 or data[i] == 9):
        i += 1
    return i == end


@nb.njit(cache=True)
def _plain_line(data, start, end, last):  # type: ignore[no-untyped-def]
    """The end of the line data[start:end] without its `\\r` if it is plain, else -1. Plain:
    text with no blank at either end, then `\\r` (optional for the `last` line). Stripping
    plain lines is dropping their `\\r`: their excerpt is one `replace`."""
    text_end = end - 1 if end > start and data[end - 1] == 13 else end
    if text_end == start or _blank(data[start]) or _blank(data[text_end - 1]):
        return -1
    if text_end == end and not last:
        return -1
    return text_end


@nb.njit(cache=True)
def read_head(data):  # type: ignore[no-untyped-def]
    """(status, head_end, sep, ua_start, ua_end, content_length, json, mining, excerpt_end,
    plain) of the HTTP head at the start of `data`.

    status: NO_LINE when not even the first line is whole, NOT_HTTP when the first line is
    neither a request line nor a status line (the other fields then mean nothing), else HTTP.
    head_end: where the blank line ending the head starts, -1 while it has not arrived; sep:
    its length (4 or 2). ua_start:ua_end: the stripped User-Agent value (-1:-1 without one).
    content_length: -1 without a plain one. json: 1 if Content-Type mentions json. mining:
    the mask of the mining headers present. excerpt_end: the end of the head's first
    EXCERPT_LINES lines; plain: 1 if all of them are plain (`_plain_line`), excerpt_end then
    being before the last one's `\\r`.
    """
    limit = min(len(data), MAX_HEAD)
    head_end, sep = -1, 0
    for i in range(limit - 3):
        if data[i] == 13 and data[i + 1] == 10 and data[i + 2] == 13 and data[i + 3] == 10:
            head_end, sep = i, 4
            break
    if head_end < 0:
        for i in range(limit - 1):
            if data[i] == 10 and data[i + 1] == 10:
                head_end, sep = i, 2
                break
    stop = head_end
    if stop < 0:
        for i in range(limit - 1, -1, -1):
            if data[i] == 10:
                stop = i
                break
    if stop < 0:
        return NO_LINE, head_end, sep, -1, -1, -1, 0, 0, -1, 0
    eol = _find(data, 10, 0, stop)
    if eol < 0:
        eol = stop
    status = eol >= 5 and data[0] == 72 and data[1] == 84 and data[2] == 84 and data[3] == 80
    if not (_status_line(data, eol) if status and data[4] == 47 else _request_line(data, eol)):
        return NOT_HTTP, head_end, sep, -1, -1, -1, 0, 0, -1, 0
    excerpt_end = _plain_line(data, 0, eol, eol == stop)
    plain = excerpt_end >= 0
    if not plain:
        excerpt_end = eol
    ua_start, ua_end, length, json, mining, seen = -1, -1, -1, 0, 0, 0
    pos, lines = eol, 0
    while pos < stop and lines < MAX_HEADERS:
        start = pos + 1
        end = _find(data, 10, start, stop)
        if end < 0:
            end = stop
        pos, lines = end, lines + 1
        if lines < EXCERPT_LINES:
            text_end = _plain_line(data, start, end, end == stop or lines == EXCERPT_LINES - 1)
            plain = plain and text_end >= 0
            excerpt_end = text_end if plain else end
        colon = _find(data, 58, start, end)
        if colon < 0:
            continue
        name_end = colon
        while start < name_end and _blank(data[start]):
            start += 1
        while name_end > start and _blank(data[name_end - 1]):
            name_end -= 1
        k = _name(data, start, name_end)
        if k < 0 or seen >> k & 1:
            continue
        seen |= 1 << k
        if k == _USER_AGENT:
            ua_start, ua_end = colon + 1, end
            while ua_start < ua_end and _blank(data[ua_start]):
                ua_start += 1
            while ua_end > ua_start and _blank(data[ua_end - 1]):
                ua_end -= 1
        elif k == _CONTENT_LENGTH:
            length = _length(data, colon + 1, end)
        elif k == _CONTENT_TYPE:
            json = _has_json(data, colon + 1, end)
        else:
            mining |= 1 << (k - _FIRST_MINING)
    return HTTP, head_end, sep, ua_start, ua_end, length, json, mining, excerpt_end, int(plain)


# `read_message`'s flags: which of the signature's Python steps may take their short way.
FAST_JSON, BODY_TEXT, HEAD_TEXT = 1, 2, 4
JSON_BRACKETS = 64  # at most this many `{` `[` in a body read by orjson (depth far from limits)
LONG_DIGITS = 19  # a run this long may be an integer orjson reads as a float


@nb.njit(cache=True)
def _fast_json(data, start, end, max_body):  # type: ignore[no-untyped-def]
    """Whether orjson reads data[start:end] exactly as the standard parser does, or refuses it:
    at most max_body ASCII bytes starting with `{` or `[`, no run of LONG_DIGITS digits, at most
    JSON_BRACKETS brackets."""
    if end - start > max_body or end == start or (data[start] != 123 and data[start] != 91):
        return False
    digits, brackets = 0, 0
    for i in range(start, end):
        c = data[i]
        if c >= 128:
            return False
        if 48 <= c <= 57:
            digits += 1
            if digits >= LONG_DIGITS:
                return False
            continue
        digits = 0
        if c == 123 or c == 91:
            brackets += 1
            if brackets > JSON_BRACKETS:
                return False
    return True


@nb.njit(cache=True)
def _printable(data, start, end):  # type: ignore[no-untyped-def]
    """Whether data[start:end] is all printable ASCII."""
    for i in range(start, end):  # noqa: SIM110 (a loop numba compiles)
        if data[i] < 32 or data[i] > 126:
            return False
    return True


@nb.njit(cache=True)
def _head_text(data, end, excerpt_len):  # type: ignore[no-untyped-def]
    """Whether the first excerpt_len characters of data[:end] with each CRLF replaced by ` | `
    come from printable ASCII and whole CRLF pairs only."""
    i, stop = 0, min(end, excerpt_len)
    while i < stop:
        c = data[i]
        if c == 13 and i + 1 < end and data[i + 1] == 10:
            i += 2
        elif 32 <= c <= 126:
            i += 1
        else:
            return False
    return True


@nb.njit(cache=True)
def read_message(data, max_body, excerpt_len):  # type: ignore[no-untyped-def]
    """`read_head`'s ten fields, then (body_start, body_end, text_start, text_end, flags).

    body_start:body_end is the body as far as it is here (empty while the head is unfinished),
    cut at content_length; text_start:text_end the same stripped like `bytes.strip()`. flags:
    FAST_JSON when `_fast_json` holds for the body; BODY_TEXT when the body text's first
    excerpt_len bytes are printable ASCII; HEAD_TEXT when the head's excerpt lines are plain and
    `_head_text` holds for them. (max_body and excerpt_len are arguments, not globals, so a
    cached compilation cannot keep stale values.)
    """
    head = read_head(data)
    status, head_end, sep, _, _, length, _, _, excerpt_end, plain = head
    size = len(data)
    if status != HTTP:
        return (*head, size, size, size, size, 0)
    start = end = size
    if head_end >= 0:
        start = head_end + sep
        if length >= 0:
            end = min(size, start + length)
    text_start, text_end = start, end
    while text_start < text_end and _blank(data[text_start]):
        text_start += 1
    while text_end > text_start and _blank(data[text_end - 1]):
        text_end -= 1
    flags = 0
    if _fast_json(data, start, end, max_body):
        flags |= FAST_JSON
    if _printable(data, text_start, min(text_end, text_start + excerpt_len)):
        flags |= BODY_TEXT
    if plain and _head_text(data, excerpt_end, excerpt_len):
        flags |= HEAD_TEXT
    return (*head, start, end, text_start, text_end, flags)
