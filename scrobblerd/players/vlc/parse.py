"""VLC's Lua HTTP replies, purely: status.json -> VlcSnapshot, two snapshots -> PlayerEvents.

No HTTP, threads or clocks here: time comes in as a parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from scrobblerd.errors import PlayerError
from scrobblerd.models import EventKind, MediaRef, PlayerEvent
from scrobblerd.players import fields

PROGRESS_EVERY = 5.0  # seconds between PROGRESS events while playing
# VLC: `time` is whole seconds and `position` (0..1) moves only every ~0.3 s, so a smaller
# jump than this against the wall-clock estimate is jitter, not a seek.
SEEK_TOLERANCE = 2.0
END_TOLERANCE = 1.5  # seconds; an item left this close to its length ended naturally
END_WINDOW = 30.0  # seconds before the end of an item that are polled faster
END_POLL_INTERVAL = 0.5
MIN_POLL_INTERVAL = 0.1  # never busy-poll, whatever the configuration says
STOPPED_MAX_INTERVAL = 5.0  # a stopped VLC is polled ever slower, up to this
ACTIVE_STATES = frozenset({"playing", "paused"})
KNOWN_STATES = ACTIVE_STATES | {"stopped"}
NO_ITEM = -1  # VLC: `currentplid` when nothing is loaded (after stop and at the end of the playlist)


@dataclass(frozen=True, slots=True)
class VlcSnapshot:
    """One status.json reply, reduced to what scrobbling needs. `at` is when it was taken.

    `uri` comes from playlist.json (the watcher fills it in when the item changes); `missing`
    names expected fields that were absent or of the wrong type.
    """

    state: str
    time: float | None = None
    length: float | None = None
    position: float | None = None  # VLC's fraction 0..1
    currentplid: int | None = None
    filename: str | None = None
    title: str | None = None
    show_name: str | None = None
    season: int | None = None
    episode: int | None = None
    url: str | None = None
    rate: float = 1.0
    precise_length: float | None = None  # from the container's DURATION tag, when it has one
    uri: str | None = None
    at: float = 0.0
    missing: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES and self.currentplid != NO_ITEM

    @property
    def duration(self) -> float | None:
        if self.length is None or self.length <= 0:
            return None
        if self.precise_length is not None and abs(self.precise_length - self.length) < 1.0:
            return self.precise_length
        return self.length

    @property
    def seconds(self) -> float | None:
        """The best position in seconds: `position` is finer than the whole-second `time`."""
        duration = self.duration
        if self.position is not None and duration is not None:
            return self.position * duration
        return self.time

    def estimate(self, now: float) -> float | None:
        """Where playback is at `now`, assuming it went on undisturbed since `at`."""
        pos = self.seconds
        if pos is None or self.state != "playing":
            return pos
        pos += max(0.0, now - self.at) * self.rate
        duration = self.duration
        return min(pos, duration) if duration is not None else pos


def _num(value: Any, low: float = -1.0, high: float = fields.MAX_SECONDS) -> float | None:
    """A number in [low, high] (VLC says -1 for "unknown"); NaN, infinities and absurd sizes are not."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        return None
    return float(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value) < 10:
        value = int(value)
    if isinstance(value, int) and -1 <= value <= fields.MAX_NUMBER:
        return value
    return None


def _str(value: Any) -> str | None:
    return fields.text(value)


def _clock_seconds(value: Any) -> float | None:
    """ "00:01:30.046000000" -> 90.046 (Matroska's DURATION tag)."""
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", value) if isinstance(value, str) else None
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return round(int(hours) * 3600 + int(minutes) * 60 + float(seconds), 3)


