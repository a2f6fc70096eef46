"""The router's figures in Prometheus' text format (`/metrics`), with prometheus_client.

Counters and histograms are updated where things happen (the runtime); the figures other objects
already keep (schedule reloads, the WebSocket's reconnects, callers waiting) are read when scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter(
            "callrouter_calls", "Calls ended, by line and outcome", ["line", "outcome"], registry=self.registry
        )
        self.setup = Histogram(
            "callrouter_call_setup_seconds",
            "From StasisStart to the caller's first prompt or the queue requested from Asterisk",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "callrouter_queue_wait_seconds",
            "How long answered callers waited in the queue",
            ["line"],
            buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1200),
            registry=self.registry,
        )
        self.ari_errors = Counter(
            "callrouter_ari_errors",
            "ARI requests that failed for another reason than the caller having hung up",
            ["request"],
            registry=self.registry,
        )

    # The runtime's figures (router.calls.runtime.CallFigures).

    def call_set_up(self, seconds: float) -> None:
        self.setup.observe(seconds)

    def call_ended(self, line: str, outcome: str) -> None:
        self.calls.labels(line, outcome).inc()

    def call_answered(self, line: str, waited_seconds: float) -> None:
        self.queue_wait.labels(line).observe(waited_seconds)

    def request_failed(self, request: str) -> None:
        self.ari_errors.labels(request).inc()

    def read(self, collect: Callable[[], Iterator[Metric]]) -> None:
        """Add figures computed at scrape time."""
        self.registry.register(_Reader(collect))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Reader(Collector):
    def __init__(self, collect: Callable[[], Iterator[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterator[Metric]:
        return self._collect()


def counter(name: str, documentation: str, value: float) -> Metric:
    family = CounterMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


def gauge(name: str, documentation: str, value: float) -> Metric:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


def gauge_by(name: str, documentation: str, label: str, values: Mapping[str, float]) -> Metric:
    return gauge_by_labels(name, documentation, (label,), {(key,): value for key, value in values.items()})


def gauge_by_labels(
    name: str, documentation: str, labels: tuple[str, ...], values: Mapping[tuple[str, ...], float]
) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for key, value in values.items():
        family.add_metric(list(key), value)
    return family
