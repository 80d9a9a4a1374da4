"""The compiled screen may only finish what Python would have found unlisted or excluded.

The rule under test: a CLEAN verdict means the Python path (`dns_qname` / the ClientHello parser,
then `Matcher.match_domain`) reads a name and finds no entry; CLEAN_NO_NAME means a complete
ClientHello without a server name; for HTTP it means the mining signature excludes the head.
A listed name, or its listed parent, and a miner's product token are always MAYBE.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from conftest import BENIGN, MINING, need_shared
from hypothesis import given, settings
from hypothesis import strategies as st

from blacklist.entries import Category
from blacklist.matcher import Matcher
from blacklist.namehash import fnv1a64, name_table
from blacklist.syntax import parse_item
from detector.base import Outcome
from detector.context import DetectContext
from detector.extract import TLS_CAP, client_hello_sni, dns_qname
from detector.inspect import _hello
from detector.prefilter import DNS_PORTS, STREAM_CAP
from detector.screen import (
    AGENT_TABLE,
    CLEAN,
    CLEAN_NO_NAME,
    MAYBE,
    NAME_SCRATCH,
    dns_screen,
    http_screen,
    tls_screen,
)
from detector.signatures.http_mining import HTTP_HEADS, MINER_AGENTS, HttpMiningSignature
from minewatch.lists import build_matcher
from pipelines.batch import PacketBatch
from pipelines.scan import Scanner, ScanStats, read_batches

from .builders import client_hello, dns_query, header, wire_name
from .test_tls_fast import real_hellos

NO_NAMES = name_table([])


def shared_files() -> list[Path]:
    return sorted(p for d in (BENIGN, MINING) for p in d.iterdir()
                  if p.suffix in (".pcap", ".pcapng"))  # fmt: skip


def _batches() -> Iterator[tuple[int, PacketBatch]]:
    """(file number, decoded batch) over every shared capture."""
    for k, path in enumerate(shared_files()):
        for batch, _ in read_batches(path, ScanStats()):
            yield k, batch


@cache
def real_dns() -> tuple[bytes, ...]:
    """Every UDP payload on a DNS port in the shared captures."""
    out = []
    for _, batch in _batches():
        pk = batch.packets
        dns = np.isin(pk["sport"], DNS_PORTS) | np.isin(pk["dport"], DNS_PORTS)
        for p in pk[dns & (pk["proto"] == 17) & (pk["payload_len"] > 0)]:
            off, n = int(p["payload_off"]), int(p["payload_len"])
            out.append(batch.buf[off : off + n].tobytes())
    return tuple(out)


def _screen(kernel, data: bytes, table: np.ndarray) -> int:  # type: ignore[no-untyped-def]
    # the payload sits at the end of a larger buffer, as in a batch, with nothing after it
    buf = np.frombuffer(b"\xaa" * 7 + data, dtype=np.uint8)
    name = np.empty(NAME_SCRATCH, dtype=np.uint8)
    verdict = int(kernel(buf, 7, len(data), table, name))
    # the same code run as Python indexes with bounds checks: no read past the payload
    assert int(kernel.py_func(buf[: 7 + len(data)], 7, len(data), table, name)) == verdict
    return verdict


def _matcher(names: Iterable[str]) -> Matcher:
    return Matcher([parse_item(n, category=Category.POOL) for n in names])


def _parents(name: str) -> list[str]:
    labels = name.split(".")
    return [".".join(labels[k:]) for k in range(len(labels))]


def _check_dns(data: bytes, matcher: Matcher) -> int:
    verdict = _screen(dns_screen, data, matcher.name_table)
    qname = dns_qname(data)
    if verdict == CLEAN:
        assert qname is not None
        assert matcher.match_domain(qname) < 0, qname
    elif qname is not None and matcher.match_domain(qname) >= 0:
        assert verdict == MAYBE
    return verdict


def _check_tls(data: bytes, matcher: Matcher) -> int:
    verdict = _screen(tls_screen, data[:TLS_CAP], matcher.name_table)
    if verdict != MAYBE:
        hello = _hello(data[:TLS_CAP])
        assert hello.is_client_hello and not hello.need_more and hello.error is None
        if verdict == CLEAN_NO_NAME:
            assert hello.sni is None
        else:
            assert hello.sni is not None and matcher.match_domain(hello.sni) < 0, hello.sni
    return verdict


def test_real_dns_questions_are_screened_and_agree() -> None:
    need_shared()
    builtin, _ = build_matcher()
    messages = real_dns()
    verdicts = [_check_dns(m, builtin) for m in messages]
    clean = verdicts.count(CLEAN)
    print(f"\n{len(messages)} real DNS payloads: {clean} screened against the built-in list")
    assert clean >= 0.8 * len(messages)
    # every name the captures ask about listed: each of those must go to Python
    asked = {q for m in messages if (q := dns_qname(m)) is not None}
    everything = _matcher(n for n in asked if n and parse_ok(n))
    assert [_check_dns(m, everything) for m in messages].count(CLEAN) < 0.1 * len(messages)


def parse_ok(name: str) -> bool:
    try:
        parse_item(name, category=Category.POOL)
    except ValueError:
        return False
    return True


def test_real_hellos_are_screened_and_agree() -> None:
    need_shared()
    builtin, _ = build_matcher()
    hellos = real_hellos()
    verdicts = [_check_tls(h, builtin) for h in hellos]
    print(f"\n{len(hellos)} real ClientHellos: {verdicts.count(CLEAN)} screened with a name, "
          f"{verdicts.count(CLEAN_NO_NAME)} without")  # fmt: skip
    assert verdicts.count(CLEAN) >= 0.8 * len(hellos)
    names = {h.sni for h in map(client_hello_sni, hellos) if h.sni}
    # each real server name listed by its parent domain: now none may be finished
    parents = {n.split(".", 1)[1] for n in names if n.count(".") >= 2}
    listed = _matcher(p for p in parents if parse_ok(p))
    assert sum(listed.match_domain(n) >= 0 for n in names) >= 0.5 * len(names)
    for h in hellos:  # _check_tls fails on a listed name screened CLEAN
        _check_tls(h, listed)


@pytest.mark.parametrize("asked", ["Pool.MineXMR.com", "xmr.pool.minexmr.com", "minexmr.com"])
def test_a_listed_name_or_parent_is_never_screened(asked: str) -> None:
    matcher = _matcher(["minexmr.com"])
    assert _check_dns(dns_query(asked), matcher) == MAYBE
    assert _check_tls(client_hello(asked), matcher) == MAYBE
    assert _check_dns(dns_query("minexmr.com.example.org"), matcher) == CLEAN
    assert _check_tls(client_hello("notminexmr.com"), matcher) == CLEAN


def test_what_python_reads_differently_goes_to_python() -> None:
    matcher = _matcher(["minexmr.com"])
    pointer = header() + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    dotted = header() + b"\x03a.b\x07example\x00" + b"\x00\x01\x00\x01"
    utf8 = dns_query("bücher.example")
    for data in (pointer, dotted, utf8, header() + wire_name("a.example"), b"\x00" * 11):
        assert _check_dns(data, matcher) == MAYBE, data
    assert _check_tls(client_hello("example.com."), matcher) == MAYBE
    assert _check_tls(client_hello(None), matcher) == CLEAN_NO_NAME


@given(st.lists(st.text(max_size=30), max_size=40))
def test_hash_table_is_the_python_hash(names: list[str]) -> None:
    table = name_table(names)
    encoded = [n.encode() for n in names]
    assert table.tolist() == sorted({fnv1a64(n) for n in encoded})
    assert not table.flags.writeable


@settings(max_examples=300, deadline=None)
@given(
    labels=st.lists(
        st.text(alphabet="abcXYZ019-_.\x00é ", min_size=1, max_size=6), min_size=1, max_size=5
    ),
    listed=st.lists(st.integers(0, 4), max_size=2),
)
def test_generated_names_never_hide_a_listed_one(labels: list[str], listed: list[int]) -> None:
    name = ".".join(labels)
    parents = _parents(name.lower())
    keys = [parents[k] for k in listed if k < len(parents) and parse_ok(parents[k])]
    matcher = _matcher(keys)
    try:
        message = dns_query(name)
    except Exception:  # dpkt refuses some names; nothing to screen then
        message = None
    if message is not None:
        _check_dns(message, matcher)
    try:
        hello = client_hello(name.encode("utf-8", "surrogateescape"))
    except Exception:  # not every generated name fits a hello
        return
    _check_tls(hello, matcher)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_real_payloads_never_disagree(data: st.DataObject) -> None:
    need_shared()
    builtin, _ = build_matcher()
    pool = real_dns() if data.draw(st.booleans()) else real_hellos()
    base = bytearray(data.draw(st.sampled_from(pool)))
    for _ in range(data.draw(st.integers(0, 4))):
        base[data.draw(st.integers(0, len(base) - 1))] = data.draw(st.integers(0, 255))
    cut = bytes(base[: data.draw(st.integers(0, len(base)))])
    _check_dns(cut, builtin)
    _check_tls(cut, builtin)


@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    matcher = _matcher(["example.com"])
    _check_dns(raw, matcher)
    _check_tls(b"\x16\x03\x01" + raw, matcher)


def test_scan_with_and_without_the_screen_is_the_same() -> None:
    """Whole scans of every shared capture: same hits and the same name counts, with the
    built-in list and with one that lists names the benign captures ask about."""
    need_shared()
    files = shared_files()
    builtin, _ = build_matcher()
    asked = {q for m in real_dns() if (q := dns_qname(m)) and q.count(".") >= 1}
    common = sorted({q.split(".", q.count(".") - 1)[-1] for q in asked})[:40]
    listed = Matcher([*builtin.entries, *(parse_item(n) for n in common if parse_ok(n))])
    for matcher in (builtin, listed):
        runs = []
        for screen in (True, False):
            ctx = DetectContext(matcher)
            hits: list[object] = []
            scanner = Scanner(ctx, hits.append)
            scanner.engine.name_screen = screen
            scanner.scan(files)
            runs.append(([h.to_json() for h in hits], ctx.stats.dns, ctx.stats.sni,
                         ctx.stats.dns_bad, ctx.stats.learned, ctx.stats.screened))  # fmt: skip
        (hits_on, *counts_on, screened), (hits_off, *counts_off, none) = runs
        assert hits_on == hits_off
        assert counts_on == counts_off
        assert none == 0 and screened > 300
        print(f"\n{len(matcher)} entries: {len(hits_on)} hits either way, {screened} screened")


# --- HTTP ------------------------------------------------------------------------------------

HTTP_SIG = HttpMiningSignature()


@cache
def real_http() -> tuple[bytes, ...]:
    """The first payload of each TCP direction that starts like HTTP, from every shared capture."""
    out = []
    seen: set[tuple[int, ...]] = set()
    starts = {h[:4] for h in HTTP_HEADS}
    for k, batch in _batches():
        pk = batch.packets
        for p in pk[(pk["proto"] == 6) & (pk["payload_len"] > 0)]:
            key = (
                k,
                *(int(p[f]) for f in ("src_hi", "src_lo", "sport", "dst_hi", "dst_lo", "dport")),
            )
            if key in seen:
                continue
            seen.add(key)
            off, n = int(p["payload_off"]), int(p["payload_len"])
            data = batch.buf[off : off + n].tobytes()
            if data[:4] in starts:
                out.append(data[:STREAM_CAP])
    return tuple(out)


def _check_http(data: bytes) -> int:
    head = np.frombuffer(data, dtype=np.uint8)
    verdict = int(http_screen(head, AGENT_TABLE))
    assert int(http_screen.py_func(head, AGENT_TABLE)) == verdict
    if verdict == CLEAN:
        for from_client in (True, False):
            assert HTTP_SIG.inspect(data, from_client, 6).outcome is Outcome.EXCLUDE, data[:300]
    return verdict


def test_real_http_heads_are_screened_and_agree() -> None:
    need_shared()
    heads = real_http()
    verdicts = [_check_http(h) for h in heads]
    mining = sum(HTTP_SIG.inspect(h, True, 6).outcome is not Outcome.EXCLUDE for h in heads)
    print(f"\n{len(heads)} real HTTP first payloads: {verdicts.count(CLEAN)} screened, "
          f"{mining} that the signature does not exclude at once")  # fmt: skip
    assert mining >= 100  # the mining captures' getwork / getblocktemplate heads are here
    assert verdicts.count(CLEAN) >= 0.5 * (len(heads) - mining)


@pytest.mark.parametrize(
    "agent",
    ["cgminer/3.7.2", "Mozilla/5.0 (x) XMRig/6.21 (Linux)", "foo (bar) bfgminer 5.5",
     "(comment)ccminer/2", "x(y cpuminer-opt/3", "T-Rex/0.26", "a\tcgminer/1"],
)  # fmt: skip
def test_a_miner_agent_is_never_screened(agent: str) -> None:
    data = f"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: {agent}\r\n\r\n".encode()
    assert _check_http(data) == MAYBE


def test_plain_heads_are_screened_and_mining_ones_not() -> None:
    browser = (
        b"GET /x HTTP/1.1\r\nHost: a\r\nUser-Agent: Mozilla/5.0 (X11; Linux) Firefox/120\r\n\r\n"
    )
    assert _check_http(browser) == CLEAN
    assert _check_http(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello") == CLEAN
    for data in (
        b'POST / HTTP/1.1\r\nContent-Length: 40\r\n\r\n{"method": "getwork"',  # JSON body
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n",
        b"GET / HTTP/1.1\r\nX-Mining-Extensions: midstate\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n",  # head not complete
        b"GET / HTTP/1.1\r\nUser-Agent: caf\xe9\r\n\r\n",
        b"GETX / HTTP/1.1\r\n\r\n",
    ):
        assert _check_http(data) == MAYBE, data


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(
        st.one_of(st.sampled_from(sorted(MINER_AGENTS)), st.text("abcXY/()-. 0\t", max_size=8)),
        max_size=8,
    ),
    upper=st.booleans(),
)
def test_generated_agents_never_hide_a_miner(words: list[str], upper: bool) -> None:
    agent = "".join(words)
    agent = agent.upper() if upper else agent
    data = f"GET / HTTP/1.1\r\nUser-Agent: {agent}\r\n\r\n".encode()
    _check_http(data)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_real_http_never_disagrees(data: st.DataObject) -> None:
    need_shared()
    base = bytearray(data.draw(st.sampled_from(real_http())))
    for _ in range(data.draw(st.integers(0, 4))):
        base[data.draw(st.integers(0, len(base) - 1))] = data.draw(
            st.sampled_from(b"\r\n :/(){}[]\x00\x80xX0")
        )
    _check_http(bytes(base[: data.draw(st.integers(0, len(base)))]))


@given(st.binary(max_size=400))
def test_arbitrary_http_bytes(raw: bytes) -> None:
    _check_http(b"GET / HTTP/1.1\r\n" + raw)
    _check_http(raw)
