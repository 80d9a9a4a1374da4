"""The one registry of API routers. `create_app` mounts each under `/v1`, in this order.
Adding a resource = one module exposing `router: APIRouter` + one line here."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import blocklist, cases, feeds, health, hits, metrics, subscribers, verification

ROUTERS: list[APIRouter] = [
    health.router,
    metrics.router,
    hits.router,
    cases.router,
    verification.router,
    subscribers.router,
    blocklist.router,
    feeds.router,
]
