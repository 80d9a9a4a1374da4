"""Assemble the block list a scan uses: the built-in curated list, the live list version in the
database (feeds, imports, learned and manual entries; `minewatch feeds`) and `--blocklist` files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from blacklist.builtin import builtin_entries
from blacklist.entries import Category, Entry
from blacklist.matcher import Matcher
from blacklist.parsers import SourceMeta, parse_path

if TYPE_CHECKING:
    from sqlalchemy import Engine

# An operator's own list is trusted more than a public feed, less than protocol evidence.
FILE_CONFIDENCE = 0.8


class ListError(Exception):
    """A block list file cannot be read at all."""


def file_entries(files: Sequence[str | Path] = ()) -> tuple[list[Entry], list[str]]:
    """Entries of plain `--blocklist` files, and the notes to show ("N entries, M problems")."""
    entries: list[Entry] = []
    notes: list[str] = []
    for f in files:
        path = Path(f)
        # the operator's own list may name internal proxies or lab ranges (private, TEST-NET)
        meta = SourceMeta(
            name=f"file:{path.name}",
            category=Category.POOL,
            confidence=FILE_CONFIDENCE,
            public_only=False,
        )
        try:
            result = parse_path(path, "plain", meta)
        except OSError as exc:
            raise ListError(f"cannot read block list {path}: {exc.strerror or exc}") from exc
        entries.extend(result.entries)
        notes.append(f"block list {path}: {result.summary()}")
        for problem in result.problems[:5]:
            notes.append(f"  line {problem.line}: {problem.reason}: {problem.raw!r}")
        if len(result.problems) > 5:
            notes.append(f"  ... {len(result.problems) - 5} more problems")
    return entries, notes


def build_matcher(
    files: Sequence[str | Path] = (), db_url: str | None = None, *, use_db: bool | None = None
) -> tuple[Matcher, list[str]]:
    """Compile the built-in list, the database's live list version and plain list files;
    returns the matcher and notes to show.

    The database is read when `db_url` is given or `use_db` is set (`db_url` None then means
    the default as for `scan`: `$MINEWATCH_DB`, else the default SQLite file); otherwise the
    built-in list and the files only (what tests and library callers get by default). A
    database without list tables, or a SQLite file that does not exist, adds nothing (and is
    not created); one that cannot be read is reported in the notes and the scan goes on with
    the built-in list and the files.
    """
    extra, notes = file_entries(files)
    if use_db is None:
        use_db = db_url is not None
    if not use_db:
        return Matcher([*builtin_entries(), *extra]), notes
    from sqlalchemy.exc import SQLAlchemyError

    from blacklist.provider import MatcherProvider

    try:
        engine = _list_engine(db_url)
        if engine is None:
            return Matcher([*builtin_entries(), *extra]), notes
        try:
            provider = MatcherProvider(engine, extra)
            matcher = provider.load()
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        notes.append(
            f"list database not readable ({type(exc).__name__}): using the built-in list and "
            "--blocklist files only"
        )
        return Matcher([*builtin_entries(), *extra]), notes
    if provider.version_id is not None:
        notes.append(provider.describe())
    return matcher, notes


def _list_engine(db_url: str | None) -> Engine | None:
    """An engine for reading lists, or None when the database holds none (never creates)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from blacklist.versions import has_schema
    from store.db import default_url

    url = make_url(db_url or default_url())
    if url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or not Path(url.database).expanduser().exists()
    ):
        return None
    engine = create_engine(url)
    try:
        if has_schema(engine):
            return engine
    except BaseException:
        engine.dispose()
        raise
    engine.dispose()
    return None
