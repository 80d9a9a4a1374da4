"""A BGP lab in a private network namespace: BIRD (passive, learning into its own tables) and
ExaBGP running `minewatch bgp-feed` as its API process, over the namespace's loopback.

Only the namespace's own loopback is used (127.0.0.1 ExaBGP, 127.0.0.2 BIRD); the namespace,
BIRD and ExaBGP are removed/stopped in `close()` whatever happened.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

BIRD_CONF = """\
log "{log}" all;
router id 127.0.0.2;
protocol device {{}}
ipv4 table rtbh4;
ipv6 table rtbh6;
flow4 table fl4;
flow6 table fl6;
# the RTBH next hops route to a discard interface (here: blackhole routes)
protocol static discard4 {{ ipv4 {{ table master4; }}; route 192.0.2.1/32 blackhole; }}
protocol static discard6 {{ ipv6 {{ table master6; }}; route 100::1/128 blackhole; }}
protocol bgp exa {{
  local 127.0.0.2 as 65000;
  neighbor 127.0.0.1 as 65001;
  passive on;
  multihop;
  ipv4 {{ table rtbh4; igp table master4; gateway recursive; import all; export none; }};
  ipv6 {{ table rtbh6; igp table master6; gateway recursive; import all; export none; }};
  flow4 {{ table fl4; import all; export none; }};
  flow6 {{ table fl6; import all; export none; }};
}}
"""

EXABGP_CONF = """\
process minewatch {{
  run {run};
  encoder text;
}}
neighbor 127.0.0.2 {{
  router-id 127.0.0.1;
  local-address 127.0.0.1;
  local-as 65001;
  peer-as 65000;
  family {{ ipv4 unicast; ipv6 unicast; ipv4 flow; ipv6 flow; }}
  api {{ processes [ minewatch ]; }}
}}
"""

EXABGP = Path(sys.executable).parent / "exabgp"


def need_lab() -> tuple[str, str, str]:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    bird, birdc = shutil.which("bird", path=path), shutil.which("birdc", path=path)
    if bird is None or birdc is None:
        pytest.skip("SKIPPED LOUDLY: BIRD (Debian bird2: bird, birdc) is not installed; "
                    ".ci/run installs it")  # fmt: skip
    if not EXABGP.exists():
        pytest.skip(f"SKIPPED LOUDLY: ExaBGP not installed in the venv ({EXABGP})")
    ip = shutil.which("ip", path=path)
    if os.geteuid() != 0 or ip is None:
        pytest.skip("SKIPPED LOUDLY: network namespaces need root and iproute2")
    return bird, birdc, ip


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 15.0) -> T:
    """Poll `probe` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


@dataclass
class Route:
    """One route as BIRD shows it."""

    net: str
    attrs: dict[str, str] = field(default_factory=dict)


_ROUTE = re.compile(r"^(\S+(?: \{.*?\})?)\s+.*\[exa ")


def parse_show_route(text: str) -> dict[str, dict[str, Route]]:
    """`birdc show route all table …` output → {table: {net: Route}}."""
    tables: dict[str, dict[str, Route]] = {}
    table: dict[str, Route] | None = None
    current: Route | None = None
    for line in text.splitlines():
        if line.startswith("Table "):
            table = tables.setdefault(line[6:].rstrip(":"), {})
            continue
        m = _ROUTE.match(line)
        if m and table is not None:
            current = Route(m.group(1))
            table[current.net] = current
        elif current is not None and line.startswith("\t") and ":" in line:
            key, _, value = line.strip().partition(": ")
            current.attrs[key] = value
    return tables


@dataclass
class Lab:
    tmp: Path
    feed_args: list[str]
    bird: str
    birdc: str
    ip: str
    ns: str = field(default_factory=lambda: f"mwh2-{uuid.uuid4().hex[:8]}")
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    exabgp: subprocess.Popen[bytes] | None = None

    @property
    def sock(self) -> Path:
        return self.tmp / "bird.ctl"

    @property
    def exabgp_log(self) -> Path:
        return self.tmp / "exabgp.log"

    def start(self) -> None:
        subprocess.run([self.ip, "netns", "add", self.ns], check=True)
        subprocess.run([self.ip, "-n", self.ns, "link", "set", "lo", "up"], check=True)
        (self.tmp / "bird.conf").write_text(BIRD_CONF.format(log=self.tmp / "bird.log"))
        bird = subprocess.Popen([self.ip, "netns", "exec", self.ns, self.bird, "-f", "-c",
                                 str(self.tmp / "bird.conf"), "-s", str(self.sock)])  # fmt: skip
        self.procs.append(bird)
        wait_for(lambda: self.sock.exists(), "the BIRD control socket", 10)
        run = " ".join([sys.executable, "-m", "minewatch.cli_bgp", *self.feed_args])
        (self.tmp / "exabgp.conf").write_text(EXABGP_CONF.format(run=run))
        # ExaBGP drops privileges to `nobody` unless told otherwise; the lab runs as root
        env = dict(os.environ, exabgp_daemon_user="root", exabgp_log_destination="stderr",
                   exabgp_api_ack="true")  # fmt: skip
        with self.exabgp_log.open("wb") as log:
            self.exabgp = subprocess.Popen([self.ip, "netns", "exec", self.ns, str(EXABGP),
                                            str(self.tmp / "exabgp.conf")],
                                           stdout=log, stderr=subprocess.STDOUT,
                                           env=env)  # fmt: skip
        self.procs.append(self.exabgp)

    def show(self) -> dict[str, dict[str, Route]]:
        out = subprocess.run([self.birdc, "-s", str(self.sock), "show", "route", "all",
                              "table", "all"], capture_output=True, text=True,
                             timeout=10, check=True)  # fmt: skip
        return parse_show_route(out.stdout)

    def established(self) -> bool:
        out = subprocess.run([self.birdc, "-s", str(self.sock), "show", "protocols", "exa"],
                             capture_output=True, text=True, timeout=10,
                             check=False)  # fmt: skip
        return "Established" in out.stdout

    def stop_exabgp(self, timeout: float = 10.0) -> int:
        assert self.exabgp is not None
        self.exabgp.send_signal(signal.SIGTERM)
        return self.exabgp.wait(timeout)

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        subprocess.run([self.ip, "netns", "del", self.ns], check=False)
