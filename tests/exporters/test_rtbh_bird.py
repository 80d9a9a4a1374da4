"""RTBH against a real BGP peer: ExaBGP runs `minewatch bgp-feed`, BIRD learns the routes.

The list is changed only through the real console script (`feeds import`, `add-manual`,
`remove-manual`); the expected routes come from the block list itself
(`MatcherProvider.blocklist().kept`), not from the feed's own selection code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from blacklist.entries import Kind
from blacklist.provider import MatcherProvider
from store.db import connect

from .bgplab import Lab, need_lab, wait_for

EXE = shutil.which("minewatch", path=str(Path(sys.executable).parent)) or "minewatch"

LIST_V1 = """\
# lab feed
203.0.113.7
203.0.113.8
198.51.100.0/24
2001:db8::7
2001:db8:1::/64
203.0.113.9:3333/tcp
10.0.0.0/8
2001:db8::/32
pool.example.com
"""


def minewatch(db: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MINEWATCH_DB"}
    done = subprocess.run([EXE, *args, "--db", db], capture_output=True, text=True, env=env,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def blackhole_prefixes(db: str) -> set[str]:
    """ip/cidr entries of the exportable list that pass the /24, /48 safety floors."""
    engine = connect(db)
    try:
        kept = MatcherProvider(engine, builtin=False).blocklist().kept
    finally:
        engine.dispose()
    nets = [e.network for e in kept if e.kind in (Kind.IP, Kind.CIDR) and e.network is not None]
    return {str(n) for n in nets if n.prefixlen >= (24 if n.version == 4 else 48)}


def learned(lab: Lab) -> tuple[dict[str, dict[str, str]], set[str]]:
    """Blackhole routes (net → attributes) and FlowSpec rules BIRD holds."""
    tables = lab.show()
    unicast = {**tables.get("rtbh4", {}), **tables.get("rtbh6", {})}
    flows = {*tables.get("fl4", {}), *tables.get("fl6", {})}
    return {n: r.attrs for n, r in unicast.items()}, flows


def holding(lab: Lab, nets: set[str]) -> tuple[dict[str, dict[str, str]], set[str]] | None:
    """What BIRD holds, once its blackhole routes are exactly `nets`."""
    got = learned(lab)
    return got if set(got[0]) == nets else None


def test_bird_learns_the_block_list_and_follows_changes(tmp_path: Path) -> None:
    bird, birdc, ip = need_lab()
    db = f"sqlite:///{tmp_path / 'list.sqlite'}"
    feed = tmp_path / "feed.txt"
    feed.write_text(LIST_V1)
    minewatch(db, "feeds", "import", str(feed), "--format", "plain", "--source", "lab",
              "--allow-private")  # fmt: skip
    minewatch(db, "feeds", "add-manual", "192.0.2.77", "--reason", "seen mining")
    expected = blackhole_prefixes(db)
    assert {"203.0.113.7/32", "198.51.100.0/24", "2001:db8::7/128", "192.0.2.77/32"} <= expected
    assert "10.0.0.0/8" not in expected  # the /24 floor, also asserted on BIRD's side below

    lab = Lab(tmp_path, ["--db", db, "--interval", "0.2", "--flowspec", "--community",
                         "65535:666", "--community", "65001:666"], bird, birdc, ip)  # fmt: skip
    try:
        lab.start()
        wait_for(lab.established, "the BGP session")
        routes, flows = wait_for(lambda: holding(lab, expected), f"BIRD to learn {expected}")
        for net, attrs in routes.items():
            assert attrs["BGP.community"] == "(65001,666) (65535,666)", net
            assert attrs["BGP.next_hop"] == ("192.0.2.1" if "." in net else "100::1"), net
        assert flows == {"flow4 { dst 203.0.113.9/32; proto 6; dport 3333; }"}

        # a removal withdraws the route; an addition announces one; nothing else moves
        minewatch(db, "feeds", "remove-manual", "192.0.2.77", "--reason", "false positive")
        feed.write_text(
            LIST_V1.replace("203.0.113.8\n", "").replace(
                "203.0.113.9:3333/tcp\n", "[2001:db8::9]:443/tcp\n"
            )
        )
        minewatch(db, "feeds", "import", str(feed), "--format", "plain", "--source", "lab",
                  "--allow-private", "--force")  # fmt: skip
        minewatch(db, "feeds", "add-manual", "198.51.100.200", "--reason", "seen mining")
        now = blackhole_prefixes(db)
        assert now == (expected - {"192.0.2.77/32", "203.0.113.8/32"}) | {"198.51.100.200/32"}
        wait_for(lambda: holding(lab, now), f"BIRD to withdraw and learn up to {sorted(now)}")
        flow6 = "flow6 { dst 2001:db8::9/128; next header 6; dport 443; }"  # protocol = next header
        wait_for(lambda: learned(lab)[1] == {flow6}, "the FlowSpec rule to move to IPv6")

        # ExaBGP stopping stops the feed cleanly; BIRD sees the session go
        assert lab.stop_exabgp() == 0
        log = lab.exabgp_log.read_text()
        assert "bgp-feed: stopped" in log, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
        assert "SAFETY STOP: not announcing 10.0.0.0/8" in log
        wait_for(lambda: not lab.established(), "BIRD to see the session down")
    finally:
        lab.close()
    assert subprocess.run([ip, "netns", "pids", lab.ns], capture_output=True,
                          check=False).returncode != 0  # fmt: skip
