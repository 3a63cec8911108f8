"""/metrics: the counters of scrobblerd.metrics and the provider's gauges, through prometheus-client.

A custom collector reads both at scrape time, so lower layers never import prometheus-client and
an idle daemon does no metrics work between scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from scrobblerd import metrics
from scrobblerd.web.provider import Gauges

PREFIX = "scrobblerd_"
QUEUE_STATES = ("pending", "inflight", "failed")
COUNTERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (metrics.SCROBBLES, "Scrobbles Trakt answered, by action and result", ("action", "result")),
    (metrics.TRAKT_REQUESTS, "HTTP requests to Trakt, by endpoint and status", ("endpoint", "status")),
    (metrics.IDENTIFY, "Identifications, by source and result", ("source", "result")),
)


class ScrobblerdCollector(Collector):
    def __init__(self, gauges: Callable[[], Gauges], registry: metrics.Registry = metrics.REGISTRY) -> None:
        self._gauges = gauges
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self._counters()
        yield self._latency()
        yield from self._gauge_families(self._gauges())

    def _counters(self) -> Iterator[Metric]:
        for name, text, labels in COUNTERS:
            # prometheus-client adds the _total suffix itself.
            family = CounterMetricFamily(PREFIX + name.removesuffix("_total"), text, labels=labels)
            for key, value in sorted(self._registry.counters(name).items()):
                got = dict(key)
                family.add_metric([got.get(label, "") for label in labels], value)
            yield family

    def _latency(self) -> Metric:
        name = PREFIX + metrics.DELIVERY_LATENCY
        text = "Seconds from a player's event to Trakt's answer"
        family = HistogramMetricFamily(name, text)
        found = self._registry.histogram(metrics.DELIVERY_LATENCY)
        bounds = metrics.LATENCY_BUCKETS if found is None else found.bounds
        counts = [0] * (len(bounds) + 1) if found is None else found.counts
        cumulative, running = [], 0
        labels = [_go_float(b) for b in bounds] + ["+Inf"]
        for bound, count in zip(labels, counts, strict=True):
            running += count
            cumulative.append((bound, float(running)))
        family.add_metric([], cumulative, sum_value=found.total if found else 0.0)
        return family

    def _gauge_families(self, g: Gauges) -> Iterator[Metric]:
        depth = GaugeMetricFamily(PREFIX + "queue_depth", "Queued deliveries by state", labels=["state"])
        for state in QUEUE_STATES:
            depth.add_metric([state], float(g.queue.get(state, 0)))
        yield depth
        yield GaugeMetricFamily(
            PREFIX + "queue_oldest_age_seconds",
            "Seconds the oldest waiting delivery has waited",
            value=g.queue_oldest_age,
        )
        connected = GaugeMetricFamily(
            PREFIX + "player_connected",
            "1 when the player instance is connected",
            labels=["player", "instance"],
        )
        for (player, instance), on in sorted(g.players.items()):
            connected.add_metric([player, instance], 1.0 if on else 0.0)
        yield connected
        expiry = GaugeMetricFamily(
            PREFIX + "token_expiry_seconds", "Seconds until the Trakt access token expires (absent: no token)"
        )
        if g.token_expiry is not None:
            expiry.add_metric([], g.token_expiry)
        yield expiry


def _go_float(value: float) -> str:
    """A bucket bound as Prometheus writes it (2 -> "2.0")."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def render(gauges: Callable[[], Gauges]) -> bytes:
    from prometheus_client.exposition import generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(ScrobblerdCollector(gauges))
    return generate_latest(registry)


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
