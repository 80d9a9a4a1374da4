"""The one registry of API routers. `create_app` mounts each under `/v1`, in this order.
Adding a resource = one module exposing `router: APIRouter` + one line here."""

from __future__ import annotations

import importlib.util

from fastapi import APIRouter

from api.routes import cases, health, hits, metrics, subscribers, verification

ROUTERS: list[APIRouter] = [
    health.router,
    metrics.router,
    hits.router,
    cases.router,
    verification.router,
    subscribers.router,
]

# H1's block-list and feed routers: listed plainly once they are in the tree
for _name in ("api.routes.blocklist", "api.routes.feeds"):
    if importlib.util.find_spec(_name) is not None:
        ROUTERS.append(importlib.import_module(_name).router)
