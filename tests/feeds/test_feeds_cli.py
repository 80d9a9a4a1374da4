"""`minewatch feeds …` as an operator runs it: the real console script, real databases, a real
loopback HTTP server for `update`."""

from __future__ import annotations

from pathlib import Path

import yaml

from .support import SAMPLES, Database, FeedServer, Route, minewatch


def feeds(db: Database, *args: str):  # type: ignore[no-untyped-def]
    return minewatch("feeds", *args, "--db", db.url)


def test_import_check_versions_diff_and_manual(db: Database) -> None:
    imp = feeds(db, "import", str(SAMPLES / "blocklist.txt"), "--format", "plain", "--source",
                "lab", "--allow-private", "--confidence", "0.8")  # fmt: skip
    assert imp.returncode == 0, imp.stderr
    assert imp.stdout.splitlines() == [
        "lab: 5 entries, 1 problems: version 1 (+5 -0)",
        "  line 10: bad-ipv4: not a strict dotted-quad IPv4 address: '999.1.1.1': '999.1.1.1'",
    ]
    listed = feeds(db, "check", "203.0.113.99:5555")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "203.0.113.99:5555: LISTED (list version 1)",
        "  lab  pool  0.80  203.0.113.99:5555  line 6: 203.0.113.99:5555",
    ]
    assert feeds(db, "check", "203.0.113.99:443").returncode == 1  # listed only with port 5555
    sub = feeds(db, "check", "ws.evil-pool.example")
    assert sub.returncode == 0
    assert "lab  pool  0.80  evil-pool.example  line 9: evil-pool" in sub.stdout
    pool = feeds(db, "check", "xmr.pool.minergate.com")  # the built-in list counts as well
    assert pool.returncode == 0 and "builtin  pool  0.90  minergate.com" in pool.stdout
    none = feeds(db, "check", "192.0.2.77")
    assert (none.returncode, none.stdout) == (1, "192.0.2.77: NOT LISTED (list version 1)\n")
    bad = feeds(db, "check", "1.2.3.999")
    assert bad.returncode == 2 and "not an IP, IP:port or domain" in bad.stderr
    # an operator allowlist range suppresses list-only entries, an analyst's entry counts
    allow = feeds(db, "add-manual", "198.51.100.0/24", "--category", "allowlist", "--reason",
                  "our NAT pool", "--by", "alice")  # fmt: skip
    assert (allow.returncode, allow.stdout) == (0, "manual 198.51.100.0/24: version 2\n")
    hidden = feeds(db, "check", "198.51.100.200")
    assert hidden.returncode == 1, hidden.stdout
    assert "suppressed: inside allowlist manual (198.51.100.0/24)" in hidden.stdout
    assert "lab  pool  0.80  198.51.100.200  line 4: 198.51.100.200" in hidden.stdout
    add = feeds(db, "add-manual", "198.51.100.200", "--reason", "stratum seen, case 7")
    assert add.returncode == 0 and add.stdout == "manual 198.51.100.200: version 3\n"
    assert feeds(db, "check", "198.51.100.200").returncode == 0
    rm = feeds(db, "remove-manual", "198.51.100.200", "--reason", "closed", "--by", "bob")
    assert (rm.returncode, rm.stdout) == (0, "removed manual 198.51.100.200: version 4\n")
    missing = feeds(db, "remove-manual", "198.51.100.200", "--reason", "again")
    assert missing.returncode == 2 and "no manual entry" in missing.stderr
    noreason = feeds(db, "add-manual", "198.51.100.9")
    assert noreason.returncode == 2 and "--reason" in noreason.stderr
    audit = feeds(db, "audit").stdout.splitlines()
    assert audit[0].split() == ["AT", "ACTION", "VALUE", "CATEGORY", "BY", "VERSION", "REASON"]
    assert [r.split()[1:6] for r in audit[1:]] == [
        ["add", "198.51.100.0/24", "allowlist", "alice", "2"],
        ["add", "198.51.100.200", "pool", audit[2].split()[4], "3"],
        ["remove", "198.51.100.200", "pool", "bob", "4"],
    ]
    versions = feeds(db, "versions").stdout.splitlines()
    assert [v.split()[0] for v in versions] == ["ID", "4", "3", "2", "1"]
    assert versions[-1].split()[2:] == ["5", "+5", "-0", "1", "import", "lab"]
    diff = feeds(db, "diff", "1", "4")
    assert diff.returncode == 0
    assert diff.stdout == "+ 198.51.100.0/24  cidr  manual  allowlist  0.95\n"
    assert diff.stderr == "1 added, 0 removed, 0 changed\n"
    unknown = feeds(db, "diff", "1", "99")
    assert unknown.returncode == 2 and "no list version 99" in unknown.stderr


