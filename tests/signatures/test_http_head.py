"""The compiled HTTP head reader (`detector.signatures.http_head.read_head`) and its rules."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.signatures.http_head import (
    EXCERPT_LINES,
    HTTP,
    MAX_HEAD,
    MAX_HEADERS,
    MINING_NAMES,
    NO_LINE,
    NOT_HTTP,
    read_head,
)

# The first-line grammar the compiled check implements (as regular expressions).
REQUEST_LINE = re.compile(rb"[A-Z]{3,7} [!-~]{1,2048} HTTP/1\.[01]\r?$")
STATUS_LINE = re.compile(rb"HTTP/1\.[01] [1-5][0-9][0-9]( [ -~\t]{0,256})?\r?$")
FIELDS = ("status", "head_end", "sep", "ua_start", "ua_end", "length", "json", "mining",
          "excerpt_end", "plain")  # fmt: skip
PROPERTY = settings(max_examples=400, deadline=None, database=None)


def head(data: bytes) -> dict[str, Any]:
    fields = dict(zip(FIELDS, read_head(data), strict=True))
    fields["ua"] = data[fields["ua_start"] : fields["ua_end"]] if fields["ua_start"] >= 0 else None
    return fields


def request(*headers: bytes, end: bytes = b"\r\n\r\n") -> bytes:
    return b"\r\n".join([b"POST / HTTP/1.1", *headers]) + end


def test_a_cgminer_request() -> None:
    data = request(
        b"Authorization: Basic Qml0Y29pbjp4",
        b"Content-type: application/json",
        b"X-Mining-Extensions: longpoll midstate rollntime submitold",
        b"Content-Length: 116",
        b"User-Agent: cgminer 3.7.2",
    )
    h = head(data)
    assert h["status"] == HTTP and h["head_end"] == len(data) - 4 and h["sep"] == 4
    assert h["ua"] == b"cgminer 3.7.2" and h["length"] == 116 and h["json"] == 1
    assert h["mining"] == 1 << MINING_NAMES.index("x-mining-extensions")


def test_mining_names_are_sorted_and_each_has_its_bit() -> None:
    assert list(MINING_NAMES) == sorted(MINING_NAMES)
    for i, name in enumerate(MINING_NAMES):
        assert head(request(name.upper().encode() + b": 1"))["mining"] == 1 << i


@pytest.mark.parametrize(
    ("line", "ua"),
    [
        (b"User-Agent: cgminer/4.9", b"cgminer/4.9"),
        (b" \tuSeR-aGeNt \x0b: \x0ccgminer/4.9 \r", b"cgminer/4.9"),  # blanks around name, value
        (b"User-Agent:\xa0cgminer\x85", b"\xa0cgminer\x85"),  # bytes.strip() keeps \xa0, \x85
        (b"User-Agent:   ", b""),
        (b"User Agent: cgminer", None),  # not the name
        (b"User-Agent cgminer", None),  # no colon: not a header line
        (b"\xa0User-Agent: cgminer", None),  # \xa0 is no blank to bytes.strip()
        (b"User-Agent: a: b", b"a: b"),  # the name ends at the first colon
    ],
)
def test_header_name_and_value_rules(line: bytes, ua: bytes | None) -> None:
    assert head(request(line))["ua"] == ua


def test_the_first_line_with_a_name_wins_even_when_its_value_is_empty() -> None:
    assert head(request(b"User-Agent: curl/8", b"user-agent: cgminer"))["ua"] == b"curl/8"
    assert head(request(b"User-Agent:", b"User-Agent: cgminer"))["ua"] == b""


def test_a_name_inside_a_value_is_no_header() -> None:
    data = request(b"Vary: User-Agent", b"Access-Control-Allow-Headers: X-Stratum", b"Accept: x")
    h = head(data)
    assert h["ua"] is None and h["mining"] == 0


def test_only_the_first_max_headers_lines_count() -> None:
    fillers = [b"X-Pad: %d" % i for i in range(MAX_HEADERS - 1)]
    assert head(request(*fillers, b"User-Agent: last"))["ua"] == b"last"
    assert head(request(*fillers, b"X-Pad: one more", b"User-Agent: past"))["ua"] is None


@pytest.mark.parametrize(
    ("value", "length"),
    [
        (b"116", 116), (b"00000116", 116), (b"12345678", 12345678), (b"123456789", -1),
        (b"\xb2", -1), (b"1\xb9", -1), (b"+5", -1), (b"-1", -1), (b"4 2", -1), (b"", -1),
        (b"0x10", -1), (b" \t42\r", 42), (b"\xa042\x1c\x85", 42),  # str.strip() removes those
    ],
)  # fmt: skip
def test_content_length(value: bytes, length: int) -> None:
    assert head(request(b"Content-Length:" + value))["length"] == length


@pytest.mark.parametrize(
    ("value", "json"),
    [(b"application/json", 1), (b"Application/JSON; charset=utf-8", 1), (b"text/html", 0),
     (b"j son", 0), (b"\xe9JsOn", 1)],
)  # fmt: skip
def test_content_type_json(value: bytes, json: int) -> None:
    assert head(request(b"Content-Type: " + value))["json"] == json


def test_where_the_head_ends() -> None:
    crlf = head(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody")
    assert (crlf["head_end"], crlf["sep"]) == (20, 4)
    lf = head(b"GET / HTTP/1.1\nA: b\n\nbody")
    assert (lf["head_end"], lf["sep"]) == (19, 2)
    # a CRLF blank line anywhere in the first MAX_HEAD bytes beats an earlier LF one
    both = b"GET / HTTP/1.1\nA: b\n\nX-Stratum: x\r\n\r\n"
    assert head(both)["head_end"] == both.index(b"\r\n\r\n") and head(both)["mining"]
    across = b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEAD - 20) + b"\r\n\r\n"
    assert across.index(b"\r\n\r\n") + 4 > MAX_HEAD and head(across)["head_end"] == -1


def test_an_unfinished_head_ignores_its_last_line() -> None:
    h = head(b"GET / HTTP/1.1\r\nX-Stratum: a\r\nUser-Agent: cgmi")
    assert h["status"] == HTTP and h["head_end"] == -1 and h["mining"] and h["ua"] is None
    assert head(b"GET / HTTP/1.1\r\nUser-Agent: cgminer\n")["ua"] == b"cgminer"


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"", NO_LINE),
        (b"GET / HTTP/1.1", NO_LINE),
        (b"GET / HTTP/1.1\n", HTTP),
        (b"GET / HTTP/2.0\r\n\r\n", NOT_HTTP),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", NOT_HTTP),
        (b"HTTP/1.1 200 OK\r\n\r\n", HTTP),
        (b"HTTP/1.1 600 OK\r\n\r\n", NOT_HTTP),
        (b"\r\n\r\n", NOT_HTTP),
    ],
)
def test_status(data: bytes, status: int) -> None:
    assert head(data)["status"] == status


def stripped_join(data: bytes, h: dict[str, Any]) -> bytes:
    """What the head excerpt shows: the head's first EXCERPT_LINES lines, stripped, joined."""
    stop = h["head_end"] if h["head_end"] >= 0 else data.rfind(b"\n", 0, MAX_HEAD)
    lines = data[:stop].split(b"\n")[:EXCERPT_LINES]
    return b" | ".join(line.strip() for line in lines)


