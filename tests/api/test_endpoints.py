"""The service's own endpoints against a live server, on SQLite and PostgreSQL: filters,
pagination, the workflow and its audit trail, CSV, the regulator's check, subscribers, probes,
metrics, key revocation and last_used."""

from __future__ import annotations

import csv
import io
import time

import httpx

from store.apikeys import create_key, list_keys, revoke_key
from tests.api.conftest import SEED, Live


def test_hits_filters_and_cursor_walk(live: Live) -> None:
    with live.client("analyst") as c:
        seen: list[int] = []
        cursor = None
        while True:
            params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
            page = c.get("/v1/hits", params=params).json()
            assert len(page["items"]) <= 4
            seen += [h["id"] for h in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == live.hits
        assert seen == sorted(seen, reverse=True)  # newest first
        one = c.get("/v1/hits", params={"client": "10.2.0.9", "limit": 50}).json()["items"]
        assert {h["client_ip"] for h in one} == {"10.2.0.9"} and len(one) == 4
        srv = c.get("/v1/hits", params={"server": "203.0.113.8"}).json()["items"]
        assert len(srv) == 3 and {h["server_port"] for h in srv} == {4444}
        late = c.get("/v1/hits", params={"since": "2024-10-27T03:37:00Z"}).json()["items"]
        assert len(late) == 2  # only the 6-hit case runs that long
        early = c.get("/v1/hits", params={"until": "2024-10-27T03:34:00Z", "limit": 50}).json()
        assert len(early["items"]) == len(SEED)  # the first hit of each case
        assert c.get("/v1/hits", params={"class": "coin-p2p"}).json()["items"] == []


def test_cases_workflow_and_audit(live: Live) -> None:
    with live.client("analyst") as c:
        cases = c.get("/v1/cases", params={"subscriber": "10.2.0.9"}).json()["items"]
        assert len(cases) == 1
        cid = cases[0]["id"]
        r = c.patch(f"/v1/cases/{cid}", json={"status": "verifying", "note": "called the café"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["case"]["status"] == "verifying"
        assert sorted(body["moves"]) == ["confirmed", "false-positive"]
        last = body["audit"][-1]
        assert (last["actor"], last["from_status"], last["to_status"], last["note"]) == (
            "analyst-tester", "new", "verifying", "called the café")  # fmt: skip
        refused = c.patch(f"/v1/cases/{cid}", json={"status": "cleared"})
        assert refused.status_code == 409 and "cannot move" in refused.json()["detail"]
        assert c.get(f"/v1/cases/{cid}").json()["case"]["status"] == "verifying"
        assert c.patch("/v1/cases/999999", json={"status": "verifying"}).status_code == 404
        by_status = c.get("/v1/cases", params={"status": "verifying"}).json()["items"]
        assert cid in [x["id"] for x in by_status]
        strong = c.get("/v1/cases", params={"min_confidence": 0.9}).json()["items"]
        assert [x["confidence"] for x in strong] == [0.95]


def test_verification_list_json_and_csv(live: Live) -> None:
    with live.client("analyst") as c:
        flagged = c.get("/v1/verification-list").json()["items"]
        assert {x["subscriber_ip"] for x in flagged} == {s[0] for s in SEED}
        schools = c.get("/v1/verification-list", params={"sector": "school"}).json()["items"]
        assert {x["account"] for x in schools} == {"ACC-1"} and len(schools) == 2
        south = c.get("/v1/verification-list", params={"region": "south"}).json()["items"]
        assert [x["subscriber_ip"] for x in south] == ["10.2.0.9"]
        r = c.get("/v1/verification-list", params={"sector": "school", "format": "csv"})
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert {row["subscriber_ip"] for row in rows} == {"10.1.0.5"}
        assert rows[0]["evidence"] in ("stratum=6", "ip-list=3")
        r2 = c.get("/v1/verification-list", params={"region": "south"},
                   headers={"Accept": "text/csv"})  # fmt: skip
        row = next(csv.DictReader(io.StringIO(r2.text)))
        assert row["name"] == "'=cmd|' /C calc'!A0"  # a formula is defused, not run
        paged = c.get("/v1/verification-list", params={"limit": 1, "format": "csv"})
        assert "X-Next-Cursor" in paged.headers


def test_regulator_check(live: Live) -> None:
    with live.client("analyst") as c:
        body = "# weekly list\n10.1.0.5\n\n192.0.2.1  # not ours\nnot-an-ip\n010.1.0.5\n"
        r = c.post("/v1/verification-list/check", content=body,
                   headers={"Content-Type": "text/plain"})  # fmt: skip
        assert r.status_code == 200, r.text
        out = r.json()
        verdicts = [(x["ip"], x["verdict"]) for x in out["results"]]
        assert verdicts[:3] == [("10.1.0.5", "flagged"), ("192.0.2.1", "clear"),
                                ("not-an-ip", "invalid")]  # fmt: skip
        assert verdicts[3][1] == "invalid"  # leading zeros are ambiguous: refused
        assert out["counts"] == {"flagged": 1, "known": 0, "clear": 1, "invalid": 2}
        assert {x["pool_ip"] for x in out["results"][0]["cases"]} == {"203.0.113.7", "203.0.113.8"}
        j = c.post("/v1/verification-list/check", json={"ips": ["10.2.0.9", "2001:db8::1"]})
        assert [x["verdict"] for x in j.json()["results"]] == ["flagged", "clear"]


def test_subscriber(live: Live) -> None:
    with live.client("analyst") as c:
        s = c.get("/v1/subscribers/10.1.0.5").json()
        assert (s["account"], s["sector"], s["region"]) == ("ACC-1", "school", "north")
        assert len(s["cases"]) == 2 and len(s["recent_hits"]) == 9
        assert not s["repeat_offender"]
        assert c.get("/v1/subscribers/192.0.2.77").status_code == 404


def test_probes_and_metrics(live: Live) -> None:
    assert httpx.get(f"{live.url}/v1/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{live.url}/v1/readyz").json()
    assert ready["status"] == "ready" and ready["schema_version"]
    with live.client("analyst") as c:
        c.get("/v1/cases/1")
        c.get("/v1/hits", params={"limit": 100000})
    text = httpx.get(f"{live.url}/v1/metrics").text
    assert 'route="/cases/{case_id}"' in text  # the template, never the id
    assert 'minewatch_api_requests_total{method="GET",route="/hits",status="422"}' in text
    assert "minewatch_api_list_version" in text and "minewatch_api_db_pool_size" in text
    assert "10.1.0.5" not in text


def test_revocation_takes_effect_within_the_cache_ttl(live: Live) -> None:
    key_id, token = create_key(live.engine, "analyst", "short-lived")
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{live.url}/v1/cases", headers=headers).status_code == 200
    assert next(k for k in list_keys(live.engine) if k.key_id == key_id).last_used is not None
    revoke_key(live.engine, token[:11])
    deadline = time.monotonic() + 5
    while httpx.get(f"{live.url}/v1/cases", headers=headers).status_code == 200:
        assert time.monotonic() < deadline, "a revoked key still works after 5 s"
        time.sleep(0.1)
    assert httpx.get(f"{live.url}/v1/cases", headers=headers).status_code == 401


def test_postgresql_pool_is_open_before_the_first_burst(live: Live) -> None:
    """On PostgreSQL the lifespan opens the whole pool (a connection costs a backend fork, tens
    of milliseconds, which used to land in the first minute's p99); SQLite is left alone."""
    pool = live.engine.pool
    held = pool.checkedin() + pool.checkedout()  # type: ignore[attr-defined]
    if live.engine.dialect.name == "postgresql":
        assert held >= pool.size() == 5  # type: ignore[attr-defined]
    else:  # the few requests so far needed one or two connections, never the whole pool
        assert held < pool.size()  # type: ignore[attr-defined]
