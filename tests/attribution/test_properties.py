"""Hypothesis: the CSV parsers never crash and never lose a good line; the in-memory indexes
agree with a brute-force reading of the documented rules."""

from __future__ import annotations

import io
import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.attribution import open_text
from store.attribution_csv import (
    SECTORS,
    AttributionError,
    ImportReport,
    parse_registry,
    parse_sessions,
)
from store.attribution_index import PrefixIndex, SessionIndex
from store.attribution_net import parse_ip, parse_net

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GARBAGE = st.text(
    alphabet=st.characters(blacklist_characters='"\r\n', blacklist_categories=("Cs",)), max_size=60
)
NAMES = st.text(  # what a registry name may hold: letters (CJK too), digits, punctuation, spaces
    alphabet=st.characters(whitelist_categories=("L", "N", "P", "Zs"), blacklist_characters='"'),
    max_size=20,
)
BASE = datetime(2024, 5, 1, tzinfo=UTC)


@st.composite
def v4_net(draw: st.DrawFn) -> ipaddress.IPv4Network:
    plen = draw(st.integers(8, 32))
    addr = draw(st.integers(0, 2**32 - 1))
    return ipaddress.IPv4Network((addr >> (32 - plen) << (32 - plen), plen))


@st.composite
def v6_net(draw: st.DrawFn) -> ipaddress.IPv6Network:
    plen = draw(st.integers(16, 128))
    addr = (0x2001_0DB8 << 96) | draw(st.integers(0, 2**96 - 1))
    return ipaddress.IPv6Network((addr >> (128 - plen) << (128 - plen), plen))


def _parse(parser, text: str) -> tuple[list, ImportReport]:
    rep = ImportReport("t")
    try:
        return list(parser(io.StringIO(text, newline=""), rep)), rep
    except AttributionError:
        return [], rep


@SETTINGS
@given(
    good=st.lists(
        st.tuples(st.one_of(v4_net(), v6_net()), st.sampled_from(SECTORS), NAMES),
        max_size=15,
        unique_by=lambda t: t[0],
    ),
    bad=st.lists(GARBAGE, max_size=15),
    order=st.randoms(use_true_random=False),
)
def test_registry_parser_keeps_every_good_line(good, bad, order) -> None:
    lines = [
        ("good", f'{n},acct{i},"{name.replace(chr(34), "")}",{sector},r')
        for i, (n, sector, name) in enumerate(good)
    ]
    lines += [("bad", b) for b in bad]
    order.shuffle(lines)
    text = "network,account,name,sector,region\n" + "\n".join(t for _, t in lines) + "\n"
    recs, rep = _parse(parse_registry, text)
    got = {(r.net.text if r.net else None, r.account) for r in recs}
    for i, (n, _s, _name) in enumerate(good):
        canon = str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)
        assert (canon, f"acct{i}") in got
    assert len(recs) + rep.skipped == rep.read
    assert all(r.sector in SECTORS for r in recs)


@SETTINGS
@given(
    good=st.lists(
        st.tuples(
            st.one_of(v4_net(), v6_net()),
            st.integers(0, 10**6),
            st.one_of(st.none(), st.integers(0, 10**6)),
        ),
        max_size=15,
    ),
    bad=st.lists(GARBAGE, max_size=15),
    order=st.randoms(use_true_random=False),
)
def test_session_parser_keeps_every_good_line(good, bad, order) -> None:
    lines = []
    for i, (n, start, dur) in enumerate(good):
        s = BASE + timedelta(seconds=start)
        stop = "" if dur is None else (s + timedelta(seconds=dur)).isoformat()
        when = str(int(s.timestamp())) if i % 2 else s.isoformat()
        lines.append(("good", f"{n},{when},{stop},acct{i}"))
    lines += [("bad", b) for b in bad]
    order.shuffle(lines)
    text = "ip,start,stop,account\n" + "\n".join(t for _, t in lines) + "\n"
    recs, rep = _parse(parse_sessions, text)
    got = {r.account for r in recs}
    assert {f"acct{i}" for i in range(len(good))} <= got
    assert all(r.stop is None or r.stop >= r.start for r in recs)
    assert len({r.line for r in recs}) + rep.skipped == rep.read


