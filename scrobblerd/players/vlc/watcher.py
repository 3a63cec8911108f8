"""VLC: poll the Lua HTTP interface (`/requests/status.json`) and report changes as PlayerEvents.

VLC pushes nothing, so this watcher polls. The pure half (`parse_status`, `events_from`,
`media_from`, `poll_delay`) knows no HTTP, threads or clocks; `VlcWatcher` is the I/O edge.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
import structlog

from scrobblerd.errors import PlayerError
from scrobblerd.models import EventKind, MediaRef, PlayerEvent, PlayerStatus
from scrobblerd.players.base import (
    RECONNECT_MAX_DELAY,
    RECONNECT_MIN_DELAY,
    EventSink,
    ThreadedWatcher,
    backoff_delays,
)
from scrobblerd.players.vlc.settings import VlcConfig

STATUS_PATH = "/requests/status.json"
PLAYLIST_PATH = "/requests/playlist.json"
REQUEST_TIMEOUT = 2.0  # seconds; VLC's Lua HTTP answers in ~25 ms, anything slower is a hung VLC
PROGRESS_EVERY = 5.0  # seconds between PROGRESS events while playing
# VLC: `time` is whole seconds and `position` (0..1) moves only every ~0.3 s, so a smaller
# jump than this against the wall-clock estimate is jitter, not a seek.
SEEK_TOLERANCE = 2.0
END_TOLERANCE = 1.5  # seconds; an item left this close to its length ended naturally
END_WINDOW = 30.0  # seconds before the end of an item that are polled faster
END_POLL_INTERVAL = 0.5
LENGTH_GRACE = 2.0  # seconds a new item may wait for VLC to know its length
LENGTH_POLL_INTERVAL = 0.1  # while waiting for it (VLC: usually there within ~0.3 s)
MIN_POLL_INTERVAL = 0.1  # never busy-poll, whatever the configuration says
STOPPED_MAX_INTERVAL = 5.0  # a stopped VLC is polled ever slower, up to this
UNAUTHORIZED_INTERVAL = 15.0  # a wrong password is retried this slowly
ERROR_INTERVAL = 5.0  # after an answer we could not use
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


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


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
    fields = {
        "time": _num(payload.get("time")),
        "length": _num(payload.get("length")),
        "position": _num(payload.get("position")),
        "currentplid": _int(payload.get("currentplid")),
    }
    meta = _meta(payload)
    return VlcSnapshot(
        state=str(state),
        time=fields["time"],
        length=fields["length"],
        position=fields["position"],
        currentplid=_int(payload.get("currentplid")),
        filename=_str(meta.get("filename")),
        title=_str(meta.get("title")),
        show_name=_str(meta.get("showName")),
        season=_int(meta.get("seasonNumber")),
        episode=_int(meta.get("episodeNumber")),
        url=_str(meta.get("url")),
        rate=_num(payload.get("rate")) or 1.0,
        precise_length=_clock_seconds(meta.get("DURATION")),
        at=at,
        missing=tuple(name for name, value in fields.items() if value is None),
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
    """The item `last` is gone at `now`: ENDED if it was at its end, else STOPPED (or `kind`)."""
    position = last.estimate(now)
    duration = last.duration
    if kind is None:
        ended = duration is not None and position is not None and position >= duration - END_TOLERANCE
        kind, position = (EventKind.ENDED, duration) if ended else (EventKind.STOPPED, position)
    return _event(kind, last, player, now, position)


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


class VlcUnreachable(PlayerError):
    """Nothing answers at the URL (refused, timed out, reset)."""


class VlcUnauthorized(PlayerError):
    """VLC answered 401: the password is wrong."""


def _find_uri(node: Any, plid: int) -> str | None:
    if not isinstance(node, Mapping):
        return None
    if _int(node.get("id")) == plid and isinstance(node.get("uri"), str):
        return str(node["uri"])
    children = node.get("children")
    for child in children if isinstance(children, list) else []:
        found = _find_uri(child, plid)
        if found is not None:
            return found
    return None


class VlcWatcher(ThreadedWatcher):
    """Polls one VLC at `config.url`; reports it as player "vlc:<url>"."""

    name = "vlc"

    def __init__(self, config: VlcConfig, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.config = config
        self.url = config.url.rstrip("/")
        self.player = f"vlc:{self.url}"
        self.requests_made = 0  # status.json and playlist.json requests, for benchmarks
        self._clock = clock
        self._log = structlog.get_logger(watcher=self.name)
        self._status = PlayerStatus(False, "waiting", None)
        self._reset()

    def _reset(self) -> None:
        self._prev: VlcSnapshot | None = None
        self._last_progress = 0.0
        self._reachable = False
        self._problem: str | None = None
        self._idle_polls = 0
        self._pending: tuple[int | None, float] | None = None  # a new item waiting for its length
        self._absent_delay = backoff_delays(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)

    def status(self) -> Mapping[str, PlayerStatus]:
        return {self.player: self._status}

    def run(self, sink: EventSink, stop: threading.Event) -> None:
        self._reset()
        with requests.Session() as session:
            session.auth = ("", self.config.password)
            while not stop.is_set():
                started = time.monotonic()
                delay = self.poll_once(session, sink)
                stop.wait(max(MIN_POLL_INTERVAL, delay - (time.monotonic() - started)))

    def poll_once(self, session: requests.Session, sink: EventSink) -> float:
        """One status.json poll; returns the delay until the next one."""
        try:
            payload = self._get(session, STATUS_PATH)
            snap = parse_status(payload, at=self._clock())
        except VlcUnauthorized:
            return self._on_unauthorized(sink)
        except VlcUnreachable as exc:
            return self._on_unreachable(sink, str(exc))
        except PlayerError as exc:
            self._found()
            self._report_problem("vlc_bad_response", str(exc))
            self._status = PlayerStatus(True, "error", str(exc))
            return ERROR_INTERVAL
        return self._observe(session, sink, snap)

    def _get(self, session: requests.Session, path: str) -> Any:
        self.requests_made += 1
        try:
            with session.get(self.url + path, timeout=REQUEST_TIMEOUT) as resp:
                if resp.status_code == 401:  # VLC: wrong or missing password
                    raise VlcUnauthorized("HTTP 401")
                if resp.status_code != 200:  # VLC: 404 everywhere when no password is set
                    raise PlayerError(f"HTTP {resp.status_code} from {path}")
                return resp.json()
        except requests.JSONDecodeError as exc:
            raise PlayerError(f"{path} is not JSON: {exc}") from exc
        except requests.RequestException as exc:
            raise VlcUnreachable(type(exc).__name__) from exc

    def _observe(self, session: requests.Session, sink: EventSink, snap: VlcSnapshot) -> float:
        self._found()
        if snap.missing:
            self._report_problem("vlc_incomplete_status", "missing " + ",".join(snap.missing))
        else:
            self._problem = None
        prev = self._prev
        known = prev is not None and prev.active and same_item(prev, snap)
        if snap.active and not known and self._hold(snap):
            return LENGTH_POLL_INTERVAL
        if snap.active and snap.currentplid is not None:
            uri = prev.uri if known and prev is not None else self._item_uri(session, snap.currentplid)
            snap = replace(snap, uri=uri)
        now = snap.at
        events = events_from(prev, snap, now, player=self.player, last_progress=self._last_progress)
        for event in events:
            sink(event)
        if any(e.kind not in (EventKind.STOPPED, EventKind.ENDED) for e in events):
            self._last_progress = now
        self._prev = snap
        self._idle_polls = 0 if snap.active else self._idle_polls + 1
        detail = media_from(snap).path if snap.active else None
        self._status = PlayerStatus(True, snap.state, detail)
        return poll_delay(snap, now, self.config.poll_interval, self._idle_polls - 1)

    def _hold(self, snap: VlcSnapshot) -> bool:
        """VLC reports a new item a moment before its length (-1 at first): wait for the length,
        for a while; streams never get one."""
        if snap.duration is not None:
            self._pending = None
            return False
        if self._pending is None or self._pending[0] != snap.currentplid:
            self._pending = (snap.currentplid, snap.at)
        return snap.at - self._pending[1] < LENGTH_GRACE

    def _item_uri(self, session: requests.Session, plid: int) -> str | None:
        try:
            return _find_uri(self._get(session, PLAYLIST_PATH), plid)
        except PlayerError as exc:
            self._log.debug("vlc_playlist_failed", error=str(exc))
            return None

    def _found(self) -> None:
        if not self._reachable:
            self._reachable = True
            self._log.info("player_found", player=self.player)
        self._absent_delay = backoff_delays(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)

    def _lose(self, sink: EventSink, reason: str) -> None:
        """Connected before, gone now: one log line and a LOST carrying the estimated position."""
        if not self._reachable:
            return
        self._reachable = False
        now = self._clock()
        prev = self._prev
        self._log.info("player_lost", player=self.player, reason=reason)
        if prev is not None and prev.active:
            sink(end_event(prev, now, self.player, EventKind.LOST))
        else:
            sink(PlayerEvent(EventKind.LOST, self.player, now))
        self._prev = None
        self._idle_polls = 0

    def _on_unreachable(self, sink: EventSink, reason: str) -> float:
        self._lose(sink, reason)
        self._problem = None
        self._status = PlayerStatus(False, "waiting", reason)
        return self._absent_delay()

    def _on_unauthorized(self, sink: EventSink) -> float:
        self._lose(sink, "unauthorized")
        if self._status.state != "unauthorized":
            self._log.warning(
                "vlc_unauthorized",
                player=self.player,
                hint="check players.vlc.password (VLC's Lua HTTP password)",
            )
        self._status = PlayerStatus(False, "unauthorized", "HTTP 401: wrong password")
        return UNAUTHORIZED_INTERVAL

    def _report_problem(self, event: str, problem: str) -> None:
        if problem != self._problem:
            self._problem = problem
            self._log.warning(event, player=self.player, problem=problem)
