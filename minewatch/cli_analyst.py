"""Analyst commands of `minewatch feeds`: `check`, `add-manual`, `remove-manual`, `audit`.

Added to the `feeds` group by `minewatch.cli_feeds` (one table there).
"""

from __future__ import annotations

import getpass
import sys

import click

from minewatch.feeds_common import CATEGORIES, FeedsError, db_option, engine_for, table, when


@click.command()
@click.argument("value")
@db_option
@click.option("--blocklist", "blocklists", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="Also check these plain list files (as scan does).")  # fmt: skip
def check(value: str, db_url: str | None, blocklists: tuple[str, ...]) -> None:
    """Why VALUE (IP, IP:port or domain) is listed; exit 0 if listed, 1 if not."""
    from blacklist.allow import check_value
    from blacklist.provider import MatcherProvider
    from minewatch.lists import ListError, file_entries

    try:
        extra, _ = file_entries(blocklists)
    except ListError as exc:
        raise FeedsError(str(exc)) from exc
    with engine_for(db_url) as engine:
        provider = MatcherProvider(engine, extra)
        provider.load()
    try:
        res = check_value(provider.matcher, provider.allow, value)
    except ValueError as exc:
        raise FeedsError(f"not an IP, IP:port or domain: {exc}") from exc
    version = provider.version_id if provider.version_id is not None else "none"
    click.echo(f"{value}: {'LISTED' if res.listed else 'NOT LISTED'} (list version {version})")
    for e in res.matches:
        why = e.raw.strip()[:160]
        click.echo(f"  {e.source}  {e.category}  {e.confidence:.2f}  {e.value}  "
                   + (f"line {e.line}: {why}" if e.line else why))  # fmt: skip
    by = res.suppressed_by
    if by is not None and any(e.category not in ("allowlist", "regulator") for e in res.matches):
        click.echo(f"  suppressed: inside allowlist {by.source} ({by.value}); list-only entries "
                   "there need a second signal (manual and learned entries count)")  # fmt: skip
    elif by is not None:
        click.echo(f"  allowlisted by {by.source} ({by.value})")
    if res.to_verify:
        click.echo("  on the regulator's list: a (subscriber) address to verify, not a pool")
    sys.exit(0 if res.listed else 1)


@click.command("add-manual")
@click.argument("value")
@click.option("--reason", required=True, help="Why (kept with the entry and in the audit).")
@click.option("--by", "who", help="Who (default: the login name).")
@click.option("--category", type=click.Choice(CATEGORIES), default="pool", show_default=True)
@click.option("--confidence", type=click.FloatRange(0, 1), default=0.95, show_default=True)
@db_option
def add_manual_cmd(
    value: str, reason: str, who: str | None, category: str, confidence: float,
    db_url: str | None,
) -> None:  # fmt: skip
    """Add an analyst entry (IP, CIDR, IP:port, domain) to source `manual`."""
    from blacklist.entries import Category
    from blacklist.learned import ManualError, add_manual

    with engine_for(db_url) as engine:
        try:
            ch = add_manual(engine, value, reason=reason, by=who or user(),
                            category=Category(category), confidence=confidence)  # fmt: skip
        except ManualError as exc:
            raise FeedsError(str(exc)) from exc
    click.echo(f"manual {ch.value}: " + (f"version {ch.version_id}" if ch.version_id else
                                         "unchanged"))  # fmt: skip


@click.command("remove-manual")
@click.argument("value")
@click.option("--reason", required=True, help="Why (kept in the audit).")
@click.option("--by", "who", help="Who (default: the login name).")
@db_option
def remove_manual_cmd(value: str, reason: str, who: str | None, db_url: str | None) -> None:
    """Remove an analyst entry from source `manual`."""
    from blacklist.learned import ManualError, remove_manual

    with engine_for(db_url) as engine:
        try:
            ch = remove_manual(engine, value, reason=reason, by=who or user())
        except ManualError as exc:
            raise FeedsError(str(exc)) from exc
    click.echo(f"removed manual {ch.value}: version {ch.version_id}")


@click.command()
@db_option
def audit(db_url: str | None) -> None:
    """Who added or removed manual entries, when and why."""
    from blacklist.learned import manual_audit

    with engine_for(db_url) as engine:
        rows = manual_audit(engine)
    out = [["AT", "ACTION", "VALUE", "CATEGORY", "BY", "VERSION", "REASON"]]
    for r in rows:
        out.append([when(r.at), r.action, r.value, r.category, r.by, str(r.version_id or "-"),
                    r.reason])  # fmt: skip
    table(out)


def user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