@SETTINGS
@given(
    data=st.binary(max_size=400),
    header=st.sampled_from([b"", b"network,account,sector\n", b"ip,start,stop,account\n"]),
)
def test_parsers_never_crash_on_arbitrary_bytes(tmp_path_factory, data, header) -> None:
    path = Path(tmp_path_factory.mktemp("b")) / "f.csv"
    path.write_bytes(header + data)
    for parser in (parse_registry, parse_sessions):
        rep = ImportReport("f")
        with open_text(path, "utf-8") as fh:
            try:
                recs = list(parser(fh, rep))
            except AttributionError:
                continue
        assert rep.read == len({r.line for r in recs}) + rep.skipped
        for r in recs:  # what comes out is clean text and valid addresses
            assert not any("\udc80" <= c <= "\udcff" for c in r.account)
            if r.net is not None:
                parse_net(r.net.text)


# --- the indexes against brute force -------------------------------------------------------

ADDRS = st.integers(0, 255).map(lambda x: f"10.0.{x >> 4}.{x & 15}")


@st.composite
def small_v4(draw: st.DrawFn) -> ipaddress.IPv4Network:
    plen = draw(st.integers(20, 32))  # inside 10.0.0.0/20 so prefixes nest and collide often
    addr = (10 << 24) | draw(st.integers(0, 2**12 - 1))
    return ipaddress.IPv4Network((addr >> (32 - plen) << (32 - plen), plen))


@SETTINGS
@given(
    nets=st.lists(small_v4(), max_size=30, unique=True),
    probes=st.lists(st.integers(0, 2**12 + 50), min_size=1, max_size=40),
)
def test_prefix_index_is_longest_prefix_match(nets, probes) -> None:
    idx = PrefixIndex(
        (4, int(n.network_address), int(n.broadcast_address), i) for i, n in enumerate(nets)
    )
    for p in probes:
        addr = ipaddress.IPv4Address((10 << 24) + p)
        holding = [(n.prefixlen, i) for i, n in enumerate(nets) if addr in n]
        expect = max(holding)[1] if holding else -1
        assert idx.find(4, int(addr)) == expect, (addr, nets)


@SETTINGS
@given(
    sessions=st.lists(
        st.tuples(
            st.integers(0, 15),  # address 10.0.0.x
            st.sampled_from([32, 32, 32, 30, 28]),
            st.integers(0, 100),  # start
            st.one_of(st.none(), st.integers(0, 40)),  # duration (None: still online)
        ),
        max_size=40,
    ),
    probes=st.lists(st.tuples(st.integers(0, 17), st.integers(-5, 150)), min_size=1, max_size=40),
)
def test_session_index_matches_brute_force(sessions, probes) -> None:
    fams, plens, los, starts, stops = [], [], [], [], []
    for a, plen, start, dur in sessions:
        fams.append(4)
        plens.append(plen)
        los.append(((10 << 24) + a) >> (32 - plen) << (32 - plen))
        starts.append(start)
        stops.append(None if dur is None else start + dur)
    idx = SessionIndex(fams, plens, los, starts, stops, list(range(len(sessions))))
    # a session without a stop ends where the next session on its address or prefix begins
    # (ordered by start, then row)
    ends = list(stops)
    for i in range(len(sessions)):
        if ends[i] is None:
            later = [
                starts[j]
                for j in range(len(sessions))
                if (plens[j], los[j]) == (plens[i], los[i]) and (starts[j], j) > (starts[i], i)
            ]
            ends[i] = min(later) if later else None
    for a, t in probes:
        addr = (10 << 24) + a
        covering = [
            (plens[i], starts[i], i)
            for i in range(len(sessions))
            if addr >> (32 - plens[i]) == los[i] >> (32 - plens[i])
            and starts[i] <= t
            and ((end := ends[i]) is None or t < end)
        ]
        # longest prefix, then latest start, then the later row
        expect = max(covering)[2] if covering else -1
        assert idx.find(4, addr, t) == expect, (a, t)


def test_parse_ip_forms() -> None:
    assert parse_ip("10.0.0.1") == (4, 0x0A000001)
    assert parse_ip("::ffff:10.0.0.1") == (4, 0x0A000001)
    assert parse_ip("2001:db8::1")[0] == 6
    for bad in ("", "10.0.0", "10.0.0.256", "fe80::1%eth0", "x", "1.2.3.4/32"):
        try:
            parse_ip(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
