"""Prometheus metrics for the long-running commands (`capture`, `collect`).

The pipeline keeps its counters in plain dataclasses (receiver, decoders, detectors); nothing
in the hot path touches prometheus-client. A `Probe` reads those counters at scrape time and
turns them into samples, so there is one source of truth and no per-packet metric call. Metric
names start with `minewatch_`; labels are bounded sets (listener kind, export version, exporter
from the bounded exporter table, worker number, class) — never a subscriber address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

PREFIX = "minewatch_"


@dataclass(frozen=True, slots=True)
class Sample:
    name: str  # without prefix; counters without the `_total` suffix
    help: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    gauge: bool = False


Probe = Callable[[], Iterable[Sample]]


class ProbeCollector(Collector):
    """Collects samples from every registered probe at scrape time."""

    def __init__(self) -> None:
        self.probes: list[Probe] = []

    def add(self, probe: Probe) -> None:
        self.probes.append(probe)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        label_names: dict[str, list[str]] = {}
        for probe in self.probes:
            for s in probe():
                fam = families.get(s.name)
                if fam is None:
                    names = label_names[s.name] = sorted(s.labels)
                    cls = GaugeMetricFamily if s.gauge else CounterMetricFamily
                    fam = families[s.name] = cls(PREFIX + s.name, s.help, labels=names)
                fam.add_metric([s.labels.get(k, "") for k in label_names[s.name]], s.value)
        yield from families.values()


class Metrics:
    """A registry of probes, optionally served over HTTP (`/metrics`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = ProbeCollector()
        self.registry.register(self.collector)

    def add(self, probe: Probe) -> None:
        self.collector.add(probe)

    def serve(self, host: str, port: int) -> None:
        """Expose the metrics on http://host:port/metrics (a daemon thread)."""
        start_http_server(port, addr=host, registry=self.registry)

    def text(self) -> str:
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()


def parse_hostport(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """`HOST:PORT`, `[v6]:PORT` or `PORT` → (host, port)."""
    host, colon, port = text.rpartition(":")
    if not colon:
        host, port = default_host, text
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: expected HOST:PORT")
    return host.strip("[]") or default_host, int(port)


EVENT_OUTCOMES = ("queued", "sent", "failed", "dropped")
EVENTS_HELP = "Case events by target and outcome (dropped: queue full or closing)"
RETRIES_HELP = "Delivery retries by target"
QUEUE_HELP = "Events queued or being delivered now"


def target_labels(index: int, target: object) -> dict[str, str]:
    """An event target's metric labels: its transport and its position in the settings
    (bounded by the config), never its URL, which may carry credentials."""
    return {"target": str(getattr(target, "name", "events")), "index": str(index)}


def events_probe(targets: Callable[[], Iterable[object]]) -> Probe:
    """Delivery counters of the event targets (webhooks, syslog) that `targets()` returns at
    scrape time: events by outcome, retries, and what is still queued (`target_labels`)."""

    def probe() -> Iterator[Sample]:
        for index, target in enumerate(targets()):
            stats = getattr(target, "stats", None)
            if not isinstance(stats, dict):
                continue
            labels = target_labels(index, target)
            for outcome in EVENT_OUTCOMES:
                value = float(stats.get(outcome, 0))
                yield Sample("events", EVENTS_HELP, value, {**labels, "outcome": outcome})
            yield Sample("event_retries", RETRIES_HELP, float(stats.get("retries", 0)), labels)
            yield Sample("event_queue", QUEUE_HELP, float(getattr(target, "pending", 0)), labels,
                         gauge=True)  # fmt: skip

    return probe
