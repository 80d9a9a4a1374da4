"""`minewatch cases` and `minewatch db` on a database filled by a real `minewatch scan` of the
bundled samples."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from minewatch.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, input: str | None = None) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return res.exit_code, res.output


def test_scan_then_work_cases(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    code, _ = _run("scan", "--db", url, "--blocklist", str(ROOT / "samples/blocklist.txt"),
                   "--format", "jsonl", str(ROOT / "samples"))  # fmt: skip
    assert code == 0
    code, out = _run("cases", "list", "--db", url, "--format", "jsonl")
    cases = [json.loads(line) for line in out.splitlines()]
    code, out = _run("hits", "--db", url, "--format", "jsonl")
    hits = [json.loads(line) for line in out.splitlines()]
    keys = {(h["client_ip"], h["server_ip"], h["server_port"], h["transport"]) for h in hits}
    assert len(cases) == len(keys) and sum(c["hits"] for c in cases) == len(hits)
    table = _run("cases", "list", "--db", url)[1]
    dns = next(c for c in cases if c["transport"] == "dns")
    assert f"{dns['pool_domain']} (dns)" in table and "[2001:db8:" in table
    stratum = next(c for c in cases if "stratum" in c["evidence"])
    cid = str(stratum["id"])
    assert _run("cases", "move", cid, "confirmed", "--db", url)[0] == 2  # skips verifying
    for to in ("verifying", "confirmed", "notified"):
        code, out = _run("cases", "move", cid, to, "--by", "ana", "--note", "called", "--db", url)
        assert code == 0 and out.strip() == f"case {cid}: {to}"
    shown = json.loads(_run("cases", "show", cid, "--db", url)[1])
    assert [a["to"] for a in shown["audit"]] == ["new", "verifying", "confirmed", "notified"]
    assert {a["actor"] for a in shown["audit"][1:]} == {"ana"}
    weekly = f"# weekly list\n{stratum['subscriber_ip']}\n10.99.99.99\nnope\n"
    code, out = _run("cases", "check", "--db", url, input=weekly)
    verdicts = [line.split()[:2] for line in out.splitlines()[1:]]
    assert verdicts == [[stratum["subscriber_ip"], "flagged"], ["10.99.99.99", "clear"],
                        ["nope", "invalid"]]  # fmt: skip
    code, out = _run("db", "maintain", "--db", url, "--clear-after-days", "1")
    assert code == 0 and f"deleted {len(hits)} hits" in out  # the samples are from 2024
    assert "cleared 1 cases" in out
    assert json.loads(_run("cases", "show", cid, "--db", url)[1])["status"] == "cleared"
