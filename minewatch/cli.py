"""The `minewatch` command line.

Start-up stays cheap (`minewatch --help`, cron runs of `hits` or `cases list`): this module imports
only click. Every command is named in COMMANDS with its short help, and its module is imported
when the command is run or asked for its own --help; the commands import their heavy libraries
(numba kernels, SQLAlchemy, FastAPI, ...) inside their bodies.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from gettext import gettext
from pathlib import Path
from typing import Any, NamedTuple

import click

from minewatch import __version__


class Entry(NamedTuple):
    """Where a subcommand lives and what `minewatch --help` says about it without importing it."""

    target: str  # "module:attribute" of the click command or group
    help: str  # the command's first help sentence (tests/test_cli_startup.py checks they agree)


# The one registry of `minewatch` subcommands (a new command is one entry here).
COMMANDS: dict[str, Entry] = {
    "apikey": Entry(
        "minewatch.cli_serve:apikey",
        "Create, revoke and list API keys (roles: admin, analyst, export).",
    ),
    "bgp-feed": Entry(
        "minewatch.cli_bgp:bgp_feed",
        "Announce the block list to ExaBGP and follow its changes (run by ExaBGP).",
    ),
    "capture": Entry(
        "minewatch.cli_live:capture",
        "Detect mining live on a mirror port (AF_PACKET TPACKET_V3 rings, one per worker).",
    ),
    "cases": Entry(
        "minewatch.cli_cases:cases",
        "Cases per subscriber and pool endpoint: list, show, move through the workflow.",
    ),
    "collect": Entry(
        "minewatch.cli_live:collect",
        "Collect NetFlow v5/v9, IPFIX and sFlow; report mining per subscriber and pool.",
    ),
    "db": Entry("minewatch.cli_cases:db", "Database schema and maintenance."),
    "export": Entry(
        "minewatch.cli_export:export_cmd",
        "Write the current block list to a file; prints the list version and sha256.",
    ),
    "export-scheduler": Entry(
        "minewatch.cli_export:export_scheduler_cmd",
        "Rewrite router files atomically whenever the block-list version changes.",
    ),
    "feeds": Entry(
        "minewatch.cli_feeds:feeds",
        "Block-list feeds: sources, refreshes, versions, checks, analyst entries.",
    ),
    "hits": Entry("minewatch.cli:hits", "List stored hits."),
    "scan": Entry(
        "minewatch.cli:scan",
        "Scan pcap/pcapng files (or directories of them) for mining connections.",
    ),
    "serve": Entry("minewatch.cli_serve:serve", "Run the HTTP API (OpenAPI at /v1/docs)."),
    "subscribers": Entry(
        "minewatch.cli_subscribers:subscribers",
        "Subscriber attribution: registry, RADIUS sessions, lookups.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands come from a registry and are imported on first use; its own
    --help lists them with the registry's short help, importing none."""

    def __init__(self, *args: Any, lazy: Mapping[str, Entry], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None and cmd_name in self.lazy:
            # before the command's imports and set-up (numba, SQLAlchemy, the block list: some
            # 150k long-lived objects): with the default thresholds a scan's start-up spent
            # about 0.4 s in cycle collections that found nothing
            from pipelines.gctune import tune_gc

            tune_gc()
            module, _, attr = self.lazy[cmd_name].target.partition(":")
            cmd = getattr(importlib.import_module(module), attr)
            if not isinstance(cmd, click.Command):
                raise TypeError(f"{self.lazy[cmd_name].target} is not a click command")
            self.add_command(cmd, cmd_name)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, but a command not imported yet is shown by a stand-in carrying its
        registry help, so listing the commands imports none of them."""
        shown = [
            (name, self.commands.get(name) or click.Command(name, help=self.lazy[name].help))
            for name in self.list_commands(ctx)
        ]
        shown = [(name, cmd) for name, cmd in shown if not cmd.hidden]
        if not shown:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in shown)
        with formatter.section(gettext("Commands")):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in shown])


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


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minewatch")
def main() -> None:
    """minewatch: find cryptocurrency-mining connections in carrier networks."""


@click.command()
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
    from minewatch.cli_live import load_matcher
    from minewatch.interrupt import StopOnSignal
    from minewatch.output import HitPrinter, print_summary
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
    # SIGTERM (service stop) unwinds like Ctrl-C: workers stopped, shared memory unlinked; an
    # interrupt dropped inside a finalizer is raised again at the next file or at the end
    stop = StopOnSignal()
    try:
        stats = run_scan(stop.files(files), matcher, printer, None if no_store else db_url,
                         store=not no_store, workers=workers,
                         progress=show_progress)  # fmt: skip
        stop.check()
    except WorkerError as exc:
        printer.close()
        raise click.ClickException(str(exc)) from exc
    printer.close()
    print_summary(stats, sys.stderr if fmt == "jsonl" else sys.stdout)
    for err in stats.errors:
        click.echo(f"error: {err}", err=True)
    if stats.errors:
        sys.exit(2)


@click.command()
@click.option("--db", "db_url", metavar="URL", help="SQLAlchemy URL (default as for scan).")
@click.option("--since", metavar="T", help="Only hits active at or after T (ISO 8601 time or "
              "date, or a relative age like 24h, 7d).")  # fmt: skip
@click.option("--limit", type=click.IntRange(min=1), help="At most this many hits.")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table",
              show_default=True)  # fmt: skip
def hits(db_url: str | None, since: str | None, limit: int | None, fmt: str) -> None:
    """List stored hits."""
    from minewatch.output import HitPrinter
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
