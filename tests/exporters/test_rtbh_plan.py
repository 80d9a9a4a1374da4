"""The RTBH diff planner and route selection (pure), and the ack-matching channel over pipes."""

from __future__ import annotations

import io
import ipaddress
import os
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blacklist.entries import Category, Entry
from blacklist.syntax import parse_item
from pipelines.exporters.rtbh import (
    Policy,
    Route,
    announce_line,
    apply,
    check_community,
    plan,
    select_routes,
    withdraw_line,
)
from pipelines.exporters.rtbh_feed import CLEAR, ExaBGPChannel, Feed

v4 = st.builds(lambda a, n: ipaddress.ip_network((a, n), strict=False),
               st.integers(0, 2**32 - 1), st.integers(20, 32))  # fmt: skip
v6 = st.builds(lambda a, n: ipaddress.ip_network((a, n), strict=False),
               st.integers(0, 2**128 - 1), st.integers(40, 128))  # fmt: skip
routes = st.builds(Route, st.one_of(v4, v6)) | st.builds(
    Route, v4, st.integers(1, 65535), st.sampled_from([6, 17, None])
)
route_sets = st.sets(routes, max_size=40)


@given(route_sets, route_sets)
def test_the_plan_turns_the_old_set_into_the_new_set(old: set[Route], new: set[Route]) -> None:
    commands = plan(old, new)
    assert apply(old, commands) == new
    announced = [r for a, r in commands if a == "announce"]
    withdrawn = [r for a, r in commands if a == "withdraw"]
    assert len(announced) == len(set(announced))  # no duplicate announces
    assert not set(announced) & old  # nothing the peer already holds is re-announced
    assert set(withdrawn) <= old - new
    assert plan(new, new) == []
    assert commands == plan(old, new)  # deterministic


@given(route_sets)
def test_every_route_renders_to_one_line_and_withdraws_its_own_nlri(rs: set[Route]) -> None:
    policy = Policy(communities=("65535:666", "64512:1"))
    for r in rs:
        ann, wd = announce_line(r, policy), withdraw_line(r)
        assert "\n" not in ann and "\n" not in wd
        assert ann.startswith("announce ") and wd.startswith("withdraw ")
        if r.flow:  # withdraw repeats the match exactly
            assert wd.removeprefix("withdraw") == ann.removeprefix("announce")
        else:
            assert wd == f"withdraw route {r.prefix}"
            assert "community [65535:666 64512:1]" in ann


def entry(text: str, confidence: float = 0.5) -> Entry:
    return parse_item(text, source="t", category=Category.POOL, confidence=confidence,
                      public_only=False)  # fmt: skip


def test_selection_refuses_short_prefixes_and_caps_by_confidence() -> None:
    entries = [entry("10.0.0.0/8"), entry("2001:db8::/32"), entry("198.51.100.0/24"),
               entry("203.0.113.1", 0.9), entry("203.0.113.2", 0.2), entry("203.0.113.3:3333/tcp"),
               entry("pool.example.com"), entry("2001:db8:5::/48")]  # fmt: skip
    sel = select_routes(entries, max_routes=3)
    assert {str(r.prefix) for r in sel.routes} == {"203.0.113.1/32", "198.51.100.0/24",
                                                   "2001:db8:5::/48"}  # fmt: skip
    assert sel.capped == 1  # the 0.2-confidence /32
    assert sorted(e.value for e, _ in sel.refused) == ["10.0.0.0/8", "2001:db8::/32"]
    flows = select_routes(entries, flowspec=True, min_v4=8, min_v6=32).routes
    assert Route(ipaddress.ip_network("203.0.113.3/32"), 3333, 6) in flows
    assert len(flows) == 7


BAD_COMMUNITIES = ["65536:1", "1:65536", "666", "a:b", "1:2:3", "", "-1:5", "١:١", "²:1"]


@pytest.mark.parametrize("bad", BAD_COMMUNITIES)
def test_bad_communities_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="community"):
        check_community(bad)


@given(st.text(max_size=20))
def test_community_check_accepts_exactly_ascii_pairs(text: str) -> None:
    parts = text.split(":")
    valid = len(parts) == 2 and all(
        p.isascii() and p.isdigit() and len(p) <= 5 and int(p) <= 65535 for p in parts
    )
    if valid:
        assert check_community(text) == text
    else:
        with pytest.raises(ValueError, match="community"):
            check_community(text)


def fake_exabgp(answers: dict[str, str]) -> tuple[io.TextIOWrapper, io.TextIOWrapper, list[str]]:
    """Two real pipes and a thread answering each command line like ExaBGP: `done`, or the
    answer configured for a line containing a key."""
    cmd_r, cmd_w = os.pipe()
    ans_r, ans_w = os.pipe()
    seen: list[str] = []

    def serve() -> None:
        with os.fdopen(cmd_r) as inp, os.fdopen(ans_w, "w") as out:
            for line in inp:
                seen.append(line.rstrip("\n"))
                hit = [v for k, v in answers.items() if k in line]
                out.write((hit[0] if hit else "done") + "\n")
                out.flush()

    threading.Thread(target=serve, daemon=True).start()
    return os.fdopen(cmd_w, "w"), os.fdopen(ans_r), seen


def test_refused_routes_stay_in_the_difference_and_are_retried() -> None:
    out, inp, seen = fake_exabgp({"203.0.113.2/32": "error"})
    logs: list[str] = []
    channel = ExaBGPChannel(out, inp, window=2, log=logs.append)
    want = {Route(ipaddress.ip_network(f"203.0.113.{i}/32")) for i in range(1, 6)}
    feed = Feed(channel, lambda: select_routes([entry(f"203.0.113.{i}") for i in range(1, 6)]),
                Policy(), interval=0, log=logs.append)  # fmt: skip
    assert channel.command(CLEAR)
    feed.step()
    assert feed.state == want - {Route(ipaddress.ip_network("203.0.113.2/32"))}
    assert channel.errors == 1 and any("refused" in m for m in logs)
    feed.step()  # unchanged list: only the refused route is tried again
    assert seen[-1] == "announce route 203.0.113.2/32 next-hop 192.0.2.1 community [65535:666]"
    assert len(seen) == 1 + 5 + 1
    out.close()
    assert channel.gone.wait(5)
    inp.close()


def test_exabgp_going_away_stops_the_feed() -> None:
    out, inp, _ = fake_exabgp({})
    channel = ExaBGPChannel(out, inp)
    feed = Feed(channel, lambda: None, Policy(), interval=30, clear=False, stop=channel.gone)
    out.close()  # the fake ExaBGP sees EOF and closes its answers: our stdin ends
    assert channel.gone.wait(5)
    assert feed.run() == 0  # returns at once, not after the 30 s interval
    inp.close()


def test_a_silent_exabgp_is_treated_as_ackless_after_the_timeout() -> None:
    r, w = os.pipe()
    logs: list[str] = []
    with os.fdopen(r) as never, io.StringIO() as out:
        channel = ExaBGPChannel(out, never, ack_timeout=0.2, log=logs.append)
        state = channel.run(set(), [("announce", Route(ipaddress.ip_network("192.0.2.9/32")))],
                            Policy())  # fmt: skip
        assert len(state) == 1 and not channel.ack
        assert "did not answer" in logs[0]
        os.close(w)
