"""Where hits go: the printer(s) the command chose, plus the store (hits and the cases they grow,
attributed to subscribers), plus the learned list, plus event targets for opened cases."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from detector.engine import Sink
from detector.hits import FlowHit
from detector.memory import OnLearn

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from api.config import Settings
    from pipelines.exporters.base import EventTarget
    from store.casebuild import CaseBuilder, CaseEvent

RELOAD_EVERY = 60.0  # seconds between checks for a new subscriber registry or sessions


@dataclass(slots=True)
class HitSinks:
    sink: Sink  # every output, then the store
    commit: Callable[[], None]  # write the store's buffered hits now (long-running commands)
    on_learn: OnLearn | None  # persist pool addresses learned on the wire (None without a store)
    targets: list[EventTarget] = field(default_factory=list)  # for their delivery metrics


def _nothing() -> None:
    """No store: nothing to commit."""


def case_builder(
    engine: Engine, settings: Settings, stack: ExitStack
) -> tuple[CaseBuilder, Callable[[], None]]:
    """Cases attributed with the stored registry/sessions and the settings' internal networks,
    pool endpoints enriched with the settings' GeoIP databases ($MINEWATCH_CONFIG and
    MINEWATCH_* variables, as for `serve`); and a refresh that re-reads the registry when it
    changed (at most once a minute)."""
    from store.attribution import Attributor
    from store.casebuild import CaseBuilder
    from store.enrich import GeoEnricher

    attributor = Attributor.load(engine, settings.internal_networks)
    geo = GeoEnricher(Path(settings.geoip_country) if settings.geoip_country else None,
                      Path(settings.geoip_asn) if settings.geoip_asn else None)  # fmt: skip
    stack.callback(geo.close)
    last = [time.monotonic()]

    def refresh() -> None:
        if time.monotonic() - last[0] >= RELOAD_EVERY:
            last[0] = time.monotonic()
            attributor.reload()

    return CaseBuilder(attributor, geo if geo.enabled else None), refresh


def event_sender(targets: list[EventTarget]) -> Callable[[list[CaseEvent]], None] | None:
    """Send case events to every target; None without any."""
    from pipelines.exporters.events import Event

    if not targets:
        return None

    def send(events: list[CaseEvent]) -> None:
        now = datetime.now(UTC)
        batch = [Event(kind, now, data) for kind, data in events]
        for t in targets:
            t.send(batch)

    return send


@contextmanager
def hit_sinks(outputs: list[Sink], db_url: str | None, *, store: bool) -> Iterator[HitSinks]:
    """One sink for `outputs` and, with `store`, the database (hits written in batches with their
    cases, learned pool addresses kept as the `learned` list source); flushed on exit."""
    with ExitStack() as stack:
        sinks = list(outputs)
        on_learn: OnLearn | None = None
        commit: Callable[[], None] = _nothing
        targets: list[EventTarget] = []
        if store:
            from blacklist.learned import Learner
            from minewatch.cli_serve import settings_from
            from pipelines.exporters.base import open_targets
            from store.db import HitWriter, connect

            settings = settings_from(None)  # $MINEWATCH_CONFIG and MINEWATCH_* as for serve
            db = connect(db_url)
            try:
                cases, refresh = case_builder(db, settings, stack)
                targets = open_targets(settings.event_targets, settings.webhook_secret or None,
                                       stack)  # fmt: skip
            except (ValueError, OSError) as exc:  # a missing mmdb file, an unknown URL scheme
                raise click.UsageError(f"settings: {exc}") from exc
            writer = stack.enter_context(
                HitWriter(db, cases=cases, on_events=event_sender(targets))
            )
            sinks.append(writer)
            learner = stack.enter_context(Learner(db, public_only=False))

            def commit() -> None:
                refresh()
                writer.flush()

            def on_learn(addr: str, why: str) -> None:
                learner.learn(addr, why)

        def sink(hit: FlowHit) -> None:
            for s in sinks:
                s(hit)

        yield HitSinks(sink, commit, on_learn, targets)
