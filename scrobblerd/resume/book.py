"""The book of resume points: ours and Trakt's, which one belongs to an item, and keeping the cache
of Trakt's fresh without asking Trakt more than needed.

Trakt's points are fetched per kind (`movies`, `episodes`) only when `/sync/last_activities` says
they changed since the last fetch; that answer is stamped to the second, so a change in the same
second as the last fetch is fetched again rather than missed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import structlog

from scrobblerd.delivery.match import same_item
from scrobblerd.models import Episode, Item, Movie, item_from_json
from scrobblerd.store import points
from scrobblerd.store.db import Store
from scrobblerd.store.history import HistoryRecord
from scrobblerd.store.points import LOCAL, TRAKT, PlaybackPoint
from scrobblerd.trakt.playback import PlaybackEntry

log = structlog.get_logger()

SEEN_KEY = "trakt_playback_seen"  # kv: {kind: [Trakt's paused_at stamp, when we fetched]}
STAMP_RESOLUTION = 1.0  # seconds: /sync/last_activities times are whole seconds
HISTORY_LOOKBACK = 500  # local watches searched for an item's last watch
# Our own pauses come back from Trakt stamped with the time they *arrived* there, which can be
# later than a newer pause of ours still on its way; so Trakt's copy of one of our pauses never
# outranks our own points. We know our copies by item and progress (sent with 2 decimals).
ECHO_KEY = "resume_sent_pauses"  # kv: [{"item": ..., "media_key": ..., "progress": ...}]
ECHO_MAX = 100
ECHO_TOLERANCE = 0.01  # percent
PENDING_KEY = "resume_forget_pending"  # kv: items watched while Trakt was not reached
PENDING_MAX = 200  # items kept for a later DELETE; older ones are dropped first


class PlaybackApi(Protocol):
    """The part of TraktClient the book uses."""

    def playback_points(self, kind: str) -> list[PlaybackEntry]: ...

    def remove_playback(self, playback_id: int) -> bool: ...

    def playback_activity(self) -> dict[str, float]: ...


def kind_of(item: Item) -> str:
    """Trakt's name for the item's playback list."""
    return "episodes" if isinstance(item, Episode) else "movies"


def _type_of(kind: str) -> str:
    return kind.removesuffix("s")


def belongs(point: PlaybackPoint, item: Item | None, media_key: str | None) -> bool:
    """Whether a point is for this item (by Trakt ids) or, unidentified, for this file."""
    if item is not None and point.item is not None:
        return same_item(item, point.item)
    return point.source == LOCAL and media_key is not None and point.media_key == media_key


def _watch_of(rec: HistoryRecord, item: Item | None, media_key: str | None) -> bool:
    """Whether a local watch was of this item: by the resolved item, else by the ids recorded
    with it (a watch still queued), else by the file."""
    if item is not None and rec.item:
        return same_item(item, item_from_json(rec.item))
    if item is not None and isinstance(item, Movie) and rec.type == "movie" and rec.ids:
        return same_item(item, Movie(rec.title or "", rec.year, dict(rec.ids)))
    return media_key is not None and rec.media.get("path") == media_key


def _echo(point: PlaybackPoint, echoes: list[float]) -> bool:
    return any(abs(point.progress - e) <= ECHO_TOLERANCE for e in echoes)


class PointBook:
    def __init__(self, store: Store, client: PlaybackApi, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.client = client
        self.clock = clock

    # -- ours -----------------------------------------------------------------------------------
    def note_pause(
        self, item: Item | None, media_key: str | None, progress: float, at: float
    ) -> PlaybackPoint:
        """Our point for an item, replacing our older ones for it."""
        old = [p.row for p in points.all_points(self.store, LOCAL) if belongs(p, item, media_key)]
        points.delete(self.store, old)
        sent = {"item": item.to_json() if item else None, "media_key": media_key, "progress": progress}
        self.store.kv_put(ECHO_KEY, [*(self.store.kv_get(ECHO_KEY) or []), sent][-ECHO_MAX:])
        return points.save_local(self.store, item, media_key, progress, at)

    def _echoes(self, item: Item | None, media_key: str | None) -> list[float]:
        """Progress values of the pauses we sent for this item."""
        found = []
        for sent in self.store.kv_get(ECHO_KEY) or []:
            mine = item_from_json(sent["item"]) if sent.get("item") else None
            same = (
                same_item(item, mine) if item and mine else media_key and sent.get("media_key") == media_key
            )
            if same:
                found.append(float(sent["progress"]))
        return found

    # -- Trakt's --------------------------------------------------------------------------------
    def refresh(self, kind: str) -> bool:
        """Fetch Trakt's points of `kind` if they changed since the last fetch; True if fetched.
        TraktError propagates (the cache stays as it was)."""
        stamp = self.client.playback_activity().get(kind, 0.0)
        seen = self.store.kv_get(SEEN_KEY) or {}
        last = seen.get(kind)
        if last is not None and last[0] == stamp and last[1] >= stamp + STAMP_RESOLUTION:
            return False
        fetched_at = self.clock()
        entries = self.client.playback_points(kind)
        rows = [(e.id, e.item, e.progress, e.paused_at) for e in entries]
        points.replace_trakt(self.store, _type_of(kind), rows)
        self.store.kv_put(SEEN_KEY, {**seen, kind: [stamp, fetched_at]})
        log.debug("trakt_points_fetched", kind=kind, count=len(rows))
        return True

    # -- lookups --------------------------------------------------------------------------------
    def last_watch(self, item: Item | None, media_key: str | None) -> float | None:
        """When the item (or, unidentified, the file) was last watched here, or None."""
        times = [
            rec.watched_at for rec in self.store.history(HISTORY_LOOKBACK) if _watch_of(rec, item, media_key)
        ]
        return max(times, default=None)

    def point_for(self, item: Item | None, media_key: str | None) -> PlaybackPoint | None:
        """The newest point for the item that is newer than its last watch, or None."""
        watched = self.last_watch(item, media_key)
        found = [
            p
            for p in points.all_points(self.store)
            if belongs(p, item, media_key) and (watched is None or p.paused_at > watched)
        ]
        if any(p.source == LOCAL for p in found):
            echoes = self._echoes(item, media_key)
            found = [p for p in found if p.source == LOCAL or not _echo(p, echoes)]
        return max(found, key=lambda p: p.paused_at, default=None)

    # -- after a watch --------------------------------------------------------------------------
    def forget(self, item: Item, media_key: str | None) -> int:
        """A watch past the threshold: the item's points go, ours here and Trakt's on Trakt, so no
        device offers an old one. Returns how many of Trakt's were deleted there."""
        local = [p.row for p in points.all_points(self.store, LOCAL) if belongs(p, item, media_key)]
        points.delete(self.store, local)
        self.refresh(kind_of(item))
        removed = 0
        for point in points.all_points(self.store, TRAKT):
            if point.trakt_id is not None and belongs(point, item, None):
                removed += int(self.client.remove_playback(point.trakt_id))
                points.delete(self.store, [point.row])
        return removed

    def defer_forget(self, item: Item) -> None:
        """Trakt was not reached after a watch: remember the item, its points go later."""
        pending = [p for p in self.store.kv_get(PENDING_KEY) or [] if p != item.to_json()]
        self.store.kv_put(PENDING_KEY, [*pending, item.to_json()][-PENDING_MAX:])

    def pending_forgets(self) -> int:
        return len(self.store.kv_get(PENDING_KEY) or [])

    def retry_forgets(self) -> int:
        """Clear the points of items watched while Trakt was away; TraktError propagates (what is
        left stays pending). Returns how many of Trakt's points were deleted."""
        removed = 0
        pending: list[dict[str, object]] = list(self.store.kv_get(PENDING_KEY) or [])
        while pending:
            removed += self.forget(item_from_json(dict(pending[0])), None)
            pending = pending[1:]
            self.store.kv_put(PENDING_KEY, pending)
        return removed

    def drop(self, point: PlaybackPoint) -> None:
        """`scrobblerd playback drop`: one point, on Trakt too when it is Trakt's."""
        if point.source == TRAKT and point.trakt_id is not None:
            self.client.remove_playback(point.trakt_id)
        points.delete(self.store, [point.row])
