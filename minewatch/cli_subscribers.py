"""`minewatch subscribers …`: import the subscriber registry and RADIUS sessions, look up who held
an address at a time, list registered subscribers.

Exit status: 0 on success; 1 when an import skipped bad lines (the good ones are imported) or a
lookup found nobody; 2 when the file or the database cannot be used (nothing was imported).
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from minewatch.feeds_common import db_option

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from store.attribution import ImportReport

SHOWN_PROBLEMS = 20


@contextmanager
def engine_for(db_url: str | None) -> Iterator[Engine]:
    """The shared command engine; attribution errors become a message and exit status 2."""
    from minewatch.feeds_common import engine_for as common_engine_for
    from store.attribution import AttributionError

    with common_engine_for(db_url, errors=(AttributionError,)) as engine:
        yield engine


def _report(rep: ImportReport) -> None:
    click.echo(rep.line())
    for line, reason in rep.problems[:SHOWN_PROBLEMS]:
        click.echo(f"  line {line}: {reason}")
    if rep.skipped > SHOWN_PROBLEMS:
        click.echo(f"  ... {rep.skipped - SHOWN_PROBLEMS} more problems")
    if rep.skipped:
        sys.exit(1)


_file = click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
_encoding = click.option(
    "--encoding", default="utf-8", show_default=True, help="File encoding (e.g. gb18030)."
)


@click.group()
def subscribers() -> None:
    """Subscriber attribution: registry, RADIUS sessions, lookups."""


@subscribers.command("import-registry")
@_file
@click.option("--replace", is_flag=True, help="Drop every registry row first (same transaction).")
@_encoding
@db_option
def import_registry_cmd(path: Path, replace: bool, encoding: str, db_url: str | None) -> None:
    """Import a registry CSV: network, account, name, sector, region (header row required)."""
    from store.attribution import import_registry

    with engine_for(db_url) as engine:
        rep = import_registry(engine, path, replace=replace, encoding=encoding)
    _report(rep)


SESSION_FORMATS = ("csv", "radius-csv", "radius-detail")  # csv: store.attribution; others:
# store.radius_import.FORMATS (kept literal here so --help needs no import)


@subscribers.command("import-sessions")
@_file
@click.option("--format", "fmt", type=click.Choice(SESSION_FORMATS), default="csv",
              show_default=True, help="csv: one row per session (ip, start, stop, account); "
              "radius-csv: one RADIUS accounting record per row; radius-detail: a FreeRADIUS "
              "detail file. Records are paired into sessions (Start / Interim-Update / Stop, "
              "Accounting-On/Off).")  # fmt: skip
@click.option("--timezone", "tz_name", default="UTC", show_default=True, metavar="ZONE",
              help="Zone of times written without one, or with its abbreviation such as CST "
              "(e.g. Asia/Shanghai).")  # fmt: skip
@_encoding
@db_option
def import_sessions_cmd(
    path: Path, fmt: str, tz_name: str, encoding: str, db_url: str | None
) -> None:
    """Import RADIUS sessions: a CSV of sessions (ip, start, stop, account; empty stop: still
    online), or accounting records paired into sessions (--format)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from store.attribution import import_sessions
    from store.radius_import import import_radius

    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise click.BadParameter(f"unknown time zone {tz_name!r}", param_hint="--timezone") from exc
    with engine_for(db_url) as engine:
        if fmt == "csv":
            rep = import_sessions(engine, path, tz=tz, encoding=encoding)
        else:
            rep = import_radius(engine, path, fmt=fmt, tz=tz, encoding=encoding)
    _report(rep)


@subscribers.command("lookup")
@click.argument("ip")
@click.option("--at", "at", metavar="T", help="ISO 8601 time or unix seconds (default: now).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@db_option
def lookup_cmd(ip: str, at: str | None, as_json: bool, db_url: str | None) -> None:
    """Who held IP at time T: session account, else the longest registry prefix."""
    from store.attribution import Attributor
    from store.attribution_csv import parse_time
    from store.attribution_net import parse_ip

    try:
        parse_ip(ip)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="IP") from exc
    try:
        when = parse_time(at) if at else datetime.now(UTC)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from exc
    with engine_for(db_url) as engine:
        sub = Attributor.load(engine).lookup(ip, when.timestamp())
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if as_json:
        fields = None if sub is None else {f: getattr(sub, f) for f in sub.__slots__}
        click.echo(json.dumps({"ip": ip, "at": stamp, "subscriber": fields}, ensure_ascii=False))
    elif sub is not None:
        click.echo(f"ip       {ip}\nat       {stamp}\naccount  {sub.account}\nname     "
                   f"{sub.name}\nsector   {sub.sector}\nregion   {sub.region}")  # fmt: skip
    else:
        click.echo(f"{ip} at {stamp}: no subscriber")
    if sub is None:
        sys.exit(1)


@subscribers.command("list")
@click.option("--sector", metavar="S", help="Only this sector (any accepted alias).")
@click.option("--region", metavar="R", help="Only this region (exact).")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 1_000_000))
@db_option
def list_cmd(sector: str | None, region: str | None, limit: int, db_url: str | None) -> None:
    """Registered subscribers: network, account, sector, region, name."""
    from store.attribution import SECTORS, list_subscribers, normalize_sector

    if sector is not None and normalize_sector(sector) is None:
        raise click.BadParameter(
            f"unknown sector {sector!r} (known: {', '.join(SECTORS)})", param_hint="--sector"
        )
    with engine_for(db_url) as engine:
        rows = list_subscribers(engine, sector=sector, region=region, limit=limit)
    out = [["NETWORK", "ACCOUNT", "SECTOR", "REGION", "NAME"]]
    out += [[r.network or "-", r.account, r.sector, r.region or "-", r.name] for r in rows]
    _table(out)


def _width(text: str) -> int:
    """Terminal columns: CJK (East Asian wide/full-width) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table(rows: list[list[str]]) -> None:
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        cells = [c + " " * (w - _width(c)) for c, w in zip(r, widths, strict=False)]
        click.echo("  ".join([*cells, r[-1]]))
