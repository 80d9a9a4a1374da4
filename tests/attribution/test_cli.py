"""`minewatch subscribers …` through click, on a real SQLite file and PostgreSQL."""

from __future__ import annotations

import json

from click.testing import CliRunner

from minewatch.cli_subscribers import subscribers
from tests.conftest import SAMPLES

from .conftest import Database


def run(db: Database, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(subscribers, [*args, "--db", db.url])
    return res.exit_code, res.output


def test_import_lookup_list(db: Database, write) -> None:
    code, out = run(db, "import-registry", str(SAMPLES / "subscribers" / "registry.csv"))
    assert code == 0 and "0 skipped" in out
    code, out = run(db, "import-sessions", str(SAMPLES / "subscribers" / "sessions.csv"))
    assert code == 0, out
    code, out = run(db, "lookup", "10.20.55.6", "--at", "2024-05-01T00:02:00Z", "--json")
    assert code == 0
    assert json.loads(out)["subscriber"] == {
        "account": "H-5502", "name": "李四", "sector": "residential", "region": "杭州",
    }  # fmt: skip
    code, out = run(db, "lookup", "10.20.8.14", "--at", "1714521600")
    assert code == 0 and "state-owned-enterprise" in out and "国网" in out
    code, out = run(db, "lookup", "192.0.2.200")
    assert code == 1 and "no subscriber" in out
    code, out = run(db, "list", "--sector", "学校")
    rows = out.splitlines()[1:]
    assert code == 0 and len(rows) == 2 and all(" school " in r for r in rows)
    code, out = run(db, "list", "--region", "杭州", "--sector", "residential")
    assert code == 0 and "H-5501" in out and "EDU-1002" not in out


def test_problems_and_errors_exit_codes(db: Database, write) -> None:
    bad = write("r.csv", "network,account,sector\n10.0.0.0/24,A,school\n10.0.0.999,B,school\n")
    code, out = run(db, "import-registry", str(bad))
    assert code == 1 and "line 3: malformed address" in out and "1 imported" in out
    code, out = run(db, "import-registry", str(write("h.csv", "who,what\n")))
    assert code == 2 and "lacks column" in out
    code, out = run(
        db, "import-sessions", str(write("s.csv", "ip,start,account\n")), "--timezone", "Mars/Base"
    )
    assert code == 2 and "unknown time zone" in out
    code, out = run(db, "lookup", "10.0.0", "--at", "now")
    assert code == 2 and "not an IP address" in out
    code, out = run(db, "lookup", "10.0.0.1", "--at", "yesterday")
    assert code == 2 and "bad time" in out
    code, out = run(db, "list", "--sector", "brewery")
    assert code == 2 and "unknown sector" in out


def test_bad_database_url_is_exit_2(tmp_path) -> None:
    res = CliRunner().invoke(
        subscribers, ["list", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none"]
    )
    assert res.exit_code == 2 and "database" in res.output
