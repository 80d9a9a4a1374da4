"""Long-running commands: `minewatch collect` (flow export), `minewatch capture` (mirror port)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from blacklist.matcher import Matcher
    from detector.context import DetectContext

_COMMON = [
    click.option("--blocklist", "blocklists", multiple=True, type=click.Path(dir_okay=False),
                 metavar="FILE", help="Extra plain block list, as for scan; repeatable."),
    click.option("--db", "db_url", metavar="URL", help="SQLAlchemy URL (default as for scan)."),
    click.option("--no-store", is_flag=True, help="Do not write hits to the database."),
    click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="jsonl",
                 show_default=True, help="How hits are printed as they are reported."),
    click.option("--quiet", is_flag=True, help="Do not print hits (store and metrics only)."),
    click.option("--metrics", "metrics_at", metavar="HOST:PORT",
                 help="Serve Prometheus metrics on http://HOST:PORT/metrics."),
]  # fmt: skip


F = TypeVar("F", bound=Callable[..., Any])


def _common(f: F) -> F:
    for opt in reversed(_COMMON):
        f = opt(f)
    return f


def _default_state() -> Path:
    base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "minewatch" / "collector-templates.json"


def load_matcher(blocklists: tuple[str, ...], db_url: str | None) -> Matcher:
    """The compiled list every command detects with (built-in + database + `--blocklist`
    files); a list problem is a usage error, each file's notes go to stderr."""
    from minewatch.lists import ListError, build_matcher

    try:
        matcher, notes = build_matcher(blocklists, db_url, use_db=True)
    except ListError as exc:
        raise click.UsageError(str(exc)) from exc
    for note in notes:
        click.echo(note, err=True)
    return matcher


def _context(blocklists: tuple[str, ...], db_url: str | None) -> DetectContext:
    from blacklist.allow import AllowIndex
    from detector.context import DetectContext

    matcher = load_matcher(blocklists, db_url)
    return DetectContext(matcher, allow=AllowIndex(matcher.entries))


@click.command()
@click.option("--listen", "listens", multiple=True, required=True, metavar="URL",
              help="netflow://HOST:PORT (NetFlow v5/v9 and IPFIX) or sflow://HOST:PORT; "
                   "repeatable.")  # fmt: skip
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Template state file (default ~/.local/share/minewatch/"
                   "collector-templates.json).")  # fmt: skip
@click.option("--flush", "flush_every", type=click.FloatRange(min=0.1), default=60.0,
              show_default=True, help="Seconds between aggregated hit reports.")  # fmt: skip
@_common
def collect(
    listens: tuple[str, ...], state_path: Path | None, flush_every: float,
    blocklists: tuple[str, ...], db_url: str | None, no_store: bool, fmt: str, quiet: bool,
    metrics_at: str | None,
) -> None:  # fmt: skip
    """Collect NetFlow v5/v9, IPFIX and sFlow; report mining per subscriber and pool.

    Runs until SIGTERM or Ctrl-C, then reports what it holds and saves the templates.
    """
    from minewatch.liverun import live_sinks, serve_metrics, stop_on_signals
    from minewatch.metrics import Metrics, events_probe
    from pipelines.collect import Collector
    from pipelines.sources.udp import parse_listen

    try:
        listeners = [parse_listen(u) for u in listens]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from exc
    ctx = _context(blocklists, db_url)
    metrics = Metrics()
    targets: list[object] = []  # the event targets, once the sinks have opened them
    metrics.add(events_probe(lambda: targets))
    stop = stop_on_signals()
    with live_sinks(fmt, db_url, store=not no_store, quiet=quiet) as out:
        targets[:] = out.targets
        ctx.learned.on_learn = ctx.pairs.on_learn = out.on_learn
        try:
            collector = Collector(
                ctx, out.sink, listeners, state_path=state_path or _default_state(),
                flush_every=flush_every, metrics=metrics, after_flush=out.commit,
            )  # fmt: skip
        except OSError as exc:
            raise click.ClickException(f"cannot listen: {exc}") from exc
        try:
            serve_metrics(metrics, metrics_at)
        except (OSError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--metrics") from exc
        for kind, host, port in listeners:
            click.echo(f"collect: listening for {kind} on {host}:{port}", err=True)
        stats = collector.run(stop)
    rs = [r.stats for _, r in collector.receivers]
    click.echo(
        f"collect: {stats.datagrams} datagrams in {stats.batches} batches, "
        f"{collector.records.stats.records + collector.sf_records.stats.records} flow records, "
        f"{collector.sf_stats.packets} sampled packets, kernel drops "
        f"{sum(r.kernel_drops for r in rs)}, hits {dict(sorted(stats.hits.items()))}",
        err=True,
    )
    sys.stdout.flush()


@click.command()
@click.option("--iface", required=True, metavar="IF", help="Mirror (SPAN/TAP) interface.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Capture processes sharing the interface (PACKET_FANOUT by flow hash).",
)
@click.option("--bpf", metavar="FILTER", help="tcpdump filter expression (compiled by libpcap).")
@_common
def capture(
    iface: str, workers: int, bpf: str | None, blocklists: tuple[str, ...], db_url: str | None,
    no_store: bool, fmt: str, quiet: bool, metrics_at: str | None,
) -> None:  # fmt: skip
    """Detect mining live on a mirror port (AF_PACKET TPACKET_V3 rings, one per worker).

    Runs until SIGTERM or Ctrl-C; then every ring is processed, every open flow decided and
    the last hits stored before exit. Needs root (CAP_NET_RAW, CAP_NET_ADMIN).
    """
    from minewatch.liverun import capture_probe, live_sinks, serve_metrics
    from minewatch.metrics import Metrics, events_probe
    from pipelines.capture import run_capture
    from pipelines.capture_stats import CaptureStats
    from pipelines.parallel import WorkerError
    from pipelines.sources.afpacket import RingError
    from pipelines.sources.bpf import FilterError

    matcher = load_matcher(blocklists, db_url)
    metrics = Metrics()
    latest: list[CaptureStats] = []
    metrics.add(capture_probe(latest))
    targets: list[object] = []  # the event targets, once the sinks have opened them
    metrics.add(events_probe(lambda: targets))
    try:
        serve_metrics(metrics, metrics_at)
    except (OSError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--metrics") from exc
    with live_sinks(fmt, db_url, store=not no_store, quiet=quiet) as out:
        targets[:] = out.targets

        def on_stats(stats: CaptureStats) -> None:
            latest[:] = [stats]
            out.commit()  # hits decided on a quiet link reach the store within a second

        try:
            stats = run_capture(
                iface, matcher, out.sink, workers=workers, bpf=bpf, on_learn=out.on_learn,
                on_stats=on_stats,
                on_ready=lambda: click.echo(f"capture: {iface} with {workers} worker(s)", err=True),
            )  # fmt: skip
        except FilterError as exc:
            raise click.BadParameter(str(exc), param_hint="--bpf") from exc
        except (RingError, WorkerError, OSError) as exc:
            raise click.ClickException(str(exc)) from exc
    ring = stats.ring_totals()
    s = stats.summary
    click.echo(
        f"capture: {s.packets} packets, {s.flows} flows, {s.hits} hits "
        f"{dict(sorted(s.by_class.items()))} in {stats.seconds:.1f} s; kernel packets "
        f"{ring.kernel_packets}, kernel drops {ring.kernel_drops}",
        err=True,
    )
    for err in stats.errors:
        click.echo(f"error: {err}", err=True)
    if stats.errors:
        sys.exit(2)


__all__ = ["capture", "collect"]
