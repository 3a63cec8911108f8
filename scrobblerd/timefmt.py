"""Time as text, one way everywhere: UTC ISO 8601 with a Z, the way Trakt writes times and we show them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def iso_utc(ts: float) -> str:
    """Epoch seconds as `2026-03-01T20:15:00Z`."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_utc_ms(dt: datetime) -> str:
    """A datetime as `2026-03-01T20:15:00.000Z` (Trakt's own form, milliseconds included)."""
    dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def iso_date(ts: float) -> str:
    """Epoch seconds as the UTC day `2026-03-01` (Trakt's `start_at`/`end_at` on history reads)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def utc_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def parse_time(value: str) -> datetime:
    """Trakt's timestamps (`...Z`, an offset, or none, meaning UTC) as an aware datetime.
    Raises ValueError for anything else."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def timestamp_of(value: Any) -> float:
    """Epoch seconds from a datetime, an ISO string or a number."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        return parse_time(value).timestamp()
    return float(value)
