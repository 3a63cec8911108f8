"""Rows a crash left in flight: does Trakt's history already have them?

A send interrupted by a crash may or may not have reached Trakt. Before sending such a row
again, the worker asks for Trakt's history around it and matches it against what we know we
delivered there (scrobblerd.delivery.match), so a watch is neither lost nor recorded twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import structlog

from scrobblerd.delivery.health import DeliveryHealth
from scrobblerd.delivery.match import SCROBBLE_SLACK, match_delivered
from scrobblerd.errors import AuthError, TransientError
from scrobblerd.models import Episode, Item, Movie, item_from_json
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.store.deliveries import QueueRow
from scrobblerd.timefmt import timestamp_of, utc_datetime

log = structlog.get_logger()

RECOVERY_WINDOW = 600.0  # seconds around an interrupted send searched in Trakt's history


class HistoryReader(Protocol):
    """The part of scrobblerd.trakt.client.TraktClient recovery uses."""

    def get_history(self, kind: str, start_at: datetime, end_at: datetime) -> Sequence[Any]: ...


Complete = Callable[[Sequence[tuple[QueueRow, int | None]], Sequence[QueueRow]], None]


def recover_inflight(
    store: Store,
    client: HistoryReader,
    health: DeliveryHealth,
    complete: Complete,
    *,
    grace: float,
    now: float,
    settle: float = 0.0,
) -> int:
    """Settle rows a previous process left in flight: delivered if Trakt's history has them,
    else back to pending. Returns how many were delivered; -1 when Trakt could not be asked.

    A row sent less than `settle` seconds ago waits: Trakt may still be working on that request
    (the sender was killed or gave up, Trakt did not), and its history would not show it yet."""
    stuck = [r for r in deliveries.rows(store, deliveries.INFLIGHT) if (r.inflight_at or 0.0) <= now - settle]
    if not stuck:
        return 0
    checkable = [
        (r, item_from_json(r.payload["item"]))
        for r in stuck
        if r.kind == deliveries.WATCH and r.payload.get("item")
    ]
    try:
        found = delivered_on_trakt(client, store, checkable, grace)
    except AuthError as exc:
        health.pause_for_auth([], exc, now)
        return -1
    except TransientError as exc:
        health.transient([], exc, now)
        return -1
    done = [(r, None) for r, _ in checkable if r.id in found]
    again = [r.id for r in stuck if r.id not in found]
    if again:
        with store.write() as conn:
            deliveries.reschedule(
                conn,
                again,
                "interrupted while sending; not on Trakt, resending",
                now,
                count_attempt=False,
            )
    if done:
        complete(done, [])
    log.info("delivery_recovered", already_delivered=len(done), resending=len(again))
    return len(done)


def delivered_on_trakt(
    client: HistoryReader, store: Store, checkable: Sequence[tuple[QueueRow, Item]], grace: float
) -> set[int]:
    """The ids of the rows Trakt's history already has; raises what the client raises."""
    found: set[int] = set()
    for kind, cls in (("movies", Movie), ("episodes", Episode)):
        group = [(r, item) for r, item in checkable if isinstance(item, cls)]
        if not group:
            continue
        windows = []
        for row, item in group:
            at = row.watched_at or row.created_at
            sent = max(at, row.inflight_at or at)
            windows.append((row.id, item, at - RECOVERY_WINDOW, sent + RECOVERY_WINDOW))
        lo, hi = min(w[2] for w in windows), max(w[3] for w in windows)
        history = client.get_history(kind, utc_datetime(lo), utc_datetime(hi))
        remote = [(e.item, timestamp_of(e.watched_at)) for e in history]
        local = [
            (item_from_json(h.item), h.watched_at)
            for h in store.history_delivered_between(lo - grace - SCROBBLE_SLACK, hi + 2)
            if h.item
        ]
        found |= match_delivered(windows, remote, local, grace)
    return found
