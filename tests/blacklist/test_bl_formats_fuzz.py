"""Fuzzing every feed parser: never raises, accounts for every line, stays fast.

The contract (blacklist.parsers.base): each input line is skipped or yields entries/problems,
`raw` is the line without its ending, problem codes are short fixed slugs, and every entry is a
canonical indicator (its value parses back to itself). JSON formats get JSON-ish documents —
valid, truncated and corrupted — where each array element must give exactly one outcome.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blacklist.entries import Category
from blacklist.parsers import PARSERS, ParseResult, SourceMeta
from blacklist.syntax import parse_item

NEW = sorted(set(PARSERS) - {"plain", "hosts"})
SETTINGS = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
CODE = re.compile(r"[a-z0-9-]{2,24}\Z")
OPTIONS: dict[str, list[dict[str, str]]] = {
    "csv": [{}, {"column": "address"}, {"column": "1", "port_column": "2", "header": "no"}],
    "json": [{}, {"host": "Host", "port": "Port", "tls": "SSL"}, {"path": "pools", "host": "$"}],
}

FRAGMENTS = [
    # maltrail / urls / webext / pool-urls
    "# Reference: https://x.example/",
    "8.8.8.8",
    ":3333",
    "/xmrig",
    "http://",
    "https://[",
    "*://",
    "wss://*.",
    "*.",
    "pool.example",
    "/lib*",
    "stratum+tcp://",
    "u.w:p@",
    "@",
    "10.0.0.1",
    "2a01:4f8::1",
    "[2a01:4f8::1]",
    "<all_urls>",
    "xn--mnchen-3ya.de",
    "..",
    "-",
    # adblock
    "||",
    "^$third-party",
    "@@",
    "##",
    "#@#",
    "##+js(",
    "|",
    "!",
    "[Adblock Plus 2.0]",
    "$domain=",
    # suricata
    "alert dns $HOME_NET any -> any any (",
    'dns.query; content:"',
    'tls.sni; content:"',
    '";',
    "|04|pool|07|example|03|net|00|",
    "endswith;",
    "bsize:12;",
    "sid:1;)",
    ")",
    "\\",
    "#alert",
    'alert ip any any <> 8.8.8.8 any (msg:"x";',
    'content:!"',
    "http_host;",
    "CN=",
    # csv / regulator
    "ip,port,protocol,first_seen,last_seen,coin,note",
    ",",
    '"',
    "2024-05-01",
    "T10:00:00Z",
    "address,source",
    "tcp",
    "udp",
    "\t",
    "99999",
    # json-ish
    "{",
    "}",
    "[",
    "]",
    '"host":',
    '"Port":',
    ":",
    "null",
    "true",
    "\ufeff",
    "\r",
    " ",
]
fragment_line = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=6
).map("".join)
TEMPLATES = [
    "{h}",
    "{h}:{p}",
    "http://{h}:{p}/{x}",
    "/{x}",
    "{h}/{x}",  # maltrail, urls
    "||{h}^$third-party",
    "|https://{h}/",
    "@@||{h}^",
    "||{h}/{x}",  # adblock
    "*://{h}/{x}*",
    "wss://*.{h}/{x}",
    "*://*/{x}",  # webext
    "{h},https://src.example/{x}",
    "{h},{p},{x}",  # csv, regulator
    "{h},{p},tcp,2024-05-01,2024-05-02T10:00:00Z,XMR,{x}",
    'alert dns any any -> any any (msg:"{x}"; dns.query; content:"{h}"; endswith; sid:1;)',
    'alert tls any any -> any any (tls.sni; content:".{h}"; bsize:{p}; sid:2;)',
    'alert ip any any <> {h} any (msg:"ip"; sid:3;)',
    "-P stratum+tcp://wallet.w1@{h}:{p}/{x}",  # pool-urls
]
hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,7}(\.[a-z]{2,6}){1,3}", fullmatch=True),
    st.sampled_from(["pool.example", "8.8.8.8", "9.9.9.0/24", "2a01:4f8::1", "[2a01:4f8::1]"]),
    st.sampled_from(["10.0.0.1", "Pool.Example.COM.", "xn--mnchen-3ya.de", "a..b", "*.x.example"]),
    st.text(max_size=6),
)
template_line = st.builds(
    lambda t, h, p, x: t.format(h=h, p=p, x=x),
    st.sampled_from(TEMPLATES),
    hosts,
    st.one_of(st.integers(0, 70000).map(str), st.text(max_size=3)),
    st.text(alphabet="abc/.?=*", max_size=6),
)
line = st.one_of(template_line, st.text(max_size=60), template_line, fragment_line)


def check_contract(r: ParseResult, lines: list[str]) -> None:
    assert r.lines == len(lines)
    with_output = {e.line for e in r.entries} | {p.line for p in r.problems}
    assert with_output <= set(range(1, len(lines) + 1))
    assert len(with_output) + r.skipped == r.lines
    for e in r.entries:
        assert e.raw == lines[e.line - 1].rstrip("\r\n") and e.source == "fuzz"
        again = parse_item(e.value, category=Category.ALLOWLIST, subdomains=e.subdomains)
        assert (again.kind, again.value, again.port, again.proto) == (
            e.kind,
            e.value,
            e.port,
            e.proto,
        )
    for p in r.problems:
        assert p.raw == lines[p.line - 1].rstrip("\r\n")
        assert CODE.match(p.code) and p.reason
    assert r.summary() == f"{len(r.entries)} entries, {len(r.problems)} problems"


@SETTINGS
@given(data=st.data(), lines=st.lists(line, max_size=30), fmt=st.sampled_from(NEW))
def test_arbitrary_lines(data: st.DataObject, lines: list[str], fmt: str) -> None:
    options = data.draw(st.sampled_from(OPTIONS.get(fmt, [{}])))
    check_contract(PARSERS[fmt](lines, SourceMeta("fuzz", options=options)), lines)


# -- JSON-ish documents -------------------------------------------------------------------------

HOSTLIKE = ["pool.example", "8.8.8.8", "10.0.0.1", "2a01:4f8::1", "1.2.3.0/24", "a", "x:1", ""]
KEYS = ["host", "port", "tls", "Host", "Port", "SSL", "list", "type", "pools", "name"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from([*HOSTLIKE, "3333", "cidr", "hostname", "string", "regex"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=4)), inner, max_size=5),
    ),
    max_leaves=25,
)
records = st.fixed_dictionaries(
    {},
    optional={
        "host": st.one_of(st.sampled_from(HOSTLIKE), values),
        "port": st.one_of(st.integers(-5, 70000), st.sampled_from(["3333", "x", ""]), values),
        "tls": st.one_of(st.booleans(), st.none(), values),
    },
)
pool_docs = st.one_of(
    st.lists(records, max_size=12), st.lists(st.one_of(records, values), max_size=12), values
)
misp_docs = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["cidr", "hostname", "string", "substring", "regex", 3]),
            "list": st.lists(st.one_of(st.sampled_from(HOSTLIKE), scalars), max_size=12),
        },
        optional={"name": st.text(max_size=10), "version": st.integers()},
    ),
    values,
)


@st.composite
def documents(draw: st.DrawFn, docs: st.SearchStrategy[object]) -> tuple[object, list[str]]:
    """(document, its lines): pretty-printed or not, maybe with BOM/CRLF, maybe corrupted."""
    doc = draw(docs)
    text = json.dumps(doc, indent=draw(st.sampled_from([None, 0, 1, 2])))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["", "}", ",", '"', "x", "\n"])) + text[at + 1 :]
    if draw(st.booleans()):
        text = "\ufeff" + text
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return doc, [ln + ending for ln in text.split("\n")]


def elements(doc: object, lines: list[str], path: tuple[str, ...]) -> int | None:
    """How many elements the array at `path` has, or None if the text is no valid document.

    A blank document (all whitespace) is an empty feed: nothing, like a blank plain list.
    """
    text = "".join(lines).removeprefix("\ufeff")
    if not text.strip(" \t\r\n"):
        return 0
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    for key in path:
        parsed = parsed.get(key) if isinstance(parsed, Mapping) else None
    return len(parsed) if isinstance(parsed, list) else -1


@SETTINGS
@given(doc_lines=documents(pool_docs), opts=st.sampled_from(OPTIONS["json"][:2]))
def test_json_documents(doc_lines: tuple[object, list[str]], opts: dict[str, str]) -> None:
    doc, lines = doc_lines
    r = PARSERS["json"](lines, SourceMeta("fuzz", options=opts))
    check_contract(r, lines)
    outcome(r, elements(doc, lines, ()))


@SETTINGS
@given(doc_lines=documents(misp_docs), allow=st.booleans())
def test_misp_documents(doc_lines: tuple[object, list[str]], allow: bool) -> None:
    doc, lines = doc_lines
    category = Category.ALLOWLIST if allow else Category.POOL
    r = PARSERS["misp"](lines, SourceMeta("fuzz", category))
    check_contract(r, lines)
    outcome(r, elements(doc, lines, ("list",)))


def outcome(r: ParseResult, count: int | None) -> None:
    """A broken document is one `bad-json` problem; else each element gives one outcome."""
    if count is None:
        assert [p.code for p in r.problems] == ["bad-json"] and not r.entries
    elif count < 0:
        assert len(r.problems) == 1 and not r.entries
    else:
        assert len(r.entries) + len(r.problems) == count


# -- bounded time on hostile input --------------------------------------------------------------

HOSTILE = [
    "[" * 200_000,
    "{" * 200_000,
    "|" * 200_000,
    '"' * 200_000,
    ";" * 200_000,
    "stratum://" + "a" * 200_000,
    "alert dns any any -> any any (" + 'content:"|04|' * 20_000 + ")",
    "||" + "a." * 100_000 + "^",
    "*://" + "*." * 100_000 + "/",
    ",".join(["8.8.8.8"] * 50_000),
    "8.8.8.8:" + "9" * 5000,  # int() refuses > 4300 digits with a ValueError
    "http://8.8.8.8:" + "9" * 5000,
    "8.8.8.0/" + "9" * 5000 + ",3333",
    '[{"host": "8.8.8.8", "port": ' + "9" * 5000 + "}]",
]


@pytest.mark.parametrize("fmt", NEW)
def test_hostile_lines_are_fast(fmt: str) -> None:
    start = time.perf_counter()
    r = PARSERS[fmt](HOSTILE, SourceMeta("fuzz"))
    assert time.perf_counter() - start < 5.0
    check_contract(r, HOSTILE)
