"""`minewatch bgp-feed` as a process, with this test playing ExaBGP on its stdin/stdout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

import store.listmodels  # noqa: F401  (the list tables)
from blacklist.learned import add_manual, remove_manual
from blacklist.versions import ensure_schema
from minewatch.cli_bgp import bgp_feed
from store.db import connect

from .bgplab import wait_for


def test_sigterm_stops_the_feed_cleanly_after_the_initial_announce(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'list.sqlite'}"
    engine = connect(db)  # in-process here (the BIRD test drives the console script)
    ensure_schema(engine)
    add_manual(engine, "203.0.113.5", reason="seen", by="test")
    add_manual(engine, "2001:db8::5", reason="seen", by="test")
    proc = subprocess.Popen([sys.executable, "-m", "minewatch.cli_bgp", "--db", db,
                             "--next-hop", "198.51.100.1", "--interval", "0.2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []

    def exabgp() -> None:  # answer every command like ExaBGP with acks on
        assert proc.stdin is not None and proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            proc.stdin.write("done\n")
            proc.stdin.flush()

    reader = threading.Thread(target=exabgp, daemon=True)
    reader.start()
    try:
        wait_for(lambda: len(lines) >= 3, "the initial announces")
        assert lines == ["clear adj-rib out",
                         "announce route 203.0.113.5/32 next-hop 198.51.100.1 community "
                         "[65535:666]",
                         "announce route 2001:db8::5/128 next-hop 100::1 community "
                         "[65535:666]"]  # fmt: skip
        remove_manual(engine, "203.0.113.5", reason="gone", by="test")
        wait_for(lambda: len(lines) >= 4, "the withdraw")
        assert lines[3] == "withdraw route 203.0.113.5/32"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        err = proc.stderr.read()
        assert "bgp-feed: stopped, 1 routes were held" in err and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        reader.join(5)
        engine.dispose()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()


@pytest.mark.parametrize(("args", "message"), [
    (["--next-hop", "not-an-ip"], "does not appear to be an IPv4 or IPv6 address"),
    (["--next-hop", "192.0.2.1", "--next-hop", "192.0.2.2"], "two IPv4 next hops"),
    (["--community", "65535:66666"], "not a standard community"),
    (["--min-prefix-v4", "33"], "33"),
])  # fmt: skip
def test_bad_options_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MINEWATCH_DB"}
    res = CliRunner().invoke(bgp_feed, ["--db", f"sqlite:///{tmp_path / 'x.sqlite'}", *args],
                             env=env)  # fmt: skip
    assert res.exit_code == 2, res.output
    assert message in res.output
