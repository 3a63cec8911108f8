"""VLC: poll the Lua HTTP interface (`/requests/status.json`) and report changes as PlayerEvents.

VLC pushes nothing, so this watcher polls. The pure half lives in `parse`, the HTTP client in
`http`; `VlcWatcher` ties them to a thread and a clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from urllib.parse import urlsplit

import structlog

from scrobblerd.errors import PlayerError
from scrobblerd.models import EventKind, PlayerEvent, PlayerStatus
from scrobblerd.players.base import (
    RECONNECT_MAX_DELAY,
    RECONNECT_MIN_DELAY,
    EventSink,
    Presence,
    ThreadedWatcher,
    backoff_delays,
    refuses_connections,
)
from scrobblerd.players.vlc.http import (
    PLAYLIST_PATH,
    STATUS_PATH,
    VlcHttp,
    VlcUnauthorized,
    VlcUnreachable,
)
from scrobblerd.players.vlc.parse import (
    MIN_POLL_INTERVAL,
    VlcSnapshot,
    end_event,
    events_from,
    find_uri,
    media_from,
    parse_status,
    poll_delay,
    same_item,
)
from scrobblerd.players.vlc.settings import VlcConfig

LENGTH_GRACE = 2.0  # seconds a new item may wait for VLC to know its length
LENGTH_POLL_INTERVAL = 0.1  # while waiting for it (VLC: usually there within ~0.3 s)
UNAUTHORIZED_INTERVAL = 15.0  # a wrong password is retried this slowly
ERROR_INTERVAL = 5.0  # after an answer we could not use
CONNECT_TIMEOUT = 1.0  # seconds for the cheap look at whether anything listens
REFUSED = "ConnectionError"  # what the HTTP client says of a refused connection, said the same way


class VlcWatcher(ThreadedWatcher):
    """Polls one VLC at `config.url`; reports it as player "vlc:<url>"."""

    name = "vlc"

    def __init__(self, config: VlcConfig, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.config = config
        self.url = config.url.rstrip("/")
        self.player = f"vlc:{self.url}"
        where = urlsplit(self.url)
        default_port = 443 if where.scheme == "https" else 80
        self._address = (where.hostname or "127.0.0.1", where.port or default_port)
        self._http = VlcHttp(self.url, config.password)
        self._clock = clock
        self._log = structlog.get_logger(watcher=self.name)
        self._status = PlayerStatus(False, "waiting", None)
        self._reset()

    def _reset(self) -> None:
        self._prev: VlcSnapshot | None = None
        self._last_progress = 0.0
        self._presence = Presence(self._log, self.player, known=False)
        self._problem: str | None = None
        self._idle_polls = 0
        self._pending: tuple[int | None, float] | None = None  # a new item waiting for its length
        self._absent_delay = backoff_delays(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)

    @property
    def requests_made(self) -> int:
        """status.json and playlist.json requests so far, for benchmarks."""
        return self._http.requests_made

    def status(self) -> Mapping[str, PlayerStatus]:
        return {self.player: self._status}

    def run(self, sink: EventSink, stop: threading.Event) -> None:
        self._reset()
        self._http = VlcHttp(self.url, self.config.password)
        try:
            while not stop.is_set():
                started = time.monotonic()
                delay = self.poll_once(sink)
                stop.wait(max(MIN_POLL_INTERVAL, delay - (time.monotonic() - started)))
        finally:
            self._http.close()

    def poll_once(self, sink: EventSink) -> float:
        """One status.json poll; returns the delay until the next one."""
        if not self._status.connected and self._refused():
            return self._on_unreachable(sink, REFUSED)  # nothing listens: no HTTP request made
        try:
            payload = self._http.get(STATUS_PATH)
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
        return self._observe(sink, snap)

    def _refused(self) -> bool:
        host, port = self._address
        return refuses_connections(host, port, CONNECT_TIMEOUT)

    def _observe(self, sink: EventSink, snap: VlcSnapshot) -> float:
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
            uri = prev.uri if known and prev is not None else self._item_uri(snap.currentplid)
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

    def _item_uri(self, plid: int) -> str | None:
        try:
            return find_uri(self._http.get(PLAYLIST_PATH), plid)
        except PlayerError as exc:
            self._log.debug("vlc_playlist_failed", error=str(exc))
            return None

    def _found(self) -> None:
        self._presence.found()
        self._absent_delay = backoff_delays(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)

    def _lose(self, sink: EventSink, reason: str) -> None:
        """Connected before, gone now: one log line and a LOST carrying the estimated position."""
        if not self._presence.lost(reason):
            return
        now = self._clock()
        prev = self._prev
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
