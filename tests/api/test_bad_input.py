"""Bad input gets a clear 4xx in the one error shape — never a 500, never someone else's data."""

from __future__ import annotations

import base64
import string

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.auth import bearer_token
from tests.api.conftest import Live

JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain"}
XML = {"Content-Type": "application/xml"}
CHECK = "/v1/verification-list/check"
SQLISH = ["' OR 1=1 --", "1; DROP TABLE cases", "%' UNION SELECT key_hash FROM api_keys --"]

BAD = [
    ("GET", "/v1/hits", {"params": {"client": "10.1.0.300"}}, 422, "query.client"),
    ("GET", "/v1/hits", {"params": {"server": "::g"}}, 422, "query.server"),
    ("GET", "/v1/hits", {"params": {"limit": 51}}, 422, "maximum page size 50"),
    ("GET", "/v1/hits", {"params": {"limit": 10**30}}, 422, "query.limit"),
    ("GET", "/v1/hits", {"params": {"limit": 0}}, 422, "query.limit"),
    ("GET", "/v1/hits", {"params": {"cursor": -1}}, 422, "query.cursor"),
    ("GET", "/v1/hits", {"params": {"since": "yesterday"}}, 422, "query.since"),
    ("GET", "/v1/hits", {"params": {"class": "bitcoin"}}, 422, "query.class"),
    ("GET", "/v1/cases", {"params": {"status": "done"}}, 422, "query.status"),
    ("GET", "/v1/cases", {"params": {"min_confidence": 7}}, 422, "query.min_confidence"),
    ("GET", "/v1/cases", {"params": {"sector": "x" * 65}}, 422, "query.sector"),
    ("GET", "/v1/cases/abc", {}, 422, "path.case_id"),
    ("GET", "/v1/cases/99999999999999999999999", {}, 422, "path.case_id"),
    ("GET", "/v1/subscribers/1.2.3", {}, 422, "path.ip"),
    ("GET", "/v1/verification-list", {"params": {"format": "xlsx"}}, 422, "query.format"),
    ("PATCH", "/v1/cases/1", {"json": {"status": "deleted"}}, 422, "body.status"),
    ("PATCH", "/v1/cases/1", {"json": {"note": "no status"}}, 422, "body.status"),
    ("PATCH", "/v1/cases/1", {"content": b"{not json", "headers": JSON}, 422, ""),
    ("POST", CHECK, {"content": b"{nope", "headers": JSON}, 400, "not valid JSON"),
    ("POST", CHECK, {"json": {"ips": "10.1.0.5"}}, 422, "body.ips"),
    ("POST", CHECK, {"json": ["10.1.0.5"]}, 422, "body"),
    ("POST", CHECK, {"content": b"\xff\xfe\x00", "headers": TEXT}, 400, "UTF-8"),
    ("POST", CHECK, {"content": b"<ips/>", "headers": XML}, 415, "text/plain"),
    ("POST", CHECK, {"content": b"1.1.1.1\n" * 1000, "headers": TEXT}, 413, "limit"),
    ("POST", CHECK, {"content": b"1.1.1.1\n" * 300, "headers": TEXT}, 413, "at most 200"),
    ("DELETE", "/v1/cases/1", {}, 405, ""),
    ("GET", "/v1/no-such-thing", {}, 404, ""),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "kw", "status", "says"), BAD)
def test_bad_input_is_a_clear_4xx(
    live: Live, method: str, path: str, kw: dict, status: int, says: str
) -> None:
    with live.client("admin") as c:
        r = c.request(method, path, **kw)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) <= {"error", "detail", "fields"} and body["error"] and says in body["detail"]
    assert live.keys["admin"] not in r.text


def test_chunked_upload_over_the_limit_is_refused(live: Live) -> None:
    def chunks():  # no Content-Length: the server must count as it reads
        for _ in range(100):
            yield b"192.0.2.1\n" * 10

    with live.client("analyst") as c:
        r = c.post("/v1/verification-list/check", content=chunks(),
                   headers={"Content-Type": "text/plain"})  # fmt: skip
    assert r.status_code == 413


@pytest.mark.parametrize("text", SQLISH)
def test_sql_like_strings_are_only_data(live: Live, text: str) -> None:
    with live.client("analyst") as c:
        for params in ({"sector": text}, {"region": text}):
            r = c.get("/v1/cases", params=params)
            assert r.status_code == 200 and r.json()["items"] == []
        r = c.post("/v1/verification-list/check", json={"ips": [text]})
        assert r.json()["results"][0]["verdict"] == "invalid"
        assert c.get(f"/v1/subscribers/{text}").status_code in (404, 422)
        assert c.get("/v1/hits", params={"client": text}).status_code == 422
        assert c.get("/v1/cases").json()["items"]  # and the tables are still there


def test_export_key_reads_no_subscriber_data(live: Live) -> None:
    with live.client("export") as c:
        for path in ("/v1/hits", "/v1/cases", "/v1/verification-list", "/v1/subscribers/10.1.0.5"):
            r = c.get(path, params={"limit": 10**6, "format": "bogus"})
            assert r.status_code == 403 and "10.1.0.5" not in r.text, path


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_authorization_header_parser_never_crashes(header: str) -> None:
    for basic in (False, True):
        token = bearer_token(header, basic)
        assert token is None or isinstance(token, str)


@given(st.binary(max_size=60).map(lambda b: "Basic " + base64.b64encode(b).decode()))
@settings(max_examples=100, deadline=None)
def test_basic_credentials_of_any_bytes(header: str) -> None:
    token = bearer_token(header, True)
    assert token is None or ":" not in header or isinstance(token, str)


@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.text(alphabet=string.printable + "：，中", max_size=300).map(str.encode),
        st.lists(st.ip_addresses().map(str), max_size=30).map(lambda ips: "\n".join(ips).encode()),
    ),
    kind=st.sampled_from(["text/plain", "application/json", "text/plain; charset=utf-8"]),
)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_check_body_of_any_bytes(live_sqlite: Live, body: bytes, kind: str) -> None:
    r = httpx.post(f"{live_sqlite.url}/v1/verification-list/check", content=body,
                   headers={"Content-Type": kind,
                            "Authorization": f"Bearer {live_sqlite.keys['analyst']}"},
                   timeout=10)  # fmt: skip
    assert r.status_code in (200, 400, 413, 422), r.text
    if r.status_code == 200:
        out = r.json()
        assert sum(out["counts"].values()) == len(out["results"])
