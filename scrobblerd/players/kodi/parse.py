"""Kodi's pure side: JSON-RPC payloads -> MediaRef/Notification, and the transition rules
between two samples of the video player. Kodi JSON-RPC v13 (Kodi 20). No I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from scrobblerd.models import EventKind, Ids, MediaRef
from scrobblerd.players import fields

# Kodi uniqueid type -> Trakt id name. For episodes `imdbnumber` is the *default* uniqueid
# (usually tvdb), so only `uniqueid` is trusted there.
UNIQUEID_NAMES = {"imdb": "imdb", "tmdb": "tmdb", "tvdb": "tvdb", "trakt": "trakt"}
NUMERIC_IDS = frozenset({"tmdb", "tvdb", "trakt"})
SEEK_TOLERANCE = 5.0  # seconds a sampled position may differ from extrapolation before it is a seek
END_SLACK = 3.0  # seconds before the end within which a vanished item counts as ended


def time_to_seconds(value: Any) -> float | None:
    """Kodi's Global.Time {hours, minutes, seconds, milliseconds} in seconds, never below 0
    (milliseconds are negative right after a start)."""
    if not isinstance(value, Mapping):
        return None
    parts = [value.get(k, 0) for k in ("hours", "minutes", "seconds", "milliseconds")]
    if not all(isinstance(p, int | float) and not isinstance(p, bool) and abs(p) <= 1e7 for p in parts):
        return None  # NaN fails the bound too
    hours, minutes, secs, millis = parts
    total = hours * 3600 + minutes * 60 + secs + millis / 1000
    return fields.seconds(max(0.0, float(total)))


class Progress(NamedTuple):
    position: float | None
    duration: float | None  # None when Kodi does not know it yet (0)
    speed: float  # 0 paused, 1 playing, other values fast-forward/rewind
    is_video: bool


def parse_properties(props: Mapping[str, Any]) -> Progress:
    """A Player.GetProperties result (time, totaltime, speed, type)."""
    speed = fields.rate(props.get("speed"))
    return Progress(
        position=time_to_seconds(props.get("time")),
        duration=time_to_seconds(props.get("totaltime")) or None,
        speed=speed if speed is not None else 1.0,
        is_video=props.get("type", "video") == "video",
    )


def parse_ids(raw: Any) -> Ids:
    """Kodi's uniqueid map as Trakt id names; unknown kinds and malformed values are dropped."""
    ids: Ids = {}
    if not isinstance(raw, Mapping):
        return ids
    for kind, value in raw.items():
        name = UNIQUEID_NAMES.get(str(kind).lower())
        text = str(value or "").strip()
        if name in NUMERIC_IDS and text.isdigit() and int(text) > 0:
            ids[name] = int(text)
        elif name == "imdb" and text.startswith("tt"):
            ids[name] = text
    return ids


def _text(value: Any) -> str | None:
    checked = fields.text(value)
    return checked.strip() or None if checked is not None else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any, minimum: int) -> int | None:
    """Kodi uses -1 (season, episode) and 0 (year) for "unknown"."""
    return fields.number(value, minimum)


def parse_item(item: Mapping[str, Any], show: Mapping[str, Any] | None = None) -> MediaRef:
    """A Player.GetItem `item` (+ VideoLibrary.GetTVShowDetails for episodes) as a MediaRef.

    Library items keep Kodi's ids; plain files (type "unknown") carry only their path.
    """
    kind = item.get("type")
    ids = parse_ids(item.get("uniqueid"))
    imdbnumber = str(item.get("imdbnumber") or "")
    if kind == "movie" and "imdb" not in ids and imdbnumber.startswith("tt"):
        ids["imdb"] = imdbnumber
    show = show or {}
    return MediaRef(
        path=_text(item.get("file")),
        title=_text(item.get("title")),
        kind=kind if kind in ("movie", "episode") else None,
        year=_number(item.get("year"), 1),
        show_title=_text(item.get("showtitle")) or _text(show.get("title")),
        season=_number(item.get("season"), 0),
        episode=_number(item.get("episode"), 0),
        ids=ids,
        show_ids=parse_ids(show.get("uniqueid")),
    )


@dataclass(frozen=True, slots=True)
class Notification:
    method: str
    playerid: int | None = None
    speed: float | None = None
    end: bool = False  # Player.OnStop: the item played to its end
    item: Mapping[str, Any] = field(default_factory=dict)
    time: float | None = None  # Player.OnSeek: where playback landed


def parse_notification(message: Mapping[str, Any]) -> Notification | None:
    """A JSON-RPC notification from Kodi; None for replies and anything without a method."""
    method = message.get("method")
    if not isinstance(method, str) or "id" in message:
        return None
    params = message.get("params")
    data = params.get("data") if isinstance(params, Mapping) else None
    if not isinstance(data, Mapping):
        return Notification(method)
    player = _mapping(data.get("player"))
    item = _mapping(data.get("item"))
    return Notification(
        method=method,
        playerid=_number(player.get("playerid"), 0),
        speed=fields.rate(player.get("speed")),
        end=data.get("end") is True,
        item=item,
        time=time_to_seconds(player.get("time")),
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One sample of Kodi's video player; `at` is the monotonic time of the sample."""

    playerid: int
    media: MediaRef
    position: float | None
    duration: float | None
    speed: float
    at: float

    @property
    def paused(self) -> bool:
        return self.speed == 0

    def position_at(self, now: float) -> float | None:
        if self.position is None:
            return None
        position = self.position + max(0.0, now - self.at) * self.speed
        if self.duration:
            position = min(position, self.duration)
        return max(0.0, position)


class Change(NamedTuple):
    kind: EventKind
    snapshot: Snapshot
    position: float | None


def finish(prev: Snapshot, now: float) -> Change:
    """The item in `prev` is gone without a word from Kodi: ended if it was at the end."""
    position = prev.position_at(now)
    if prev.duration and position is not None and position >= prev.duration - END_SLACK:
        return Change(EventKind.ENDED, prev, prev.duration)
    return Change(EventKind.STOPPED, prev, position)


def transitions(prev: Snapshot | None, cur: Snapshot | None, now: float) -> list[Change]:
    """What changed between two samples of the player (reconnects, HTTP polls, ticks)."""
    if cur is None:
        return [] if prev is None else [finish(prev, now)]
    start = Change(EventKind.PAUSED if cur.paused else EventKind.PLAYING, cur, cur.position)
    if prev is None:
        return [start]
    if prev.media.key != cur.media.key:
        return [finish(prev, now), start]
    if prev.paused != cur.paused:
        return [start]
    expected = prev.position_at(cur.at)
    if expected is not None and cur.position is not None and abs(cur.position - expected) > SEEK_TOLERANCE:
        return [Change(EventKind.SEEKED, cur, cur.position)]
    return []