def excerpt_of(data: bytes, h: dict[str, Any]) -> bytes:
    """The excerpt from what `read_head` says: a replace when plain, else strip each line."""
    region = data[: h["excerpt_end"]]
    if h["plain"]:
        return region.replace(b"\r\n", b" | ")
    return b" | ".join(line.strip() for line in region.split(b"\n"))


@pytest.mark.parametrize(
    ("data", "plain"),
    [
        (request(b"Host: a", b"Accept: */*"), 1),
        (request(*[b"X-Pad: %d" % i for i in range(20)]), 1),  # the 12th line's \r is cut off
        (request(b"Host: a ", b"Accept: */*"), 0),  # a blank before the \r
        (request(b"\tHost: a", b"Accept: */*"), 0),
        (request(b"Host: a", b"", b"Accept: */*"), 1),  # an empty line ends the head
        (b"GET / HTTP/1.1\nHost: a\n\n", 0),  # LF line ends
        (b"GET / HTTP/1.1\r\nHost: a\r\r\nAccept: b\r\n\r\n", 0),  # a second \r
        (b"HTTP/1.1 200 OK\r\nHost: a\r\n", 1),  # unfinished head
    ],
)
def test_plain_heads_make_the_same_excerpt_with_a_replace(data: bytes, plain: int) -> None:
    h = head(data)
    assert h["plain"] == plain
    assert excerpt_of(data, h) == stripped_join(data, h)


