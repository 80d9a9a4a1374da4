"""`minewatch feeds …`: block-list sources, refreshes, versions (analyst commands: `cli_analyst`).

Exit status: 0 on success; `check` exits 1 when the value is not listed; 2 on errors (bad
arguments, unreadable index or database, unknown version) and for `update` / `import` when a
source failed and its last good version was kept.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from minewatch import cli_analyst
from minewatch.feeds_common import (
    CATEGORIES,
    FeedsError,
    db_option,
    engine_for,
    index_option,
    table,
    when,
)

if TYPE_CHECKING:
    from blacklist.health import FeedHealth, RefreshReport
    from blacklist.sources import SourceIndex


def _index(path: Path | None) -> SourceIndex:
    from blacklist.sources import SourceError, load_index

    try:
        return load_index(path)
    except SourceError as exc:
        raise FeedsError("source index not usable:\n  " + "\n  ".join(exc.problems)) from exc


def _health_row(
    name: str, category: str, state: str, h: FeedHealth | None, refresh: int | None,
    now: datetime,
) -> list[str]:  # fmt: skip
    if h is None:
        return [name, category, state, "-", "-", "0", "never fetched"]
    return [name, category, state, when(h.last_success), when(h.last_attempt), str(h.entries),
            h.health(refresh, now)]  # fmt: skip


def _report(rep: RefreshReport) -> None:
    click.echo(rep.line())
    for p in rep.first_problems:
        click.echo(f"  line {p.line}: {p.code}: {p.reason[:100]}: {p.raw[:80]!r}")
    if rep.problems > len(rep.first_problems):
        click.echo(f"  ... {rep.problems - len(rep.first_problems)} more problems")


@click.group()
def feeds() -> None:
    """Block-list feeds: sources, refreshes, versions, checks, analyst entries."""


@feeds.command("list")
@db_option
@index_option
def list_cmd(db_url: str | None, index_path: Path | None) -> None:
    """Show each source with its category, state, last success/attempt, entries and health."""
    from blacklist.health import feed_health

    index = _index(index_path)
    with engine_for(db_url) as engine:
        health = {h.name: h for h in feed_health(engine)}
    now = datetime.now(UTC)
    rows = [["NAME", "CATEGORY", "ENABLED", "LAST-SUCCESS", "LAST-ATTEMPT", "ENTRIES", "HEALTH"]]
    for src in index:
        state = "yes" if src.enabled else "no"
        h = health.pop(src.name, None)
        rows.append(_health_row(src.name, str(src.category), state, h, src.refresh, now))
    for h in health.values():  # imports, learned, manual: not in the index
        rows.append(_health_row(h.name, h.category, h.origin, h, None, now))
    table(rows)


@feeds.command()
@click.argument("name", required=False)
@db_option
@index_option
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Download cache (default: $MINEWATCH_CACHE, else ~/.cache/minewatch/feeds).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds per HTTP request.",
)
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True)
@click.option(
    "--min-fraction",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Keep the last good version when a feed shrinks below this fraction.",
)
@click.option("--force", is_flag=True, help="Accept a shrunken feed.")  # fmt: skip
def update(
    name: str | None, db_url: str | None, index_path: Path | None, cache_dir: Path | None,
    timeout: float, retries: int, min_fraction: float, force: bool,
) -> None:  # fmt: skip
    """Refresh all enabled sources (or NAME); print "N entries, M problems" and the version."""
    from blacklist.fetch import Fetcher, FetchPolicy
    from blacklist.service import FeedService
    from blacklist.versions import head_version

    index = _index(index_path)
    policy = FetchPolicy(timeout=timeout, retries=retries, total=max(120.0, 4 * timeout))
    with engine_for(db_url) as engine, Fetcher(cache_dir or _cache(), policy=policy) as fetcher:
        before = head_version(engine)
        service = FeedService(engine, fetcher, min_fraction=min_fraction)
        try:
            reports = service.update(index, name, force=force)
        except KeyError as exc:
            raise FeedsError(str(exc.args[0])) from exc
        after = head_version(engine)
    for rep in reports:
        _report(rep)
    click.echo(f"list version {after}" if after != before else "list unchanged")
    if any(not r.ok for r in reports):
        sys.exit(2)


@feeds.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", required=True, help="A registered parser name.")
@click.option("--source", "name", required=True, help="Source name (created if new).")
@click.option("--category", type=click.Choice(CATEGORIES), default="pool", show_default=True)
@click.option("--confidence", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option(
    "--allow-private",
    is_flag=True,
    help="Accept private/documentation address space (lab or internal lists).",
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Parser option (csv/json settings); repeatable.",
)
@click.option("--force", is_flag=True, help="Accept a shrunken file.")
@db_option  # fmt: skip
def import_cmd(
    file: Path, fmt: str, name: str, category: str, confidence: float, allow_private: bool,
    options: tuple[str, ...], force: bool, db_url: str | None,
) -> None:  # fmt: skip
    """Read a local FILE in a registered format into a source."""
    from blacklist.entries import Category
    from blacklist.parsers import PARSERS
    from blacklist.service import FeedService
    from blacklist.sources import check_name

    if fmt not in PARSERS:
        raise FeedsError(f"unknown format {fmt!r} (registered: {', '.join(sorted(PARSERS))})")
    try:
        check_name(name)
    except ValueError as exc:
        raise FeedsError(str(exc)) from exc
    bad = [o for o in options if "=" not in o]
    if bad:
        raise FeedsError(f"--option needs KEY=VALUE: {bad[0]!r}")
    opts = {k: v for k, _, v in (o.partition("=") for o in options)}
    with engine_for(db_url) as engine:
        rep = FeedService(engine).import_file(
            file, fmt=fmt, name=name, category=Category(category), confidence=confidence,
            public_only=not allow_private, force=force, options=opts,
        )  # fmt: skip
    _report(rep)
    if not rep.ok:
        sys.exit(2)


@feeds.command()
@db_option
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
def versions(db_url: str | None, limit: int) -> None:
    """List list versions, newest first."""
    from blacklist.history import list_versions

    with engine_for(db_url) as engine:
        rows = list_versions(engine, limit)
    out = [["ID", "CREATED", "ENTRIES", "ADDED", "REMOVED", "SOURCES", "NOTE"]]
    for v in rows:
        out.append([str(v.id), when(v.created), str(v.entries), f"+{v.added}", f"-{v.removed}",
                    str(len(v.sources)), v.note])  # fmt: skip
    table(out)


@feeds.command()
@click.argument("v1", type=int)
@click.argument("v2", type=int)
@db_option
def diff(v1: int, v2: int, db_url: str | None) -> None:
    """Entries added (+), removed (-) and changed (~) from version V1 to V2."""
    from blacklist.history import VersionError
    from blacklist.history import diff as version_diff

    with engine_for(db_url) as engine:
        try:
            changes = version_diff(engine, v1, v2)
        except VersionError as exc:
            raise FeedsError(str(exc)) from exc
    for c in changes:
        click.echo(f"{c.op} {c.value}  {c.kind}  {c.source}  {c.category}  {c.confidence:.2f}")
    n = {op: sum(c.op == op for c in changes) for op in "+-~"}
    click.echo(f"{n['+']} added, {n['-']} removed, {n['~']} changed", err=True)


def _cache() -> Path:
    if os.environ.get("MINEWATCH_CACHE"):
        return Path(os.environ["MINEWATCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minewatch" / "feeds"


for command in (
    cli_analyst.check,
    cli_analyst.add_manual_cmd,
    cli_analyst.remove_manual_cmd,
    cli_analyst.audit,
):  # fmt: skip  (the analyst commands, one table)
    feeds.add_command(command)
