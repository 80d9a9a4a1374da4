"""Where hits go: the printer(s) the command chose, plus the store, plus the learned list."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from detector.engine import Sink
from detector.hits import FlowHit
from detector.memory import OnLearn


@dataclass(slots=True)
class HitSinks:
    sink: Sink  # every output, then the store
    commit: Callable[[], None]  # write the store's buffered hits now (long-running commands)
    on_learn: OnLearn | None  # persist pool addresses learned on the wire (None without a store)


def _nothing() -> None:
    """No store: nothing to commit."""


@contextmanager
def hit_sinks(outputs: list[Sink], db_url: str | None, *, store: bool) -> Iterator[HitSinks]:
    """One sink for `outputs` and, with `store`, the database (hits written in batches, learned
    pool addresses kept as the `learned` list source); everything is flushed on exit."""
    with ExitStack() as stack:
        sinks = list(outputs)
        on_learn: OnLearn | None = None
        commit: Callable[[], None] = _nothing
        if store:
            from blacklist.learned import Learner
            from store.db import HitWriter, connect

            db = connect(db_url)
            writer = stack.enter_context(HitWriter(db))
            sinks.append(writer)
            learner = stack.enter_context(Learner(db, public_only=False))
            commit = writer.flush

            def on_learn(addr: str, why: str) -> None:
                learner.learn(addr, why)

        def sink(hit: FlowHit) -> None:
            for s in sinks:
                s(hit)

        yield HitSinks(sink, commit, on_learn)
