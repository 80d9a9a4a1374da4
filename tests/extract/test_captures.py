"""Real captures: the extractors against tshark (independent oracle) and dpkt.ssl, frame by frame.

Every UDP 53/5353 payload goes through `dns_qname`/`dns_names` (TCP 53 with the length prefix), and
every TCP payload starting 16 03 through `client_hello_sni`, one packet at a time as the pipeline
does. A hello reported `need_more` is completed by concatenating the flow's next in-order segments,
which is what the caller does; tshark reports a reassembled hello on its *last* segment, so those
are compared at the frame where our concatenation completes.

Documented exceptions (counted and printed, never silently dropped):
* tshark-only TLS names on UDP frames: QUIC Initials, out of scope for `client_hello_sni`;
* our-only SNIs where tshark did not dissect TLS (retransmitted segments, TLS on ports tshark does
  not map, TLS inside RDP); each must then agree with dpkt.ssl;
* tshark-only SNIs in a second ClientHello after a TLS 1.3 HelloRetryRequest: that segment starts
  with a ChangeCipherSpec record (14 03 03), so the pipeline never offers it; the same flow's
  first hello, which we did read, must carry the same name;
* tshark placeholders such as ``<Root>`` or ``<name too long>`` are not names; after a name we
  refuse, tshark carries on and we stop, so our list must be a prefix of tshark's there;
* tshark lists A/AAAA from every section, we only report the answer section: ours must be a
  subset, and equal when the message has no authority/additional records.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from detector.extract import (
    MAX_HELLO_LEN,
    DnsInfo,
    TlsHello,
    client_hello_sni,
    dns_names,
    dns_qname,
)

from .builders import dpkt_view
from .captures import PCAP_ROOT, capture_files, have_tshark, segments, tshark_fields

pytestmark = pytest.mark.slow

FIELDS = [
    "dns.qry.name", "dns.a", "dns.aaaa", "dns.count.auth_rr", "dns.count.add_rr",
    "tls.handshake.extensions_server_name",
]  # fmt: skip
FILTER = "dns or mdns or tls.handshake.type == 1"


@dataclass
class Run:
    """What the extractors said about one capture."""

    dns: dict[int, tuple[str | None, DnsInfo | None]] = field(default_factory=dict)
    tls: dict[int, TlsHello] = field(default_factory=dict)  # one packet on its own
    completed: dict[int, TlsHello] = field(default_factory=dict)  # need_more, then concatenated
    hellos: dict[int, bytes] = field(default_factory=dict)  # complete single-record hellos
    udp: set[int] = field(default_factory=set)
    flow_of: dict[int, tuple[bytes, int, bytes, int]] = field(default_factory=dict)  # TCP frames
    counts: Counter[str] = field(default_factory=Counter)


def _walk(path: Path, stats: Counter[str]) -> Run:
    run = Run()
    pending: dict[tuple[bytes, int, bytes, int], tuple[int, bytes]] = {}
    for seg in segments(path, stats):
        ports, data = {seg.sport, seg.dport}, seg.payload
        if seg.proto == 17:
            run.udp.add(seg.frame)
            if ports & {53, 5353}:
                run.dns[seg.frame] = (dns_qname(data), dns_names(data))
            continue
        if 53 in ports and data:
            run.dns[seg.frame] = (dns_qname(data, True), dns_names(data, True))
        key = (seg.src, seg.sport, seg.dst, seg.dport)
        run.flow_of[seg.frame] = key
        if key in pending and data:
            nxt, buf = pending.pop(key)
            if seg.seq == nxt:
                buf += data
                hello = client_hello_sni(buf)
                if hello.need_more and len(buf) < MAX_HELLO_LEN:
                    pending[key] = ((nxt + len(data)) & 0xFFFFFFFF, buf)
                else:
                    run.completed[seg.frame] = hello
            elif (seg.seq - nxt) & 0xFFFFFFFF > 1 << 31:  # old data again: keep waiting
                pending[key] = (nxt, buf)
            else:
                run.counts["need_more abandoned at a gap"] += 1
        if data[:2] == b"\x16\x03":
            hello = run.tls[seg.frame] = client_hello_sni(data)
            if hello.need_more:
                run.counts["need_more"] += 1
                pending[key] = ((seg.seq + len(data)) & 0xFFFFFFFF, data)
            elif hello.is_client_hello and hello.error is None:
                run.hellos[seg.frame] = data
    run.counts["need_more never completed"] += len(pending)
    return run


Runs = dict[str, Run]
Oracle = dict[str, dict[int, list[list[str]]]]  # capture name -> frame -> tshark field values


@pytest.fixture(scope="module")
def runs() -> Runs:
    if not PCAP_ROOT.is_dir():
        pytest.skip(f"!!! shared captures not found at {PCAP_ROOT}: real-data checks NOT run !!!")
    stats: Counter[str] = Counter()
    out = {p.name: _walk(p, stats) for p in capture_files()}
    assert stats["frames"] > 10_000, stats
    return out


@pytest.fixture(scope="module")
def oracle(runs: Runs) -> Oracle:
    if not have_tshark():
        pytest.skip("!!! tshark not installed: the independent oracle comparison was NOT run !!!")
    paths = [p for p in capture_files() if runs[p.name].dns or runs[p.name].tls]
    with ThreadPoolExecutor(max_workers=4) as pool:
        rows = pool.map(lambda p: tshark_fields(p, FILTER, FIELDS), paths)
        return {p.name: r for p, r in zip(paths, rows, strict=True)}


def _tshark_names(values: list[str]) -> list[str]:
    """tshark's text (\\ooo octal escapes) to plain lower-case names, placeholders dropped."""
    unescape = re.compile(r"\\([0-7]{3})")
    return [unescape.sub(lambda m: chr(int(m[1], 8)), v).lower() for v in values if v[:1] != "<"]


