"""Trakt's resume points: `GET /sync/playback/{movies|episodes}`, `DELETE /sync/playback/{id}` and
`GET /sync/last_activities` (to skip the fetch when no point changed). A part of TraktClient."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from scrobblerd.errors import PermanentError
from scrobblerd.models import Item
from scrobblerd.timefmt import timestamp_of
from scrobblerd.trakt.calls import ClientPart
from scrobblerd.trakt.errors import expect_object, shaped
from scrobblerd.trakt.objects import as_item, parse_item

log = structlog.get_logger()

PLAYBACK_KINDS = ("movies", "episodes")
NOT_FOUND = 404  # DELETE of a point Trakt no longer has: the wanted outcome already


@dataclass(frozen=True, slots=True)
class PlaybackEntry:
    """One of Trakt's points: its id (for DELETE), the item, progress (percent) and when."""

    id: int
    item: Item
    progress: float
    paused_at: float


def parse_playback(data: Any, what: str) -> list[PlaybackEntry]:
    """A `/sync/playback` answer; an entry of the wrong shape is skipped and logged, not fatal."""
    if not isinstance(data, list):
        raise PermanentError(f"{what}: expected a list, got {type(data).__name__}")
    entries: list[PlaybackEntry] = []
    for raw in data:
        try:
            entries.append(
                PlaybackEntry(
                    int(raw["id"]),
                    as_item(parse_item(raw)),
                    float(raw["progress"]),
                    timestamp_of(raw["paused_at"]),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("trakt_playback_entry_skipped", error=f"{type(exc).__name__}: {exc}")
    return entries


class PlaybackCalls(ClientPart):
    """The resume-point endpoints; mixed into TraktClient, whose transport they use."""

    def get_playback(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The raw `/sync/playback` list (all kinds, or `movies`/`episodes`)."""
        path = "/sync/playback" if kind is None else f"/sync/playback/{_kind(kind)}"
        data = self._json("GET", path, "sync/playback")
        if not isinstance(data, list):
            raise PermanentError("sync/playback: expected a list")
        return data

    def playback_points(self, kind: str) -> list[PlaybackEntry]:
        """Trakt's points for `movies` or `episodes`."""
        return parse_playback(self.get_playback(kind), "sync/playback")

    def remove_playback(self, playback_id: int) -> bool:
        """Delete one point; False when Trakt did not have it (any more)."""
        resp = self._call(
            "DELETE", f"/sync/playback/{int(playback_id)}", "sync/playback", accept=(NOT_FOUND,)
        )
        resp.close()
        return resp.status_code != NOT_FOUND

    def playback_activity(self) -> dict[str, float]:
        """When points last changed, per kind (`movies`, `episodes`), from /sync/last_activities."""
        data = expect_object(
            self._json("GET", "/sync/last_activities", "sync/last_activities"), "last_activities"
        )
        return shaped(
            "sync/last_activities",
            lambda: {kind: timestamp_of(data[kind]["paused_at"]) for kind in PLAYBACK_KINDS},
        )


def _kind(kind: str) -> str:
    if kind not in PLAYBACK_KINDS:
        raise ValueError(f"playback kind must be movies or episodes, not {kind!r}")
    return kind
