"""`minewatch cases …` (analysts: list, show, move, check the regulator's list) and
`minewatch db …` (schema revision, upgrade, maintenance: auto-clear and hit retention)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TextIO

import click

from minewatch.feeds_common import FeedsError, db_option, engine_for, table, when

if TYPE_CHECKING:
    from store.cases import CaseView

STATUSES = ["new", "verifying", "confirmed", "false-positive", "notified", "blocked", "cleared"]


@click.group()
def cases() -> None:
    """Cases per subscriber and pool endpoint: list, show, move through the workflow."""


@cases.command("list")
@db_option
@click.option("--status", type=click.Choice(STATUSES), multiple=True, help="Repeatable.")
@click.option("--sector", help="Subscriber sector (school, government, ...).")
@click.option("--region", help="Subscriber region.")
@click.option("--since", metavar="T", help="Active at or after T (ISO 8601, or an age: 7d).")
@click.option("--min-confidence", type=click.FloatRange(0, 1))
@click.option("--repeat", is_flag=True, help="Only repeat offenders (reopened after clearance).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table",
              show_default=True)  # fmt: skip
def list_cmd(
    db_url: str | None, status: tuple[str, ...], sector: str | None, region: str | None,
    since: str | None, min_confidence: float | None, repeat: bool, limit: int, fmt: str,
) -> None:  # fmt: skip
    """Cases matching every given filter, oldest first."""
    from minewatch.cli import parse_since
    from store.cases import list_cases

    try:
        since_dt = parse_since(since) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    with engine_for(db_url) as engine:
        found = list_cases(engine, status=list(status) or None, sector=sector, region=region,
                           since=since_dt, min_confidence=min_confidence, repeat=repeat,
                           limit=limit)  # fmt: skip
    if fmt == "jsonl":
        for c in found:
            click.echo(json.dumps(_jsonable(c), ensure_ascii=False))
        return
    rows = [["ID", "STATUS", "SUBSCRIBER", "ACCOUNT", "SECTOR", "POOL", "VARIANT", "HITS",
             "LAST SEEN", "CONF", "OFFENCES"]]  # fmt: skip
    for c in found:
        rows.append([str(c.id), c.status, c.subscriber_ip, c.account or "-", c.sector or "-",
                     _pool(c), c.variant or "-", str(c.hits),
                     when(c.last_seen), f"{c.confidence:.2f}", str(c.offences)])  # fmt: skip
    table(rows)


@cases.command()
@click.argument("case_id", type=int)
@db_option
def show(case_id: int, db_url: str | None) -> None:
    """One case with its evidence and audit trail (JSON)."""
    from store.cases import case_audit, get_case

    with engine_for(db_url) as engine:
        case = get_case(engine, case_id)
        if case is None:
            raise FeedsError(f"no case {case_id}")
        audit = case_audit(engine, case_id)
    out = _jsonable(case)
    out["audit"] = [{"at": a.at.isoformat(), "actor": a.actor, "action": a.action,
                     "from": a.from_status, "to": a.to_status, "note": a.note}
                    for a in audit]  # fmt: skip
    click.echo(json.dumps(out, ensure_ascii=False, indent=2))


@cases.command()
@click.argument("case_id", type=int)
@click.argument("status", type=click.Choice(STATUSES))
@click.option("--note", default="", help="Why (kept in the audit trail).")
@click.option("--by", "who", help="Who (default: the login name).")
@db_option
def move(case_id: int, status: str, note: str, who: str | None, db_url: str | None) -> None:
    """Move a case one workflow step (new → verifying → confirmed|false-positive → …)."""
    from minewatch.cli_analyst import user
    from store.cases import transition
    from store.workflow import WorkflowError

    with engine_for(db_url) as engine:
        try:
            case = transition(engine, case_id, status, actor=who or user(), note=note)
        except (WorkflowError, LookupError) as exc:
            raise FeedsError(str(exc).strip("'\"")) from exc
    click.echo(f"case {case.id}: {case.status}")


@cases.command()
@click.argument("file", type=click.File("r", encoding="utf-8-sig"), default="-")
@db_option
def check(file: TextIO, db_url: str | None) -> None:
    """Verdict per IP of a regulator-pushed list (one IP per line; `#` comments; - = stdin)."""
    from store.cases import check_ips

    ips = [ln.split("#", 1)[0].strip() for ln in file]
    ips = [ip for ip in ips if ip]
    with engine_for(db_url) as engine:
        verdicts = check_ips(engine, ips)
    rows = [["IP", "VERDICT", "CASES", "STATUSES"]]
    for v in verdicts:
        rows.append([v.ip, v.verdict, ",".join(str(c.id) for c in v.cases) or "-",
                     ",".join(sorted({c.status for c in v.cases})) or v.reason or "-"])  # fmt: skip
    table(rows)


@click.group()
def db() -> None:
    """Database schema and maintenance."""


@db.command()
@db_option
def upgrade(db_url: str | None) -> None:
    """Apply pending migrations (every command also does this on connect)."""
    from store import schema

    with engine_for(db_url) as engine:
        click.echo(f"schema at revision {schema.migrate(engine, force=True)}")


@db.command()
@db_option
@click.option("--retention-days", type=click.FloatRange(min=0, min_open=True),
              help="Delete raw hits that ended longer ago (default: the settings' "
              "retention_days, 90).")  # fmt: skip
@click.option("--clear-after-days", type=click.FloatRange(min=0, min_open=True),
              help="Clear notified/blocked cases without activity for this long (default: the "
              "settings' clear_after_days, 30).")  # fmt: skip
def maintain(
    db_url: str | None, retention_days: float | None, clear_after_days: float | None
) -> None:
    """Auto-clear quiet cases and apply hit retention (run daily, e.g. from a systemd timer)."""
    from minewatch.cli_serve import settings_from
    from store.cases import clear_stale, purge_hits

    settings = settings_from(None)  # $MINEWATCH_CONFIG and MINEWATCH_* as for serve
    keep = retention_days if retention_days is not None else settings.retention_days
    quiet = clear_after_days if clear_after_days is not None else settings.clear_after_days
    with engine_for(db_url or settings.db_url or None) as engine:
        cleared = clear_stale(engine, quiet)
        purged = purge_hits(engine, keep)
    click.echo(f"cleared {cleared} cases quiet for {quiet:g} days; "
               f"deleted {purged} hits older than {keep:g} days")  # fmt: skip


def _pool(c: CaseView) -> str:
    """The pool endpoint, or the name a DNS-name case looked up."""
    if c.pool_domain:
        return f"{c.pool_domain} (dns)"
    host = f"[{c.pool_ip}]" if ":" in c.pool_ip else c.pool_ip
    return f"{host}:{c.pool_port}/{c.transport}"


def _jsonable(c: CaseView) -> dict[str, object]:
    from dataclasses import asdict
    from datetime import datetime

    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(c).items()}