def test_list_and_update_from_a_local_server(
    db: Database, server: FeedServer, tmp_path: Path
) -> None:
    server.routes["/pools.txt"] = Route(b"pool.example.org\n*.miner.example.net\nbad..name\n",
                                        etag='"p1"')  # fmt: skip
    index = tmp_path / "index.yaml"
    index.write_text(yaml.safe_dump({"sources": [
        {"name": "pools", "url": server.url("/pools.txt"), "format": "plain", "refresh": "1h",
         "licence": "test"},
        {"name": "gone", "url": server.url("/gone.txt"), "format": "plain"},
        {"name": "off", "url": server.url("/off.txt"), "format": "plain", "enabled": False},
    ]}))  # fmt: skip
    cache = str(tmp_path / "cache")
    up = feeds(db, "update", "--index", str(index), "--cache", cache, "--retries", "0")
    assert up.returncode == 2, up.stderr  # one source failed
    lines = up.stdout.splitlines()
    assert lines[0] == "pools: 2 entries, 1 problems: version 1 (+2 -0)"
    assert lines[1].startswith("  line 3: label-length")
    assert lines[2].startswith("gone: 0 entries, 0 problems: FAILED, kept the last good version: ")
    assert "HTTP 404" in lines[2]
    assert lines[3:] == ["learned: 0 entries, 0 problems: unchanged", "list version 1"]
    again = feeds(db, "update", "pools", "--index", str(index), "--cache", cache)
    assert again.returncode == 0
    assert again.stdout.splitlines() == [
        "pools: 2 entries, 1 problems: unchanged",
        "  line 3: label-length: bad label '' in 'bad..name': 'bad..name'",
        "list unchanged",
    ]
    assert server.requests[-1].status == 304
    listing = feeds(db, "list", "--index", str(index))
    assert listing.returncode == 0, listing.stderr
    rows = [r.split(None, 6) for r in listing.stdout.splitlines()]
    assert rows[0] == ["NAME", "CATEGORY", "ENABLED", "LAST-SUCCESS", "LAST-ATTEMPT", "ENTRIES",
                       "HEALTH"]  # fmt: skip
    assert rows[1][:3] == ["pools", "pool", "yes"] and rows[1][5:] == ["2", "ok"]
    assert rows[2][:3] == ["gone", "pool", "yes"] and rows[2][3] == "-"
    assert rows[2][6].startswith("FAILING (1x): ") and "HTTP 404" in rows[2][6]
    assert rows[3] == ["off", "pool", "no", "-", "-", "0", "never fetched"]
    assert rows[4][:3] == ["learned", "pool", "learned"]
    notfound = feeds(db, "update", "nope", "--index", str(index), "--cache", cache)
    assert notfound.returncode == 2 and "no source 'nope'" in notfound.stderr
    (tmp_path / "bad.yaml").write_text("sources:\n  - {name: x, url: 'https://x', format: zip}\n")
    badidx = feeds(db, "list", "--index", str(tmp_path / "bad.yaml"))
    assert badidx.returncode == 2 and "unknown format 'zip'" in badidx.stderr
    wrong = feeds(db, "import", str(index), "--format", "zip", "--source", "x")
    assert wrong.returncode == 2 and "unknown format 'zip'" in wrong.stderr
