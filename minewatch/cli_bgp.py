"""`minewatch bgp-feed`: the process ExaBGP runs to announce the block list (RTBH / FlowSpec).

stdout belongs to ExaBGP (one text-API command per line); every log line goes to stderr,
which ExaBGP passes through to its own log.
"""

from __future__ import annotations

import ipaddress
import signal
import sys
from types import FrameType

import click

from minewatch.feeds_common import db_option

NEXT_HOP_HELP = ("Next hop of blackhole routes; give one IPv4 and/or one IPv6 address "
                 "(default 192.0.2.1 and 100::1, which the router routes to a discard "
                 "interface).")  # fmt: skip


def _next_hops(values: tuple[str, ...]) -> tuple[str, str]:
    from pipelines.exporters.rtbh import NEXT_HOP_V4, NEXT_HOP_V6

    found: dict[int, str] = {}
    for v in values:
        try:
            addr = ipaddress.ip_address(v)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--next-hop") from exc
        if addr.version in found:
            raise click.BadParameter(f"two IPv{addr.version} next hops", param_hint="--next-hop")
        found[addr.version] = str(addr)
    return found.get(4, NEXT_HOP_V4), found.get(6, NEXT_HOP_V6)


@click.command("bgp-feed")
@db_option
@click.option("--next-hop", "next_hops", multiple=True, metavar="IP", help=NEXT_HOP_HELP)
@click.option("--community", "communities", multiple=True, metavar="ASN:VALUE",
              help="Community on every blackhole route; repeatable (default 65535:666, "
              "RFC 7999 BLACKHOLE).")  # fmt: skip
@click.option("--flowspec", is_flag=True,
              help="Also announce IP:port entries as FlowSpec discard rules.")  # fmt: skip
@click.option("--interval", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds between checks of the list head.")  # fmt: skip
@click.option("--max-routes", type=click.IntRange(min=0), default=10_000, show_default=True,
              help="Safety stop: never hold more routes than this.")  # fmt: skip
@click.option("--min-prefix-v4", type=click.IntRange(0, 32), default=24, show_default=True,
              help="Safety stop: refuse IPv4 prefixes shorter than this.")  # fmt: skip
@click.option("--min-prefix-v6", type=click.IntRange(0, 128), default=48, show_default=True,
              help="Safety stop: refuse IPv6 prefixes shorter than this.")  # fmt: skip
@click.option(
    "--ack/--no-ack",
    default=True,
    show_default=True,
    help="Wait for ExaBGP's done/error answers (exabgp.api.ack, on by default).",
)
@click.option(
    "--clear/--no-clear",
    default=True,
    show_default=True,
    help="Send 'clear adj-rib out' on start (drops routes of a previous run).",
)
def bgp_feed(
    db_url: str | None, next_hops: tuple[str, ...], communities: tuple[str, ...],
    flowspec: bool, interval: float, max_routes: int, min_prefix_v4: int, min_prefix_v6: int,
    ack: bool, clear: bool,
) -> None:  # fmt: skip
    """Announce the block list to ExaBGP and follow its changes (run by ExaBGP)."""
    from blacklist.provider import MatcherProvider
    from minewatch.feeds_common import engine_for
    from pipelines.exporters.rtbh import BLACKHOLE, Policy, Selection, select_routes
    from pipelines.exporters.rtbh_feed import ExaBGPChannel, Feed, stderr_log

    nh4, nh6 = _next_hops(next_hops)
    try:
        policy = Policy(nh4, nh6, communities or (BLACKHOLE,))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--community") from exc
    with engine_for(db_url) as engine:
        provider = MatcherProvider(engine, builtin=False)  # the built-in list is domains only
        last_error: list[str | None] = [None]

        def select() -> Selection | None:
            fresh = provider.poll()
            if provider.last_error != last_error[0]:
                last_error[0] = provider.last_error
                if provider.last_error:
                    stderr_log(f"warning: list not readable, routes kept: {provider.last_error}")
            if fresh is None:
                return None
            return select_routes(provider.blocklist().kept, flowspec=flowspec, min_v4=min_prefix_v4,
                                 min_v6=min_prefix_v6, max_routes=max_routes)  # fmt: skip

        channel = ExaBGPChannel(sys.stdout, sys.stdin, ack=ack, log=stderr_log)
        feed = Feed(channel, select, policy, interval=interval, clear=clear, log=stderr_log,
                    stop=channel.gone)  # fmt: skip

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            feed.stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        stderr_log(f"bgp-feed: started ({provider.describe()})")
        status = feed.run()
        stderr_log(f"bgp-feed: stopped, {len(feed.state)} routes were held")
    sys.exit(status)


if __name__ == "__main__":  # `python -m minewatch.cli_bgp` until registered in minewatch.cli
    bgp_feed()