BLANKS = st.sampled_from([b" ", b"\t", b"\r", b"\x0b", b"\x0c", b"\xa0", b"\x85", b""])
NAMES = st.sampled_from(
    [b"User-Agent", b"user-agent", b"CONTENT-LENGTH", b"Content-Type", b"X-Stratum", b"Host",
     b"x-roll-ntime", b"X-Long-Polling", b"User Agent", b"content-lengthx", b""]
)  # fmt: skip
VALUES = st.sampled_from(
    [b"cgminer/4.9", b"116", b"\xb2", b"application/json", b"a: b", b"", b" 7 ", b"x" * 300]
)
LINE_ENDS = st.sampled_from([b"\r\n", b"\n", b"\r\r\n"])


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    first = draw(
        st.sampled_from([b"POST / HTTP/1.1", b"HTTP/1.0 200 OK", b"GET /x HTTP/1.0\r", b"bad"])
    )
    lines = [first]
    for _ in range(draw(st.integers(0, 70))):
        parts = [draw(BLANKS), draw(NAMES), draw(BLANKS), draw(st.sampled_from([b":", b""]))]
        lines.append(b"".join([*parts, draw(BLANKS), draw(VALUES), draw(BLANKS)]))
    data = b"".join(line + draw(LINE_ENDS) for line in lines)
    data += draw(st.sampled_from([b"\r\n", b"\n", b""])) + draw(st.binary(max_size=40))
    return data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data


@PROPERTY
@given(data=heads() | st.binary(max_size=300))
def test_fields_are_consistent_on_any_input(data: bytes) -> None:
    h = head(data)
    crlf = data.find(b"\r\n\r\n", 0, MAX_HEAD)
    lf = data.find(b"\n\n", 0, MAX_HEAD)
    assert (h["head_end"], h["sep"]) == (
        (crlf, 4) if crlf >= 0 else (lf, 2) if lf >= 0 else (-1, 0)
    )
    if h["status"] == NO_LINE:
        assert h["head_end"] < 0 and b"\n" not in data[:MAX_HEAD]
        return
    if h["status"] == NOT_HTTP:
        return
    end = h["head_end"] if h["head_end"] >= 0 else len(data)
    assert h["ua_start"] == h["ua_end"] == -1 or 0 <= h["ua_start"] <= h["ua_end"] <= end
    if h["ua"]:
        assert h["ua"] == h["ua"].strip() and b"\n" not in h["ua"]
    assert -1 <= h["length"] < 10**8 and h["json"] in (0, 1) and 0 <= h["mining"] < 32
    assert excerpt_of(data, h) == stripped_join(data, h)


LINE_CHARS = st.sampled_from(
    [b"GET", b"POST", b"OPTIONS", b"DELETES", b"Get", b"G", b"HTTP/1.", b"HTTP/1.1", b"HTTP/1.0",
     b"HTTP/2.0", b"HTTP", b" ", b"  ", b"\t", b"/", b"200", b"099", b"5", b"OK", b"\r", b"\x7f",
     b"\xe9", b"a" * 250, b"a" * 2040, b"x"]
)  # fmt: skip


@PROPERTY
@given(parts=st.lists(LINE_CHARS, max_size=8))
def test_the_first_line_grammar(parts: list[bytes]) -> None:
    line = b"".join(parts)
    is_http = REQUEST_LINE.fullmatch(line) is not None or STATUS_LINE.fullmatch(line) is not None
    assert (head(line + b"\r\n\r\n")["status"] == HTTP) == is_http


@pytest.mark.parametrize(
    "line",
    [b"GET / HTTP/1.1", b"GETTING / HTTP/1.1", b"GE / HTTP/1.1", b"GETTINGS / HTTP/1.1",
     b"GET  / HTTP/1.1", b"GET / HTTP/1.1 ", b"GET / HTTP/1.1\r\r", b"GET /" + b"a" * 2047 +
     b" HTTP/1.1", b"GET /" + b"a" * 2048 + b" HTTP/1.1", b"HTTP/1.1 200", b"HTTP/1.1 200 ",
     b"HTTP/1.1 200 \t\x7f", b"HTTP/1.1 200 " + b"x" * 255, b"HTTP/1.1 200 " + b"x" * 256,
     b"HTTP/1.0 599 x\r", b"HTTP/1.1 2000", b"HTTP/1.1 200\tOK"],
)  # fmt: skip
def test_first_line_edges(line: bytes) -> None:
    is_http = REQUEST_LINE.fullmatch(line) is not None or STATUS_LINE.fullmatch(line) is not None
    assert (head(line + b"\r\n\r\n")["status"] == HTTP) == is_http