def _our_names(names: tuple[str, ...]) -> list[str]:
    return [re.sub(r"\\(\d{3})", lambda m: chr(int(m[1])), n) for n in names]


def _report(capsys: pytest.CaptureFixture[str], title: str, counts: Counter[str]) -> None:
    with capsys.disabled():
        print(f"\n{title}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))


def _dns_frames(runs: Runs, oracle: Oracle) -> Iterator[
    tuple[str, int, str | None, DnsInfo | None, list[list[str]]]
]:  # fmt: skip
    for name, rows in oracle.items():
        for frame, (fast, info) in runs[name].dns.items():
            yield name, frame, fast, info, rows.get(frame, [[]] * len(FIELDS))


@pytest.mark.tshark
def test_dns_names_agree_with_tshark(
    runs: Runs, oracle: Oracle, capsys: pytest.CaptureFixture[str]
) -> None:
    counts: Counter[str] = Counter()
    bad: list[str] = []
    for name, frame, fast, info, row in _dns_frames(runs, oracle):
        theirs = _tshark_names(row[0])
        ours = _our_names(info.qnames) if info else []
        if info is not None and info.qnames and info.qnames[0] != fast:
            bad.append(f"{name}#{frame}: fast path {fast!r} vs full {info.qnames[0]!r}")
        if not ours or not theirs:
            counts["only tshark" if theirs else "only ours" if ours else "neither has a name"] += 1
            if theirs or ours:
                bad.append(f"{name}#{frame}: ours {ours} tshark {theirs}")
        else:
            same = (
                ours == theirs
                if info is None or info.error is None
                else theirs[: len(ours)] == ours
            )
            counts["names agree" if same else "names DISAGREE"] += 1
            if not same:
                bad.append(f"{name}#{frame}: ours {ours} tshark {theirs}")
        if info is None:
            continue
        mine = {ipaddress.ip_address(a.value) for a in info.answers if a.rtype != "CNAME"}
        tsh = {ipaddress.ip_address(v) for v in row[1] + row[2]}
        exact = row[3] == ["0"] and row[4] == ["0"] and info.error is None
        if mine == tsh:
            counts["addresses equal" if mine else "no addresses"] += 1
        elif mine < tsh and not exact:
            counts["addresses subset (tshark adds authority/additional)"] += 1
        else:
            bad.append(f"{name}#{frame}: addresses ours {mine} tshark {tsh}")
    for name, rows in oracle.items():  # what tshark saw that the pipeline would not offer us
        offered = runs[name].dns
        counts["tshark DNS frames not offered (other port/fragment/tunnel)"] += sum(
            1 for f, r in rows.items() if f not in offered and (r[0] or r[1] or r[2])
        )
    _report(capsys, "DNS vs tshark", counts)
    assert counts["names agree"] > 500 and counts["addresses equal"] > 100 and not bad, bad[:20]


@pytest.mark.tshark
def test_client_hello_sni_agrees_with_tshark(
    runs: Runs, oracle: Oracle, capsys: pytest.CaptureFixture[str]
) -> None:
    counts: Counter[str] = Counter()
    bad: list[str] = []
    for name, rows in oracle.items():
        run = runs[name]
        theirs = {f: [v.lower() for v in r[5]] for f, r in rows.items() if r[5]}
        ours = {f: h for f, h in run.tls.items() if h.sni is not None}
        for frame, hello in {**ours, **run.completed}.items():
            if hello.sni is None:
                continue
            if frame in theirs:
                same = theirs[frame] == [hello.sni]
                kind = "agree (reassembled)" if frame in run.completed else "agree"
                counts[kind if same else "DISAGREE"] += 1
                if not same:
                    bad.append(f"{name}#{frame}: ours {hello.sni} tshark {theirs[frame]}")
            elif frame in run.hellos and dpkt_view(run.hellos[frame])[0] == hello.sni:
                counts["only ours, tshark did not dissect TLS, dpkt.ssl agrees"] += 1
            else:
                bad.append(f"{name}#{frame}: only ours {hello.sni}")
        for frame, names in theirs.items():
            if frame in ours or (frame in run.completed and run.completed[frame].sni):
                continue
            earlier = {h.sni for f, h in ours.items() if run.flow_of[f] == run.flow_of.get(frame)}
            if frame in run.udp:
                counts["only tshark: QUIC over UDP (out of scope)"] += 1
            elif names == [n for n in earlier if n] and run.tls.get(frame) is None:
                counts["only tshark: 2nd hello after HelloRetryRequest, 1st agrees"] += 1
            else:
                bad.append(f"{name}#{frame}: only tshark {names} (ours {run.tls.get(frame)})")
        counts.update(run.counts)
    _report(capsys, "TLS SNI vs tshark", counts)
    assert counts["agree"] > 300 and counts["agree (reassembled)"] >= 1 and not bad, bad[:20]


def test_real_client_hellos_agree_with_dpkt_ssl(
    runs: Runs, capsys: pytest.CaptureFixture[str]
) -> None:
    counts: Counter[str] = Counter()
    for name, run in runs.items():
        for frame, data in run.hellos.items():
            hello = run.tls[frame]
            try:
                view = dpkt_view(data)
            except Exception:
                counts["dpkt.ssl could not parse"] += 1
                continue
            assert view == (hello.sni, hello.alpn, hello.version), f"{name}#{frame}"
            counts["agree"] += 1
    _report(capsys, "ClientHello vs dpkt.ssl", counts)
    assert counts["agree"] > 300


def _names(run: Run) -> tuple[set[str], set[str]]:
    snis = {h.sni for h in [*run.tls.values(), *run.completed.values()] if h.sni}
    qnames = {n for _, info in run.dns.values() if info for n in info.qnames}
    return snis, qnames


def test_known_mining_names(runs: Runs) -> None:
    snis, qnames = _names(runs["zeek-cryptomining__coinhive.pcap"])
    assert {"authedmine.com", "ws027.authedmine.com"} <= snis
    assert {"authedmine.com", "ws027.authedmine.com"} <= qnames
    snis, _ = _names(runs["zeek-cryptomining__bitcoin-mining.pcap"])  # no DNS in this capture
    assert "us1.bitminter.com" in snis
    run = runs["nesfit__cgminer.g0.pcapng"]
    assert {"litecoinpool.org", "us.litecoinpool.org", "us2.litecoinpool.org"} <= _names(run)[1]
    pool = [a for _, info in run.dns.values() if info for a in info.answers]
    assert any(a.name.endswith("litecoinpool.org") and a.rtype == "A" for a in pool)


@pytest.mark.tshark
def test_nanopool_captures_dns_matches_tshark(
    runs: Runs, oracle: Oracle, capsys: pytest.CaptureFixture[str]
) -> None:
    """The nesfit nanopool captures hold only the stratum TCP session: no DNS to find.

    tshark decides; if it ever sees a nanopool query there, we must see it too.
    """
    names = sorted(n for n in runs if "nanopool" in n)
    assert len(names) == 3
    for name in names:
        rows = oracle.get(name, {})
        theirs = {n for r in rows.values() for n in _tshark_names(r[0]) if "nanopool" in n}
        ours = {n for n in _names(runs[name])[1] if "nanopool" in n}
        assert ours == theirs, name
        _report(capsys, f"{name} nanopool DNS names", Counter({n: 1 for n in ours} or {"none": 0}))