def _meta(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    info = payload.get("information")
    category = info.get("category") if isinstance(info, Mapping) else None
    meta = category.get("meta") if isinstance(category, Mapping) else None
    return meta if isinstance(meta, Mapping) else {}


def parse_status(payload: Any, at: float = 0.0) -> VlcSnapshot:
    """status.json -> VlcSnapshot. Raises PlayerError only when there is no usable `state`."""
    if not isinstance(payload, Mapping):
        raise PlayerError(f"status.json is a {type(payload).__name__}, not an object")
    state = payload.get("state")
    if not isinstance(state, str) or state not in KNOWN_STATES:
        raise PlayerError(f"status.json has no known state: {state!r}")
    checked = {
        "time": _num(payload.get("time"), 0.0),
        "length": _num(payload.get("length")),
        "position": _num(payload.get("position"), 0.0, 1.0),
        "currentplid": _int(payload.get("currentplid")),
    }
    meta = _meta(payload)
    return VlcSnapshot(
        state=str(state),
        time=checked["time"],
        length=checked["length"],
        position=checked["position"],
        currentplid=_int(payload.get("currentplid")),
        filename=_str(meta.get("filename")),
        title=_str(meta.get("title")),
        show_name=_str(meta.get("showName")),
        season=_int(meta.get("seasonNumber")),
        episode=_int(meta.get("episodeNumber")),
        url=_str(meta.get("url")),
        rate=fields.rate(payload.get("rate")) or 1.0,
        precise_length=_clock_seconds(meta.get("DURATION")),
        at=at,
        missing=tuple(name for name, value in checked.items() if value is None),
    )


def path_from_uri(uri: str) -> str:
    """file:// URIs become filesystem paths; anything else (streams) stays the URL."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return unquote(parts.path)
    return uri


def _real_title(snap: VlcSnapshot) -> str | None:
    """VLC makes up a title from the filename ("Breaking Bad S01E02"); that is no title."""
    title = snap.title
    if title is None or (snap.filename and title in (snap.filename, snap.filename.rsplit(".", 1)[0])):
        return None
    if snap.show_name and re.fullmatch(re.escape(snap.show_name) + r"\s+S\d+E\d+", title, re.IGNORECASE):
        return None
    return title


def media_from(snap: VlcSnapshot) -> MediaRef:
    path = path_from_uri(snap.uri) if snap.uri else (snap.url or snap.filename)
    episode = snap.show_name is not None and snap.episode is not None
    return MediaRef(
        path=path,
        title=_real_title(snap),
        kind="episode" if episode else None,
        show_title=snap.show_name,
        season=snap.season if episode else None,
        episode=snap.episode if episode else None,
    )


def same_item(a: VlcSnapshot, b: VlcSnapshot) -> bool:
    """VLC may fill the meta a moment after the item starts: a missing filename is no change."""
    if a.currentplid != b.currentplid:
        return False
    return a.filename is None or b.filename is None or a.filename == b.filename


def _event(
    kind: EventKind, snap: VlcSnapshot, player: str, now: float, position: float | None
) -> PlayerEvent:
    paused = None if kind in (EventKind.STOPPED, EventKind.ENDED, EventKind.LOST) else snap.state == "paused"
    return PlayerEvent(kind, player, now, media_from(snap), position, snap.duration, paused)


def end_event(last: VlcSnapshot, now: float, player: str, kind: EventKind | None = None) -> PlayerEvent:
    """The item `last` is found gone at `now`: ENDED if it got to its end by then, else STOPPED
    (or `kind`).

    It went some time after `last.at` (the last poll that saw it), and that is when it is
    stamped: the earliest moment it can have happened, so at most a poll interval early (polls
    are faster near the end). Stamped at `now`, a watch was up to a poll interval late, and so
    was Trakt's stop window (5 s from the real end, see delivery.worker). VLC's `position` lags
    playback by up to ~0.3 s, so the moment the end was reached cannot be computed any closer.
    """
    position = last.estimate(now)
    duration = last.duration
    at = min(last.at, now)
    if (
        kind is None
        and duration is not None
        and position is not None
        and position >= duration - END_TOLERANCE
    ):
        return _event(EventKind.ENDED, last, player, at, duration)
    return _event(kind or EventKind.STOPPED, last, player, at, last.seconds)


def _jumped(was: VlcSnapshot, cur: VlcSnapshot, now: float, tolerance: float) -> bool:
    start, actual = was.seconds, cur.seconds
    if start is None or actual is None:
        return False
    advanced = start + max(0.0, now - was.at) * was.rate
    if was.state == "playing" and cur.state == "playing":
        low = high = advanced
    elif "playing" in (was.state, cur.state):  # it played for some unknown part of the gap
        low, high = start, advanced
    else:
        low = high = start
    return actual < low - tolerance or actual > high + tolerance


def events_from(
    prev: VlcSnapshot | None,
    cur: VlcSnapshot,
    now: float,
    *,
    player: str,
    last_progress: float = 0.0,
    progress_every: float = PROGRESS_EVERY,
    seek_tolerance: float = SEEK_TOLERANCE,
) -> list[PlayerEvent]:
    """What happened between two polls. `last_progress` is when the last positioned event went out."""
    events: list[PlayerEvent] = []
    was = prev if prev is not None and prev.active else None
    if was is not None and (not cur.active or not same_item(was, cur)):
        events.append(end_event(was, now, player))
        was = None
    if not cur.active:
        return events
    state_kind = EventKind.PLAYING if cur.state == "playing" else EventKind.PAUSED
    if was is None:
        return [*events, _event(state_kind, cur, player, now, cur.seconds)]
    if _jumped(was, cur, now, seek_tolerance):
        events.append(_event(EventKind.SEEKED, cur, player, now, cur.seconds))
    if cur.state != was.state:
        events.append(_event(state_kind, cur, player, now, cur.seconds))
    elif cur.state == "playing" and not events and now - last_progress >= progress_every:
        events.append(_event(EventKind.PROGRESS, cur, player, now, cur.seconds))
    return events


def poll_delay(snap: VlcSnapshot, now: float, poll_interval: float, idle_polls: int = 0) -> float:
    """Seconds until the next poll of a reachable VLC."""
    interval = max(MIN_POLL_INTERVAL, poll_interval)
    if snap.state == "playing":
        position, duration = snap.estimate(now), snap.duration
        if position is not None and duration is not None and duration - position <= END_WINDOW:
            return max(MIN_POLL_INTERVAL, min(interval, END_POLL_INTERVAL))
        return interval
    if snap.active:
        return interval
    # Stopped: soon at first (the next file often follows), then ever slower.
    return min(max(interval, STOPPED_MAX_INTERVAL), interval * 2.0 ** min(idle_polls, 16))


def find_uri(node: Any, plid: int) -> str | None:
    if not isinstance(node, Mapping):
        return None
    if _int(node.get("id")) == plid and isinstance(node.get("uri"), str):
        return str(node["uri"])
    children = node.get("children")
    for child in children if isinstance(children, list) else []:
        found = find_uri(child, plid)
        if found is not None:
            return found
    return None
