"""Shared pieces of the `minewatch feeds` commands (`cli_feeds`, `cli_analyst`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from blacklist.entries import Category

if TYPE_CHECKING:
    from sqlalchemy import Engine

F = TypeVar("F", bound=Callable[..., Any])
CATEGORIES = [c.value for c in Category]


class FeedsError(click.ClickException):
    exit_code = 2


def db_option(f: F) -> F:
    return click.option("--db", "db_url", metavar="URL",
                        help="SQLAlchemy URL (default as for scan).")(f)  # fmt: skip


def index_option(f: F) -> F:
    return click.option("--index", "index_path", metavar="FILE",
                        type=click.Path(dir_okay=False, path_type=Path),
                        help="Source index (default: $MINEWATCH_SOURCES, else the shipped "
                        "blacklist/sources.yaml).")(f)  # fmt: skip


@contextmanager
def engine_for(db_url: str | None, *, errors: tuple[type[Exception], ...] = ()) -> Iterator[Engine]:
    """A connected engine (schema migrated, list head present); database errors — and the
    caller's `errors`, e.g. a module's own ValueError — become a message and exit status 2."""
    from sqlalchemy.exc import SQLAlchemyError

    from blacklist.versions import ensure_schema
    from store.db import connect

    try:
        engine = connect(db_url)
        ensure_schema(engine)
    except SQLAlchemyError as exc:
        raise FeedsError(f"database not usable: {type(exc).__name__}: {exc}") from exc
    try:
        yield engine
    except SQLAlchemyError as exc:
        raise FeedsError(f"database error: {type(exc).__name__}: {exc}") from exc
    except errors as exc:
        raise FeedsError(str(exc)) from exc
    finally:
        engine.dispose()


def when(dt: datetime | None) -> str:
    if dt is None:
        return "-"
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC).strftime("%FT%H:%MZ")


def table(rows: list[list[str]]) -> None:
    """Aligned columns; the last one is not padded."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
