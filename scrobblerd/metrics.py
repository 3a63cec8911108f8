"""Plain in-process counters that any layer may bump, and the web room exports to Prometheus.

No dependency and nothing at import time beyond a few empty dicts: the Trakt client, the
identifier and the delivery worker call `count`/`observe` here; web/metrics.py reads `snapshot`
at scrape time through a prometheus-client collector. Counters only grow (a restart starts them
over, which Prometheus' rate() understands).
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]

# Seconds from a player's event to Trakt's answer. A live signal waits for the one-second debounce,
# a watch may wait in the queue for hours when Trakt is away: the buckets cover both.
LATENCY_BUCKETS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400)

SCROBBLES = "scrobbles_total"  # action (start|pause|stop|watch), result (ok|conflict|error|...)
TRAKT_REQUESTS = "trakt_requests_total"  # endpoint (a path pattern), status (HTTP status or "error")
IDENTIFY = "identify_total"  # source (player|override|filename|search|none), result (found|unknown|failed)
DELIVERY_LATENCY = "delivery_latency_seconds"


@dataclass
class Histogram:
    """Cumulative-ready bucket counts: counts[i] are observations <= bounds[i] and > bounds[i-1]."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    observations: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.observations += 1


class Registry:
    """Counters by name and label set; one lock, held for a dict update."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, Histogram] = {}

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + amount

    def observe(self, name: str, value: float, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        with self._lock:
            self._histograms.setdefault(name, Histogram(buckets)).observe(max(0.0, value))

    def counters(self, name: str) -> dict[Labels, float]:
        with self._lock:
            return dict(self._counters.get(name, {}))

    def histogram(self, name: str) -> Histogram | None:
        with self._lock:
            found = self._histograms.get(name)
            if found is None:
                return None
            return Histogram(found.bounds, list(found.counts), found.total, found.observations)

    def clear(self) -> None:
        with self._lock:
            self._counters.clear()
            self._histograms.clear()


REGISTRY = Registry()


def count(name: str, amount: float = 1.0, **labels: str) -> None:
    REGISTRY.count(name, amount, **labels)


def observe(name: str, value: float) -> None:
    REGISTRY.observe(name, value)
