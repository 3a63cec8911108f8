"""The shared vocabulary: what players report, what we decide, what Trakt knows.

Frozen dataclasses only; no behaviour beyond small derived properties. Every other module
speaks in these types, so this module imports nothing from the project.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Trakt: a stop at >= 80 % progress is recorded as a watch; below it is treated as a pause.
WATCHED_THRESHOLD = 80.0


# Trakt ids are ints (trakt, tmdb, tvdb) or strings (imdb "tt…", slug).
Ids = dict[str, int | str]


class EventKind(StrEnum):
    """What a watcher saw. The state machine turns these into actions."""

    PLAYING = "playing"  # media is playing (first load, resume, or a new item)
    PAUSED = "paused"
    SEEKED = "seeked"  # an explicit seek; `position` is where playback landed
    PROGRESS = "progress"  # a periodic position report (`paused` tells the play state)
    STOPPED = "stopped"  # the user stopped playback before the end
    ENDED = "ended"  # natural end of the item (eof)
    LOST = "lost"  # the player vanished (socket closed, HTTP gone, killed)
    TICK = "tick"  # a timer; lets the pure state machine act on elapsed time
    RESUME = "resume"  # the answer to a ResumeQuery: `point` is the saved progress, or None


@dataclass(frozen=True, slots=True)
class MediaRef:
    """Everything a player knows about what it plays; input to identification.

    `path` is a filesystem path or a URL. `ids` and `show_ids` are hints from the player
    (Kodi's library uniqueid, tags); keys are Trakt id names: imdb, tmdb, tvdb, trakt, slug.
    `parts` > 1 marks a multi-episode file (S01E01E02): the state machine splits the duration.
    """

    path: str | None = None
    title: str | None = None
    kind: str | None = None  # "movie" | "episode" | None when the player does not know
    year: int | None = None
    show_title: str | None = None
    season: int | None = None
    episode: int | None = None
    ids: Ids = field(default_factory=dict)
    show_ids: Ids = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    parts: int = 1

    @property
    def key(self) -> str:
        """A stable identity for "is this the same item" decisions."""
        if self.path:
            return self.path
        if self.ids:
            return "ids:" + ",".join(f"{k}={v}" for k, v in sorted(self.ids.items()))
        return "title:" + (self.title or "")

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "title": self.title,
            "kind": self.kind,
            "year": self.year,
            "show_title": self.show_title,
            "season": self.season,
            "episode": self.episode,
            "ids": dict(self.ids),
            "show_ids": dict(self.show_ids),
            "tags": dict(self.tags),
            "parts": self.parts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MediaRef:
        return cls(
            path=data.get("path"),
            title=data.get("title"),
            kind=data.get("kind"),
            year=data.get("year"),
            show_title=data.get("show_title"),
            season=data.get("season"),
            episode=data.get("episode"),
            ids=dict(data.get("ids") or {}),
            show_ids=dict(data.get("show_ids") or {}),
            tags=dict(data.get("tags") or {}),
            parts=int(data.get("parts") or 1),
        )


@dataclass(frozen=True, slots=True)
class PlayerEvent:
    """One observation from a watcher. `at` is wall-clock time (epoch seconds, UTC).

    `position` and `duration` are seconds; None when the player did not say. `player` is a
    stable id for one player instance, e.g. "mpv:/tmp/mpvsocket" or "kodi:127.0.0.1:9090".
    """

    kind: EventKind
    player: str
    at: float
    media: MediaRef | None = None
    position: float | None = None
    duration: float | None = None
    paused: bool | None = None
    point: float | None = None  # RESUME only: the saved progress (percent) for `media`, or None


@dataclass(frozen=True, slots=True)
class Movie:
    title: str
    year: int | None
    ids: Ids = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": "movie", "title": self.title, "year": self.year, "ids": dict(self.ids)}


@dataclass(frozen=True, slots=True)
class Show:
    title: str
    year: int | None
    ids: Ids = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "year": self.year, "ids": dict(self.ids)}


@dataclass(frozen=True, slots=True)
class Episode:
    """An episode with its show. `number_abs` is set for absolutely numbered shows (anime)."""

    show: Show
    season: int | None
    number: int | None
    title: str | None = None
    ids: Ids = field(default_factory=dict)
    number_abs: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "episode",
            "show": self.show.to_json(),
            "season": self.season,
            "number": self.number,
            "number_abs": self.number_abs,
            "title": self.title,
            "ids": dict(self.ids),
        }


Item = Movie | Episode


def item_from_json(data: dict[str, Any]) -> Item:
    """Inverse of Movie.to_json / Episode.to_json."""
    if data.get("type") == "episode":
        show = data.get("show") or {}
        return Episode(
            show=Show(str(show.get("title") or ""), show.get("year"), dict(show.get("ids") or {})),
            season=data.get("season"),
            number=data.get("number"),
            title=data.get("title"),
            ids=dict(data.get("ids") or {}),
            number_abs=data.get("number_abs"),
        )
    return Movie(str(data.get("title") or ""), data.get("year"), dict(data.get("ids") or {}))


class ActionKind(StrEnum):
    START = "start"
    PAUSE = "pause"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class ScrobbleAction:
    """A decision of the state machine: tell Trakt start/pause/stop for one viewing.

    `watched` is True exactly for the one stop per viewing (and part) that reached the
    threshold; those go through the durable queue. `viewing` is a stable id for one viewing
    (a rewatch is a new viewing). `part`/`parts` split multi-episode files (0-based part).
    `late` marks a viewing that was opened already past the threshold: after a daemon or player
    restart that is the rest of an earlier viewing, so delivery checks it against local history.
    """

    kind: ActionKind
    player: str
    viewing: str
    media: MediaRef
    progress: float
    at: float
    watched: bool = False
    part: int = 0
    parts: int = 1
    late: bool = False


@dataclass(frozen=True, slots=True)
class ResumeQuery:
    """A decision of the state machine: a viewing began at the start of `media`; look up its
    saved playback point and answer with a RESUME event for `player`."""

    player: str
    viewing: str
    media: MediaRef
    duration: float
    at: float


@dataclass(frozen=True, slots=True)
class SeekCommand:
    """A decision of the state machine: seek `player` to `position` seconds (`progress` percent),
    the saved point of the viewing that just began."""

    player: str
    viewing: str
    media: MediaRef
    position: float
    progress: float
    at: float


Decision = ScrobbleAction | ResumeQuery | SeekCommand


@dataclass(frozen=True, slots=True)
class PlayerStatus:
    """What `scrobblerd status` shows for one player instance."""

    connected: bool
    state: str  # e.g. "waiting", "connected", "playing", "paused", "unauthorized", "error"
    detail: str | None = None
