"""`minewatch export` (one block-list file, now) and `minewatch export-scheduler` (several
files kept current on an interval). Exit status: 0 on success, 2 on bad arguments, an
unusable database or a file that could not be written."""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import click

from minewatch.feeds_common import FeedsError, db_option, engine_for

FORMAT_HELP = "txt, csv, json, edl, ipset, nft, cisco, juniper, mikrotik, rpz, suricata-iprep"


@click.command("export")
@click.option("--format", "fmt", required=True, metavar="F", help=f"One of: {FORMAT_HELP}.")
@click.option("--type", "ltype", default="ip", show_default=True,
              type=click.Choice(["ip", "endpoint", "domain"]))  # fmt: skip
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write atomically (untouched if the content is the same).")  # fmt: skip
@db_option
def export_cmd(fmt: str, ltype: str, out: Path, db_url: str | None) -> None:
    """Write the current block list to a file; prints the list version and sha256."""
    from blacklist.render.cache import RenderCache
    from blacklist.render.snapshot import SnapshotStore
    from pipelines.exporters.files import ExportError, FileJob, export

    try:
        job = FileJob(fmt, ltype, out).check()
    except ExportError as exc:
        raise FeedsError(str(exc)) from exc
    with engine_for(db_url) as engine, tempfile.TemporaryDirectory(prefix="mw-export-") as tmp:
        cache = RenderCache(SnapshotStore(engine, poll=0), Path(tmp))
        try:
            done = export(cache, job)
        except (ExportError, OSError) as exc:
            raise FeedsError(str(exc)) from exc
    click.echo(done.line())
    click.echo(f"version {done.version}")
    click.echo(f"sha256 {done.sha256}")


def _config(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise FeedsError(f"config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise FeedsError(f"config {path}: expected a mapping with `exports:`")
    unknown = set(data) - {"every", "db", "exports"}
    if unknown:
        raise FeedsError(f"config {path}: unknown keys {', '.join(sorted(map(str, unknown)))}")
    return data


@click.command("export-scheduler")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML: `every: 60`, `db: URL`, `exports: [{format, type, out}]`.")  # fmt: skip
@click.option("--every", type=click.FloatRange(min=1), default=None,
              help="Seconds between checks (default 60).")  # fmt: skip
@click.option("--format", "fmts", multiple=True, metavar="F", help="Repeat with --out.")
@click.option("--type", "ltypes", multiple=True, metavar="T",
              help="Once for all files or once per --out (default ip).")  # fmt: skip
@click.option("--out", "outs", multiple=True, type=click.Path(dir_okay=False),
              help="Repeatable; the n-th --out gets the n-th --format/--type.")  # fmt: skip
@click.option("--once", is_flag=True, help="One pass, then exit.")
@db_option
def export_scheduler_cmd(
    config: Path | None, every: float | None, fmts: tuple[str, ...], ltypes: tuple[str, ...],
    outs: tuple[str, ...], once: bool, db_url: str | None,
) -> None:  # fmt: skip
    """Rewrite router files atomically whenever the block-list version changes."""
    from pipelines.exporters.files import ExportError, jobs_from_config
    from pipelines.exporters.scheduler import ExportScheduler

    items: list[Any] = []
    data: dict[str, Any] = {}
    if config is not None:
        data = _config(config)
        items = list(data.get("exports") or [])
    if len(fmts) != len(outs) or len(ltypes) not in (0, 1, len(outs)):
        raise FeedsError("give one --format per --out, and one --type for all or one per --out")
    types = list(ltypes) * len(outs) if len(ltypes) == 1 else list(ltypes) or ["ip"] * len(outs)
    items += [{"format": f, "type": t, "out": o}
              for f, t, o in zip(fmts, types, outs, strict=True)]  # fmt: skip
    if not items:
        raise FeedsError("nothing to export: give --config or --format/--out")
    try:
        jobs = jobs_from_config(items)
    except ExportError as exc:
        raise FeedsError(str(exc)) from exc
    interval = float(every or data.get("every") or 60)
    stop = threading.Event()
    with engine_for(db_url or data.get("db")) as engine, \
            tempfile.TemporaryDirectory(prefix="mw-export-") as tmp:  # fmt: skip
        sched = ExportScheduler(engine, jobs, every=interval, cache_dir=Path(tmp),
                                log=lambda s: click.echo(s, err=s.startswith("error")))  # fmt: skip
        if once:
            report = sched.run_once()
            for w in report.written:
                click.echo(w.line())
            for e in report.errors:
                click.echo(f"error: {e}", err=True)
            if report.errors:
                sys.exit(2)
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: stop.set())
        click.echo(f"export-scheduler: {len(jobs)} files, every {interval:g} s", err=True)
        sched.run(stop)
        click.echo("export-scheduler: stopped", err=True)
