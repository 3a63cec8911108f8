"""What the web room needs from the daemon: a small protocol, so the page never imports the
wiring room and tests can serve a fake."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Gauges:
    """The values /metrics reads at scrape time (counters live in scrobblerd.metrics)."""

    queue: dict[str, int] = field(default_factory=dict)  # rows per state: pending, inflight, failed
    queue_oldest_age: float = 0.0  # seconds the oldest waiting watch has waited (0 when none)
    players: dict[tuple[str, str], bool] = field(default_factory=dict)  # (player, instance) -> connected
    token_expiry: float | None = None  # seconds until the access token expires; None without one


class FixError(ValueError):
    """A correction that cannot be applied; the message says why, for the page."""


class Provider(Protocol):
    def status(self) -> dict[str, Any]:
        """The `status --json` object, live."""

    def problems(self) -> list[str]:
        """Why the daemon is unhealthy (a thread that is not running), or nothing."""

    def queue(self) -> list[dict[str, Any]]:
        """The delivery queue, `queue list --json` rows (with `status`)."""

    def history(self, limit: int) -> list[dict[str, Any]]:
        """Recent watches, `history --json` rows plus `source` and `reason` (how each was identified)."""

    def retry(self, row_id: int) -> bool:
        """Make a queued row due now; False when there is no such row (or it is being sent)."""

    def drop(self, row_id: int) -> bool:
        """Remove a queued row for good; False when there is no such row."""

    def fix(self, target: str, trakt: str) -> str:
        """Apply a correction like `identify --fix TARGET TRAKT`; returns what was done. FixError."""

    def gauges(self) -> Gauges:
        """The current values for /metrics."""
