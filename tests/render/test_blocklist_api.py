"""`/v1/blocklist` and `/v1/feeds` on a real uvicorn server on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

from blacklist.entries import Category
from blacklist.render.cache import RenderCache
from blacklist.render.snapshot import SnapshotStore

from .conftest import Api
from .support import Server, commit, entries, later, read_txt


def _prime(api: Api) -> None:
    """A render cache that re-reads the head on every request (no 1 s poll in tests)."""
    api.server.app.state.blocklists = RenderCache(SnapshotStore(api.db.engine, poll=0))


def test_full_list_etag_304_and_roles(api: Api) -> None:
    eng = api.db.engine
    commit(eng, "feed-a", entries(["5.9.0.10", "45.9.100.0/24", "104.16.1.2", "45.10.1.1:3333"]))
    commit(eng, "cdn", entries(["104.16.0.0/13"], "cdn", Category.ALLOWLIST))
    commit(eng, "regulator", entries(["77.1.2.3"], "regulator", Category.REGULATOR))
    _prime(api)
    with api.server.client(api.export_key) as c:
        r = c.get("/blocklist", params={"format": "txt", "type": "ip"})
        assert r.status_code == 200, r.text
        # the CDN-covered list entry and the regulator's address are never published
        assert read_txt(r.text) == {"5.9.0.10", "45.9.100.0/24"}
        etag = r.headers["etag"]
        assert etag == f'"{hashlib.sha256(r.content).hexdigest()}"'
        version = r.headers["x-minewatch-list-version"]
        assert version.startswith("3.")
        assert "max-age=0" in r.headers["cache-control"]
        for inm in (etag, f'"nope", {etag}', f"W/{etag}", "*"):
            r304 = c.get("/blocklist", params={"format": "txt"}, headers={"If-None-Match": inm})
            assert r304.status_code == 304, inm
            assert r304.content == b""
            assert r304.headers["etag"] == etag
        assert c.get("/blocklist", headers={"If-None-Match": '"other"'}).status_code == 200
        ck = c.get("/blocklist/checksum", params={"format": "txt", "type": "ip"})
        assert ck.text.strip() == etag.strip('"')
        md5 = c.get("/blocklist/checksum", params={"algorithm": "md5"}).text.strip()
        assert md5 == hashlib.md5(r.content, usedforsecurity=False).hexdigest()
        ep = c.get("/blocklist", params={"format": "nft", "type": "endpoint"})
        assert "45.10.1.1 . tcp . 3333" in ep.text and "45.10.1.1 . udp . 3333" in ep.text
    basic = base64.b64encode(f"router:{api.export_key}".encode()).decode()
    with api.server.client() as c:
        assert c.get("/blocklist").status_code == 401
        r = c.get("/blocklist", headers={"Authorization": f"Basic {basic}"})
        assert r.status_code == 200 and r.headers["etag"] == etag
        assert c.get("/blocklist", headers={"Authorization": "Bearer wrong"}).status_code == 401
    with api.server.client(api.analyst_key) as c:  # a higher role may read block lists
        assert c.get("/blocklist").status_code == 200


def test_bad_requests_are_clear_4xx(api: Api) -> None:
    commit(api.db.engine, "feed-a", entries(["5.9.0.10"]))
    _prime(api)
    with api.server.client(api.export_key) as c:
        r = c.get("/blocklist", params={"format": "pdf"})
        assert r.status_code == 422 and "format" in r.text
        assert c.get("/blocklist", params={"type": "url"}).status_code == 422
        r = c.get("/blocklist", params={"format": "edl", "type": "endpoint"})
        assert r.status_code == 400 and "edl cannot express type endpoint" in r.json()["detail"]
        r = c.get("/blocklist", params={"format": "suricata-iprep", "type": "domain"})
        assert r.status_code == 400
        r = c.get("/blocklist", params={"format": "edl", "since": "1.abc"})
        assert r.status_code == 400 and "no diff form" in r.json()["detail"]
        for bad in ("1.abc", "x", "99.0123", "' or 1=1 --"):
            r = c.get("/blocklist", params={"since": bad})
            assert r.status_code == 400, bad
        assert c.get("/blocklist", params={"since": "x" * 200}).status_code == 422


def test_new_version_changes_etag_and_since_diff(api: Api) -> None:
    eng = api.db.engine
    commit(eng, "feed-a", entries(["5.9.0.10", "45.9.100.7"]))
    _prime(api)
    with api.server.client(api.export_key) as c:
        r1 = c.get("/blocklist")
        v1, e1 = r1.headers["x-minewatch-list-version"], r1.headers["etag"]
        commit(eng, "feed-a", entries(["5.9.0.10", "45.9.100.8"]), at=later(1))
        r2 = c.get("/blocklist", headers={"If-None-Match": e1})
        assert r2.status_code == 200 and r2.headers["etag"] != e1
        assert read_txt(r2.text) == {"5.9.0.10", "45.9.100.8"}
        d = c.get("/blocklist", params={"since": v1})
        assert d.status_code == 200
        assert [ln for ln in d.text.splitlines() if ln[0] in "+-"] == ["-45.9.100.7", "+45.9.100.8"]
        dj = c.get("/blocklist", params={"since": v1, "format": "json"}).json()
        assert [e["value"] for e in dj["added"]] == ["45.9.100.8"]
        assert [e["value"] for e in dj["removed"]] == ["45.9.100.7"]
        ds = c.get("/blocklist", params={"since": v1, "format": "ipset"}).text
        assert "del minewatch-ip4 45.9.100.7 -exist" in ds and "add minewatch-ip4 45.9.100.8" in ds


def test_default_poll_notices_a_new_version_within_a_second(api: Api) -> None:
    eng = api.db.engine
    commit(eng, "feed-a", entries(["5.9.0.10"]))
    with api.server.client(api.export_key) as c:
        e1 = c.get("/blocklist").headers["etag"]
        commit(eng, "feed-a", entries(["5.9.0.11"]), at=later(1))
        time.sleep(1.1)  # the head is re-read at most once a second
        # the old list keeps being served (at once) while the new one is read in a thread
        deadline = time.monotonic() + 10
        while (r := c.get("/blocklist", headers={"If-None-Match": e1})).status_code == 304:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert r.status_code == 200 and read_txt(r.text) == {"5.9.0.11"}


def test_feeds_endpoints(api: Api) -> None:
    eng = api.db.engine
    v1 = commit(eng, "feed-a", entries(["5.9.0.10", "45.9.100.7"]))
    v2 = commit(eng, "feed-a", entries(["5.9.0.10", "45.9.100.8"]), at=later(1))
    with api.server.client(api.export_key) as c:
        assert c.get("/feeds").status_code == 403
    with api.server.client(api.analyst_key) as c:
        feeds = c.get("/feeds")
        assert feeds.status_code == 200 and any(f["in_index"] for f in feeds.json())
        versions = c.get("/feeds/versions", params={"limit": 1}).json()
        assert [v["id"] for v in versions["items"]] == [v2]
        more = c.get("/feeds/versions", params={"cursor": versions["next_cursor"]}).json()
        assert [v["id"] for v in more["items"]] == [v1]
        d = c.get("/feeds/diff", params={"from": v1, "to": v2}).json()
        assert {(x["op"], x["value"]) for x in d["items"]} == {
            ("-", "45.9.100.7"),
            ("+", "45.9.100.8"),
        }
        assert c.get("/feeds/diff", params={"from": v1, "to": 999}).status_code == 404
        assert c.get("/feeds/diff", params={"from": "x", "to": 1}).status_code == 422
        assert c.get("/feeds/no-such-feed").status_code == 404


def test_fast_path_middleware_answers_only_what_the_route_would(api: Api) -> None:
    from api.routes.blocklist import BlocklistFastPath

    api.server.app.add_middleware(BlocklistFastPath)  # before the first request builds the stack
    commit(api.db.engine, "feed-a", entries(["5.9.0.10", "45.10.1.1:3333"]))
    _prime(api)
    with api.server.client(api.export_key) as c:
        first = c.get("/blocklist", params={"type": "ip"})
        etag = first.headers["etag"]
        inm = {"If-None-Match": etag}
        r = c.get("/blocklist", params={"type": "ip"}, headers=inm)
        assert r.status_code == 304 and r.headers["etag"] == etag and r.content == b""
        assert r.headers["x-minewatch-list-version"] == first.headers["x-minewatch-list-version"]
        # an unchanged list type keeps its ETag across versions; a changed one does not
        ep = c.get("/blocklist", params={"type": "endpoint"}).headers["etag"]
        commit(api.db.engine, "feed-a", entries(["5.9.0.11", "45.10.1.1:3333"]), at=later(1))
        assert c.get("/blocklist", params={"type": "ip"}, headers=inm).status_code == 200
        again = c.get("/blocklist", params={"type": "endpoint"}, headers={"If-None-Match": ep})
        assert again.status_code == 304
        # anything the fast path does not own goes through the route: same answers as before
        assert c.get("/blocklist", params={"format": "pdf"}, headers=inm).status_code == 422
        escaped = c.get("/blocklist?format=%74xt&type=endpoint", headers={"If-None-Match": ep})
        assert escaped.status_code == 304
        before = _count_304(c.get("/metrics").text)
        fast = c.get("/blocklist", params={"type": "endpoint"}, headers={"If-None-Match": ep})
        assert fast.status_code == 304
        assert _count_304(c.get("/metrics").text) == before + 1  # counted like the others
    with api.server.client("wrong-key") as c:
        assert c.get("/blocklist", headers={"If-None-Match": "*"}).status_code == 401
    with api.server.client() as c:
        assert c.get("/blocklist", headers={"If-None-Match": "*"}).status_code == 401


def _count_304(metrics: str) -> float:
    for line in metrics.splitlines():
        head = line.startswith("minewatch_api_requests_total{")
        if head and 'status="304"' in line and 'route="/v1/blocklist"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_an_empty_database_serves_the_builtin_list(tmp_path: Path) -> None:
    from store.apikeys import ApiKeyRow, create_key
    from store.db import connect

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    engine = connect(url)
    ApiKeyRow.metadata.create_all(engine, tables=[ApiKeyRow.__table__])  # type: ignore[list-item]
    _, key = create_key(engine, "admin", "a")
    server = Server(engine, url)
    try:
        with server.client(key) as c:
            r = c.get("/blocklist", params={"type": "domain"})
            assert r.status_code == 200 and "nanopool.org" in read_txt(r.text)
            assert r.headers["x-minewatch-list-version"].startswith("0.")
            assert c.get("/blocklist", params={"type": "ip"}).status_code == 200
            assert c.get("/feeds").status_code == 200
            assert c.get("/feeds/versions").json()["items"] == []
            assert c.get("/feeds/diff", params={"from": 1, "to": 2}).status_code == 404
    finally:
        server.close()
        engine.dispose()
