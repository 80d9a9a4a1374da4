"""The role matrix, endpoint by endpoint, generated from the route registry.

Every operation the app publishes must come from `api.routes.ROUTERS` and either declare its
role with `api.auth.require` or be one of the few public probes — so a new route cannot escape
this matrix. Each is then called with no key, a garbage key, a revoked key, and each role's
key (Bearer, and Basic where the route allows it), against a live server on both backends.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from api.app import PREFIX
from api.auth import RANK, Role
from api.routes import ROUTERS
from tests.api.conftest import Live

PUBLIC = {("GET", "/v1/healthz"), ("GET", "/v1/readyz"), ("GET", "/v1/metrics")}
Op = tuple[str, str, Role | None, bool]  # method, path template, role, basic allowed


def _declared(route: APIRoute) -> tuple[Role | None, bool]:
    """The role a route's dependencies require (walking nested dependencies)."""
    found: list[tuple[Role, bool]] = []
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        role = getattr(dep.call, "minewatch_role", None)
        if role is not None:
            found.append((role, dep.call.minewatch_basic))  # type: ignore[union-attr]
        stack.extend(dep.dependencies)
    assert len(found) <= 1 or len(set(found)) == 1, f"{route.path}: several roles {found}"
    return found[0] if found else (None, False)


def operations() -> list[Op]:
    ops: list[Op] = []
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute), f"unexpected route type {route!r}"
            role, basic = _declared(route)
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                ops.append((method, PREFIX + route.path, role, basic))
    return ops


def test_every_route_is_in_the_matrix(live: Live) -> None:
    """What the app serves is exactly the registry, and every route has a role or is public."""
    schema = httpx.get(f"{live.url}{PREFIX}/openapi.json").json()
    published = {(m.upper(), p) for p, item in schema["paths"].items() for m in item}
    ops = operations()
    assert published == {(m, p) for m, p, _, _ in ops}
    for method, path, role, _ in ops:
        assert role is not None or (method, path) in PUBLIC, f"{method} {path} has no role"
    for method, path in PUBLIC:
        assert (method, path) in published


def _fill(path: str, live: Live) -> str:
    values = {"case_id": str(live.extra["case_id"]), "ip": "10.1.0.5"}
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path.replace("{", "").replace("}", "")  # other routers' params: any text


def _body(method: str, path: str) -> dict[str, Any]:
    if method == "PATCH":  # new → cleared is not a workflow move: 409 proves auth passed
        return {"json": {"status": "cleared", "note": "matrix"}}
    if method in ("POST", "PUT"):
        return {"json": {"ips": ["10.1.0.5"]}}
    return {}


def _headers(who: str, scheme: str, live: Live) -> dict[str, str]:
    if who == "none":
        return {}
    token = "mw_" + "x" * 43 if who == "garbage" else live.keys[who]
    if scheme == "basic":
        return {"Authorization": "Basic " + base64.b64encode(f"router:{token}".encode()).decode()}
    return {"Authorization": f"Bearer {token}"}


def _expected(role: Role | None, basic: bool, who: str, scheme: str) -> str:
    if role is None:
        return "allowed"
    if who in ("none", "garbage", "revoked") or (scheme == "basic" and not basic):
        return "401"
    return "allowed" if RANK[Role(who)] >= RANK[role] else "403"


CALLERS = [(w, s) for w in ("none", "garbage", "revoked", "export", "analyst", "admin")
           for s in ("bearer", "basic")]  # fmt: skip


def _matrix() -> Iterator[tuple[Op, str, str]]:
    for op in operations():
        for who, scheme in CALLERS:
            yield op, who, scheme


@pytest.fixture(scope="module")
def case_id(live: Live) -> int:
    with live.client("analyst") as c:
        live.extra["case_id"] = c.get("/v1/cases", params={"limit": 1}).json()["items"][0]["id"]
    return int(live.extra["case_id"])


def test_role_matrix(live: Live, case_id: int) -> None:
    failures = []
    checked = 0
    with httpx.Client(base_url=live.url, timeout=10) as client:
        for (method, path, role, basic), who, scheme in _matrix():
            url = _fill(path, live)
            r = client.request(
                method, url, headers=_headers(who, scheme, live), **_body(method, path)
            )
            want = _expected(role, basic, who, scheme)
            ok = (
                r.status_code < 500 and r.status_code not in (401, 403)
                if want == "allowed"
                else r.status_code == int(want)
            )
            if want == "401" and ok:
                ok = "WWW-Authenticate" in r.headers and r.json()["error"] == "unauthorized"
                ok = ok and ("Basic" in r.headers["WWW-Authenticate"]) == basic
            if want == "403" and ok:
                ok = r.json()["error"] == "forbidden"
            if want != "allowed" and ok:  # a refusal carries no data
                ok = set(r.json()) <= {"error", "detail"}
            checked += 1
            if not ok:
                failures.append(f"{method} {url} as {who}/{scheme}: {r.status_code}, want {want}")
    assert not failures, "\n".join(failures)
    assert checked == len(operations()) * len(CALLERS)


def test_own_routes_succeed_for_their_role(live: Live, case_id: int) -> None:
    """Beyond 'not refused': the routes of this service answer 200 to the lowest allowed role."""
    own = {"/v1/hits", "/v1/cases", "/v1/cases/{case_id}", "/v1/verification-list",
           "/v1/verification-list/check", "/v1/subscribers/{ip}", "/v1/healthz", "/v1/readyz",
           "/v1/metrics"}  # fmt: skip
    seen = set()
    for method, path, role, _ in operations():
        if path not in own or method == "PATCH":
            continue
        seen.add(path)
        headers = _headers(role.value, "bearer", live) if role else {}
        r = httpx.request(method, live.url + _fill(path, live), headers=headers,
                          timeout=10, **_body(method, path))  # fmt: skip
        assert r.status_code == 200, (method, path, r.status_code, r.text[:200])
    assert seen == own - {"/v1/cases/{case_id}"} | {"/v1/cases/{case_id}"}
