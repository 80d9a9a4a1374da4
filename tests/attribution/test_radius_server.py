"""A real FreeRADIUS server (`freeradius -X` on a loopback high port, config generated in
tmp_path) logs accounting records sent with `radclient` to its `detail` file, which
`minewatch subscribers import-sessions --format radius-detail` then pairs into sessions.

The server runs in TZ=Asia/Shanghai, so the detail file's dates read "… CST", as on a carrier's
server in China. `UPDATE_GOLDEN=1` copies the first detail file to tests/attribution/radius/,
the fixture of the parser tests that run without FreeRADIUS.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from minewatch.cli_subscribers import subscribers
from store.attribution import SESSIONS

from .conftest import Database

FIXTURE = Path(__file__).parent / "radius" / "freeradius-3.2.detail"
T0 = 1709280000  # 2024-03-01 08:00:00 UTC
SECRET = "testing123"

CONFIG = """\
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = {d}
sbindir = /usr/sbin
logdir = {d}
raddbdir = {d}
radacctdir = {d}
name = radiusd
confdir = {d}
run_dir = {d}
db_dir = {d}
libdir = /usr/lib/freeradius
pidfile = {d}/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {{
  destination = stdout
}}
security {{
  allow_core_dumps = no
  allow_vulnerable_openssl = yes
}}
client localhost {{
  ipaddr = 127.0.0.1
  secret = {secret}
}}
modules {{
  detail {{
    filename = {d}/detail
    permissions = 0600
    header = "%t"
  }}
}}
server default {{
  listen {{
    type = acct
    ipaddr = 127.0.0.1
    port = {port}
  }}
  accounting {{
    detail
  }}
}}
"""


def need_freeradius() -> tuple[str, str]:
    server, client = shutil.which("freeradius"), shutil.which("radclient")
    if server is None or client is None:
        pytest.skip(
            "SKIPPED LOUDLY: FreeRADIUS not installed (Debian packages freeradius and "
            "freeradius-utils, see .ci/run)"
        )
    return server, client


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Radius:
    def __init__(self, root: Path, radclient: str, port: int) -> None:
        self.root, self.radclient, self.port = root, radclient, port

    @property
    def detail(self) -> Path:
        return self.root / "detail"

    def send(self, *packets: dict[str, str | int]) -> None:
        """Send accounting requests one at a time, in order (radclient -p 1)."""
        text = "\n".join(
            "".join(f"{k} = {json.dumps(v) if isinstance(v, str) else v}\n" for k, v in p.items())
            for p in packets
        )
        (self.root / "packets.txt").write_text(text)
        res = subprocess.run(
            [self.radclient, "-p", "1", "-r", "3", "-t", "3", "-f", str(self.root / "packets.txt"),
             f"127.0.0.1:{self.port}", "acct", SECRET],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr


@pytest.fixture
def radius(tmp_path: Path) -> Iterator[Radius]:
    server, client = need_freeradius()
    root = tmp_path / "raddb"
    root.mkdir()
    port = _free_udp_port()
    (root / "radiusd.conf").write_text(CONFIG.format(d=root, port=port, secret=SECRET))
    log = (tmp_path / "radiusd.log").open("w")
    env = {**os.environ, "TZ": "Asia/Shanghai"}
    proc = subprocess.Popen([server, "-X", "-d", str(root)], stdout=log, stderr=subprocess.STDOUT,
                            env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while "Ready to process requests" not in (tmp_path / "radiusd.log").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("freeradius did not start:\n" + (tmp_path / "radiusd.log").read_text())
            time.sleep(0.05)
        yield Radius(root, client, port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def acct(status: str, at: int | None, user: str, sid: str | None, nas: str = "192.0.2.1",
         **attrs: str | int) -> dict[str, str | int]:  # fmt: skip
    p: dict[str, str | int] = {"Acct-Status-Type": status, "NAS-IP-Address": nas}
    if user:
        p["User-Name"] = user
    if sid is not None:
        p["Acct-Session-Id"] = sid
    if at is not None:
        p["Event-Timestamp"] = at
    p.update({k.replace("_", "-"): v for k, v in attrs.items()})
    return p


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


def block_line(path: Path, user: str) -> int:
    """The line number of the header of the detail block with User-Name `user`."""
    lines = path.read_text().splitlines()
    i = lines.index(f'\tUser-Name = "{user}"')
    while lines[i].startswith("\t"):
        i -= 1
    return i + 1


def run(db: Database, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(subscribers, [*args, "--db", db.url])
    return res.exit_code, res.output


def stored(db: Database) -> set[tuple[str, datetime, datetime | None, str]]:
    def utc(d: datetime | None) -> datetime | None:
        return d if d is None or d.tzinfo else d.replace(tzinfo=UTC)

    c = SESSIONS.c
    with db.engine.connect() as conn:
        rows = conn.execute(select(c.ip, c.start, c.stop, c.account)).all()
    return {(ip, utc(a), utc(b), acc) for ip, a, b, acc in rows}  # type: ignore[misc]


def lookup(db: Database, ip: str, seconds: int) -> str | None:
    code, out = run(db, "lookup", ip, "--at", str(T0 + seconds), "--json")
    assert code in (0, 1), out
    sub = json.loads(out)["subscriber"]
    return None if sub is None else str(sub["account"])


def test_freeradius_detail_file_becomes_sessions(radius: Radius, db: Database) -> None:
    started = time.monotonic()
    ip = "Framed_IP_Address"
    radius.send(
        acct(
            "Start",
            T0,
            "alice",
            "A-1",
            **{ip: "100.64.0.10", "Delegated_IPv6_Prefix": "2001:db8:a00::/56"},
        ),
        acct(
            "Start",
            T0,
            "alice",
            "A-1",
            **{ip: "100.64.0.10", "Delegated_IPv6_Prefix": "2001:db8:a00::/56"},
            Acct_Delay_Time=4,
        ),  # retransmit
        acct("Start", T0 + 100, "bob", "A-2", **{ip: "100.64.0.11"}),
        acct("Start", T0 + 200, "gina", None, "192.0.2.2", **{ip: "100.64.1.20"}),  # no id
        acct(
            "Interim-Update", T0 + 600, "alice", "A-1", **{ip: "100.64.0.10"}, Acct_Session_Time=600
        ),
        # carol's Start was lost: her Interim opens the session at 900 - 300
        acct(
            "Interim-Update",
            T0 + 900,
            "carol",
            "B-7",
            "192.0.2.2",
            **{ip: "100.64.1.5"},
            Acct_Session_Time=300,
        ),
        acct("Stop", T0 + 500, "gina", None, "192.0.2.2", **{ip: "100.64.1.20"}),
        acct("Stop", T0 + 1800, "alice", "A-1", **{ip: "100.64.0.10"}, Acct_Session_Time=1800),
        acct("Stop", T0 + 1800, "alice", "A-1", **{ip: "100.64.0.10"}, Acct_Session_Time=1800),
        # dave's Start was lost too: his Stop alone gives 1000 .. 2000
        acct(
            "Stop",
            T0 + 2000,
            "dave",
            "B-9",
            "192.0.2.2",
            **{ip: "100.64.1.9"},
            Acct_Session_Time=1000,
        ),
        # frank: a Stop without Start and session time: counted and skipped
        acct("Stop", T0 + 2100, "frank", "B-10", "192.0.2.2", **{ip: "100.64.1.77"}),
        acct("Accounting-On", T0 + 3000, "", None),  # NAS A restarted: bob's session ends
        acct("Start", T0 + 3100, "erin", "A-1", **{ip: "100.64.0.10"}),  # id reused
        acct("Failed", T0 + 3200, "zed", "A-99", **{ip: "100.64.0.99"}),
    )
    assert radius.detail.exists(), "FreeRADIUS wrote no detail file"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        FIXTURE.parent.mkdir(exist_ok=True)
        shutil.copyfile(radius.detail, FIXTURE)
    first = radius.detail.rename(radius.root / "detail-1")

    code, out = run(db, "import-sessions", "--format", "radius-detail", "--timezone",
                    "Asia/Shanghai", str(first))  # fmt: skip
    assert code == 1, out  # frank's Stop is a problem; the rest is imported
    assert "14 records read, 7 sessions imported (2 still open, 1 closed by a NAS restart" in out
    assert "2 duplicate or stale records, 1 other records, 1 skipped" in out
    assert f"line {block_line(first, 'frank')}: Stop without its Start" in out
    assert stored(db) == {
        ("100.64.0.10", at(0), at(1800), "alice"),
        ("2001:db8:a00::/56", at(0), at(1800), "alice"),
        ("100.64.0.11", at(100), at(3000), "bob"),
        ("100.64.1.20", at(200), at(500), "gina"),
        ("100.64.1.5", at(600), None, "carol"),
        ("100.64.1.9", at(1000), at(2000), "dave"),
        ("100.64.0.10", at(3100), None, "erin"),
    }
    assert lookup(db, "100.64.0.10", 900) == "alice"
    assert lookup(db, "2001:db8:a00:5::1", 60) == "alice"
    assert lookup(db, "100.64.0.10", 2500) is None  # between alice's Stop and erin's Start
    assert lookup(db, "100.64.0.10", 3200) == "erin"
    assert lookup(db, "100.64.0.11", 2999) == "bob"
    assert lookup(db, "100.64.0.11", 3000) is None  # the NAS restart ended bob's session
    assert lookup(db, "100.64.1.5", 599) is None
    assert lookup(db, "100.64.1.5", 86400) == "carol"  # still online

    # The next file holds the Stops of the sessions still open. Erin's NAS counts her session
    # time 10 s short: the Stop still closes the stored session (start 3100), not a new one.
    radius.send(
        acct(
            "Stop",
            T0 + 4000,
            "carol",
            "B-7",
            "192.0.2.2",
            **{ip: "100.64.1.5"},
            Acct_Session_Time=3400,
        ),
        acct("Stop", T0 + 4000, "erin", "A-1", **{ip: "100.64.0.10"}, Acct_Session_Time=890),
    )
    code, out = run(db, "import-sessions", "--format", "radius-detail", str(radius.detail))
    assert code == 0, out  # no --timezone: the zone (CST) comes from header - Timestamp
    assert "2 sessions imported (0 still open, 0 closed by a NAS restart, 1 continuing" in out
    assert stored(db) >= {("100.64.1.5", at(600), at(4000), "carol"),
                          ("100.64.0.10", at(3100), at(4000), "erin")}  # fmt: skip
    assert len(stored(db)) == 7
    assert lookup(db, "100.64.1.5", 3999) == "carol"
    assert lookup(db, "100.64.1.5", 4000) is None

    # importing the first file again changes nothing: no session reopens
    code, out = run(db, "import-sessions", "--format", "radius-detail", "--timezone",
                    "Asia/Shanghai", str(first))  # fmt: skip
    assert code == 1 and len(stored(db)) == 7
    assert ("100.64.0.10", at(3100), at(4000), "erin") in stored(db)
    assert time.monotonic() - started < 30
