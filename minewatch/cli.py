"""The `minewatch` command line."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click

from minewatch import __version__
from minewatch.cli_bgp import bgp_feed
from minewatch.cli_cases import cases, db
from minewatch.cli_export import export_cmd, export_scheduler_cmd
from minewatch.cli_feeds import feeds
from minewatch.cli_live import capture, collect, load_matcher
from minewatch.cli_serve import apikey, serve
from minewatch.cli_subscribers import subscribers
from minewatch.output import HitPrinter, print_summary

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz")


def _expand(paths: tuple[str, ...]) -> Iterator[Path]:
    """Files as given; directories walked (sorted) for capture files."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.name.endswith(CAPTURE_SUFFIXES):
                    yield child
        else:
            yield path


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minewatch")
def main() -> None:
    """minewatch: find cryptocurrency-mining connections in carrier networks."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--db", "db_url", metavar="URL", help="SQLAlchemy URL (default: $MINEWATCH_DB or "
              "a SQLite file in ~/.local/share/minewatch).")  # fmt: skip
@click.option("--no-store", is_flag=True, help="Do not write hits to the database.")
@click.option("--blocklist", "blocklists", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE",
              help="Extra plain block list (IP, CIDR, IP:port, domain); repeatable.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table",
              show_default=True)  # fmt: skip
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")  # fmt: skip
@click.option("--workers", type=click.IntRange(min=0), default=1, show_default=True,
              help="Detection processes; 0 = one per CPU, 1 = scan in this process.")  # fmt: skip
def scan(
    paths: tuple[str, ...], db_url: str | None, no_store: bool, blocklists: tuple[str, ...],
    fmt: str, progress: bool | None, workers: int,
) -> None:  # fmt: skip
    """Scan pcap/pcapng files (or directories of them) for mining connections."""
    from minewatch.scanrun import run_scan
    from pipelines.parallel import WorkerError, default_workers, prestart

    files = list(_expand(paths))
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        raise click.UsageError(f"no such file: {', '.join(missing)}")
    if not files:
        raise click.UsageError("no capture files found in the given directories")
    if workers == 0:
        workers = default_workers()
    if workers > 1:
        prestart()  # the workers' fork server imports while the block list compiles
    matcher = load_matcher(blocklists, db_url)
    printer = HitPrinter(fmt, sys.stdout)
    show_progress = sys.stderr.isatty() if progress is None else progress
    # SIGTERM (service stop) unwinds like Ctrl-C: workers stopped, shared memory unlinked
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        stats = run_scan(files, matcher, printer, None if no_store else db_url,
                         store=not no_store, workers=workers,
                         progress=show_progress)  # fmt: skip
    except WorkerError as exc:
        printer.close()
        raise click.ClickException(str(exc)) from exc
    printer.close()
    print_summary(stats, sys.stderr if fmt == "jsonl" else sys.stdout)
    for err in stats.errors:
        click.echo(f"error: {err}", err=True)
    if stats.errors:
        sys.exit(2)


@main.command()
@click.option("--db", "db_url", metavar="URL", help="SQLAlchemy URL (default as for scan).")
@click.option("--since", metavar="T", help="Only hits active at or after T (ISO 8601 time or "
              "date, or a relative age like 24h, 7d).")  # fmt: skip
@click.option("--limit", type=click.IntRange(min=1), help="At most this many hits.")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table",
              show_default=True)  # fmt: skip
def hits(db_url: str | None, since: str | None, limit: int | None, fmt: str) -> None:
    """List stored hits."""
    from store.db import connect, iter_hits

    try:
        since_dt = parse_since(since) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    engine = connect(db_url)
    printer = HitPrinter(fmt, sys.stdout)
    for hit in iter_hits(engine, since_dt, limit):
        printer(hit)
    printer.close()


def parse_since(text: str) -> datetime:
    """ISO 8601 (naive means UTC) or a relative age: 30m, 24h, 7d, 2w."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if text[-1:] in units and text[:-1].isdigit():
        return datetime.fromtimestamp(
            datetime.now(UTC).timestamp() - int(text[:-1]) * units[text[-1]], UTC
        )
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        msg = f"not a time: {text!r} (use ISO 8601 like 2024-05-01T12:00Z, or an age like 24h)"
        raise ValueError(msg) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


main.add_command(feeds)
main.add_command(collect)
main.add_command(capture)
main.add_command(cases)
main.add_command(db)
main.add_command(subscribers)
main.add_command(serve)
main.add_command(apikey)
main.add_command(bgp_feed)
main.add_command(export_cmd)
main.add_command(export_scheduler_cmd)
