"""`GET /metrics`: Prometheus text for the API process, unauthenticated.

Unauthenticated on purpose: scrapers rarely carry bearer keys, and nothing here is subscriber
data — labels are the route *template* (`/v1/cases/{case_id}`, never the id), the method and the
status code, all bounded sets. Each app has its own registry (no global state), filled by
`RequestMetrics`, a plain ASGI middleware (cheaper than BaseHTTPMiddleware on hot paths).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minewatch.metrics import EVENT_OUTCOMES, EVENTS_HELP, QUEUE_HELP, RETRIES_HELP, target_labels
from store.listmodels import HEAD_ID, ListHeadRow

router = APIRouter(tags=["metrics"])
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # set by `serve --workers N` (api.workers)
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ApiMetrics:
    """The per-app registry: request counters and latency, case-event deliveries, DB pool and
    list-version gauges.

    With several worker processes (`serve --workers N`, which sets `PROMETHEUS_MULTIPROC_DIR`)
    counters, histograms and the queue gauge live in prometheus-client's per-process files and a
    scrape sums every worker's, whichever worker answers; the store gauges are read live."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "minewatch_api_requests", "HTTP requests by route template, method and status",
            ["route", "method", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "minewatch_api_request_seconds", "Request latency by route template",
            ["route"], buckets=BUCKETS, registry=self.registry,
        )  # fmt: skip
        # the names, help and labels of `minewatch.metrics.events_probe` (collect, capture),
        # as real metrics: several API workers sum them through their files
        target = ["target", "index"]
        self.events = Counter("minewatch_events", EVENTS_HELP, [*target, "outcome"],
                              registry=self.registry)  # fmt: skip
        self.event_retries = Counter("minewatch_event_retries", RETRIES_HELP, target,
                                     registry=self.registry)  # fmt: skip
        self.event_queue = Gauge("minewatch_event_queue", QUEUE_HELP, target,
                                 registry=self.registry, multiprocess_mode="livesum")  # fmt: skip
        self.store = _StoreCollector(engine)
        self.registry.register(self.store)

    def watch(self, targets: Sequence[object]) -> None:
        """Count the deliveries of the app's event targets (`target_labels`)."""
        for index, target in enumerate(targets):
            named = target_labels(index, target)
            labels = (named["target"], named["index"])
            for outcome in EVENT_OUTCOMES:  # every series present (at 0) before any event
                self.events.labels(*labels, outcome)
            self.event_retries.labels(*labels)
            self.event_queue.labels(*labels).set(0)
            if hasattr(target, "on_count"):
                target.on_count = self._hook(target, labels)

    def _hook(self, target: object, labels: tuple[str, str]) -> Callable[[str, int], None]:
        def on_count(stat: str, n: int) -> None:
            if stat == "retries":
                self.event_retries.labels(*labels).inc(n)
            else:
                self.events.labels(*labels, stat).inc(n)
            self.event_queue.labels(*labels).set(float(getattr(target, "pending", 0)))

        return on_count

    def scrape(self) -> bytes:
        """The Prometheus text: this process's registry, or every worker's files."""
        if not os.environ.get(MULTIPROC_ENV):
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(self.store)
        return generate_latest(registry)


class _StoreCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self.engine.pool
        checked = getattr(pool, "checkedout", None)
        size = getattr(pool, "size", None)
        if callable(checked) and callable(size):
            yield GaugeMetricFamily(
                "minewatch_api_db_connections_in_use", "Pooled DB connections checked out",
                value=float(checked()),
            )  # fmt: skip
            yield GaugeMetricFamily(
                "minewatch_api_db_pool_size", "DB connection pool size", value=float(size())
            )
        try:
            with self.engine.connect() as conn:
                version = conn.execute(
                    select(ListHeadRow.version_id).where(ListHeadRow.id == HEAD_ID)
                ).scalar_one_or_none()
        except SQLAlchemyError:
            version = None
        yield GaugeMetricFamily(
            "minewatch_api_list_version", "Latest block-list version id (-1: none yet)",
            value=float(-1 if version is None else version),
        )  # fmt: skip


class RequestMetrics:
    """Counts every HTTP request by its matched route template (or `unmatched`)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _template(scope)
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)


def _template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")  # a 404/405 has no route in scope: look for a partial match
    for candidate in getattr(getattr(app, "router", None), "routes", ()):
        match, _ = candidate.matches(scope)
        if match is not Match.NONE:
            return str(getattr(candidate, "path", "unmatched"))
    return "unmatched"


@router.get(
    "/metrics",
    summary="Prometheus metrics (unauthenticated; no subscriber data)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    body = await run_in_threadpool(request.app.state.metrics.scrape)
    return Response(body, media_type=CONTENT_TYPE)
