"""Kodi: JSON-RPC push notifications over TCP, HTTP polling when the TCP port is closed.

Kodi JSON-RPC v13 (Kodi 20). The transports live in kodi_rpc, the pure parsers and transition
rules in kodi_parse; this module tracks what plays and runs the watcher. Every name those two
modules export is importable from here as well.

Events: Player.OnPlay/OnAVStart -> PLAYING (once per item; OnPlay waits for OnAVStart when Kodi
does not know the duration yet), OnPause -> PAUSED, OnResume -> PLAYING, OnSeek -> SEEKED,
OnStop -> ENDED (end=true) or STOPPED, System.OnQuit -> STOPPED if anything still plays, a dropped
connection -> LOST with the extrapolated position. Only video players count.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from scrobblerd.models import EventKind, MediaRef, PlayerEvent, PlayerStatus
from scrobblerd.players.base import (
    RECONNECT_MAX_DELAY,
    RECONNECT_MIN_DELAY,
    EventSink,
    ThreadedWatcher,
    backoff_delays,
)
from scrobblerd.players.kodi.parse import (
    END_SLACK,
    NUMERIC_IDS,
    SEEK_TOLERANCE,
    UNIQUEID_NAMES,
    Change,
    Notification,
    Progress,
    Snapshot,
    _mapping,
    _number,
    finish,
    parse_ids,
    parse_item,
    parse_notification,
    parse_properties,
    time_to_seconds,
    transitions,
)
from scrobblerd.players.kodi.rpc import (
    CALL_TIMEOUT,
    CONNECT_TIMEOUT,
    MAX_BUFFER,
    HttpRpc,
    KodiConnectionError,
    KodiRpcError,
    KodiUnauthorizedError,
    Rpc,
    StreamDecoder,
    TcpRpc,
)
from scrobblerd.players.kodi.settings import KodiConfig

__all__ = [
    "CALL_TIMEOUT",
    "CHANGE_METHODS",
    "CONNECT_TIMEOUT",
    "END_SLACK",
    "HTTP_POLL_IDLE",
    "HTTP_POLL_PLAYING",
    "ITEM_PROPERTIES",
    "MAX_BUFFER",
    "NUMERIC_IDS",
    "PLAYER_PROPERTIES",
    "PLAY_METHODS",
    "SEEK_TOLERANCE",
    "SHOW_PROPERTIES",
    "STOP_CHECK",
    "TCP_RECHECK",
    "UNIQUEID_NAMES",
    "Change",
    "HttpRpc",
    "KodiConnectionError",
    "KodiRpcError",
    "KodiUnauthorizedError",
    "KodiWatcher",
    "Notification",
    "Progress",
    "Rpc",
    "Snapshot",
    "StreamDecoder",
    "TcpRpc",
    "Tracker",
    "finish",
    "parse_ids",
    "parse_item",
    "parse_notification",
    "parse_properties",
    "time_to_seconds",
    "transitions",
]

# Kodi JSON-RPC v13: List.Fields.All for Player.GetItem ("label" is always returned).
ITEM_PROPERTIES = [
    "title",
    "year",
    "file",
    "imdbnumber",
    "uniqueid",
    "showtitle",
    "season",
    "episode",
    "tvshowid",
]
PLAYER_PROPERTIES = ["time", "totaltime", "percentage", "speed", "type"]
SHOW_PROPERTIES = ["uniqueid", "year", "title"]
PLAY_METHODS = frozenset({"Player.OnPlay", "Player.OnAVStart"})
CHANGE_METHODS = frozenset({"Player.OnPause", "Player.OnResume", "Player.OnSpeedChanged"})

STOP_CHECK = 0.25  # seconds a blocked read waits before looking at the stop flag
HTTP_POLL_PLAYING = 2.0  # seconds between HTTP polls while something plays
HTTP_POLL_IDLE = 4.0  # seconds between HTTP polls while idle
TCP_RECHECK = 30.0  # seconds between tries to move from HTTP polling back to TCP push


# -- tracking what plays ----------------------------------------------------------------------


class Tracker:
    """What one Kodi plays, and the PlayerEvents its changes make. Owned by the watcher thread."""

    def __init__(self, player: str, sink: EventSink, tick_interval: float) -> None:
        self.player = player
        self.current: Snapshot | None = None
        self._sink = sink
        self._tick_interval = tick_interval
        self._last_report = 0.0
        self._last_kind: EventKind | None = None
        self._pending_start: Mapping[str, Any] | None = None
        self._shows: dict[int, Mapping[str, Any]] = {}

    def sample(self, rpc: Rpc, playerid: int | None = None, media: MediaRef | None = None) -> Snapshot | None:
        """The video player now; None when no video plays."""
        if playerid is None:
            players = rpc("Player.GetActivePlayers")
            videos = [_mapping(p) for p in players or [] if _mapping(p).get("type") == "video"]
            playerid = _number(videos[0].get("playerid"), 0) if videos else None
            if playerid is None:
                return None
        try:
            params = {"playerid": playerid, "properties": PLAYER_PROPERTIES}
            props = parse_properties(_mapping(rpc("Player.GetProperties", params)))
        except KodiRpcError:  # the player went away between notification and query
            return None
        if not props.is_video:
            return None
        if media is None:
            media = self._media(rpc, playerid)
        return Snapshot(playerid, media, props.position, props.duration, props.speed, time.monotonic())

    def _media(self, rpc: Rpc, playerid: int) -> MediaRef:
        reply = rpc("Player.GetItem", {"playerid": playerid, "properties": ITEM_PROPERTIES})
        item = _mapping(_mapping(reply).get("item"))
        tvshowid = _number(item.get("tvshowid"), 0)
        show = None
        if item.get("type") == "episode" and tvshowid is not None:
            if tvshowid not in self._shows:
                try:
                    params = {"tvshowid": tvshowid, "properties": SHOW_PROPERTIES}
                    details = rpc("VideoLibrary.GetTVShowDetails", params)
                    self._shows[tvshowid] = _mapping(_mapping(details).get("tvshowdetails"))
                except KodiRpcError:
                    self._shows[tvshowid] = {}
            show = self._shows[tvshowid]
        return parse_item(item, show)

    def forget_shows(self) -> None:
        self._shows.clear()

    def sync(self, rpc: Rpc) -> None:
        """Compare what Kodi plays now with what we knew; emit the differences (or PROGRESS)."""
        cur = self.sample(rpc)
        changes = transitions(self.current, cur, time.monotonic())
        self._apply(changes, cur)
        if not changes and cur is not None and not cur.paused and self._progress_due():
            self._send(Change(EventKind.PROGRESS, cur, cur.position))

    def handle(self, rpc: Rpc, note: Notification) -> None:
        if note.method in PLAY_METHODS or note.method in CHANGE_METHODS or note.method == "Player.OnSeek":
            self._on_player(rpc, note)
        elif note.method == "Player.OnStop" and self.current is not None:
            prev, self.current, self._pending_start = self.current, None, None
            if note.end:
                self._send(Change(EventKind.ENDED, prev, prev.duration))
            else:
                self._send(Change(EventKind.STOPPED, prev, prev.position_at(time.monotonic())))
        elif note.method == "System.OnQuit":
            self.end(EventKind.STOPPED)

    def _on_player(self, rpc: Rpc, note: Notification) -> None:
        if note.playerid is None:
            return
        starting = note.method in PLAY_METHODS
        # OnPlay and OnAVStart (in either order) announce one start: the item is fetched once.
        same = self.current is not None and self.current.playerid == note.playerid
        if starting:
            same = same and bool(note.item) and note.item == self._pending_start
            self._pending_start = None if same else note.item
        cur = self.sample(rpc, note.playerid, self.current.media if same and self.current else None)
        if cur is None or (cur.duration is None and note.method == "Player.OnPlay"):
            return  # not video, or not started far enough: OnAVStart follows
        if note.speed is not None:
            cur = replace(cur, speed=note.speed)
        if note.time is not None:  # OnSeek says where playback landed; a query may still see the old spot
            cur = replace(cur, position=note.time)
        if note.method == "Player.OnSeek" and self.current and self.current.media.key == cur.media.key:
            seek = [] if self._repeated_seek(cur) else [Change(EventKind.SEEKED, cur, cur.position)]
            self._apply(seek, cur)
        else:
            self._apply(transitions(self.current, cur, cur.at), cur)

    def tick(self, rpc: Rpc) -> None:
        """PROGRESS every tick_interval while playing; also notices anything a push missed."""
        if self.current is None or self.current.paused or not self._progress_due():
            return
        cur = self.sample(rpc, self.current.playerid, self.current.media) or self.sample(rpc)
        changes = transitions(self.current, cur, time.monotonic())
        self._apply(changes, cur)
        if not changes and cur is not None:
            self._send(Change(EventKind.PROGRESS, cur, cur.position))

    def end(self, kind: EventKind) -> None:
        """The item is gone (LOST: connection dropped; STOPPED: Kodi quit) at its extrapolated position."""
        if self.current is not None:
            prev, self.current = self.current, None
            self._send(Change(kind, prev, prev.position_at(time.monotonic())))

    def _repeated_seek(self, cur: Snapshot) -> bool:
        """Kodi sometimes announces one seek twice; the second lands where the first did."""
        if self._last_kind != EventKind.SEEKED or self.current is None or cur.position is None:
            return False
        expected = self.current.position_at(cur.at)
        return expected is not None and abs(cur.position - expected) < 1.0

    def _progress_due(self) -> bool:
        return time.monotonic() - self._last_report >= self._tick_interval

    def _apply(self, changes: list[Change], cur: Snapshot | None) -> None:
        self.current = cur
        for change in changes:
            self._send(change)

    def _send(self, change: Change) -> None:
        self._last_report, self._last_kind = time.monotonic(), change.kind
        snap = change.snapshot
        terminal = change.kind in (EventKind.STOPPED, EventKind.ENDED, EventKind.LOST)
        self._sink(
            PlayerEvent(
                kind=change.kind,
                player=self.player,
                at=time.time(),
                media=snap.media,
                position=change.position,
                duration=snap.duration,
                paused=None if terminal else snap.paused,
            )
        )


# -- the watcher ------------------------------------------------------------------------------


class KodiWatcher(ThreadedWatcher):
    """One Kodi instance at config.host: TCP push on `port`, HTTP polling on `http_port` as fallback."""

    name = "kodi"

    def __init__(self, config: KodiConfig, *, tick_interval: float = 10.0) -> None:
        super().__init__()
        self.config = config
        self.tick_interval = tick_interval
        self.player_id = f"kodi:{config.host}:{config.port}"
        self._found: bool | None = None  # None until the first attempt
        self._transport: str | None = None
        self._problem: str | None = None  # why the last attempt failed, shown while waiting
        self._unauthorized = False
        self._tracker: Tracker | None = None
        self._malformed_logged = False

    def status(self) -> Mapping[str, PlayerStatus]:
        current = self._tracker.current if self._tracker is not None else None
        if self._transport is None:
            state = "unauthorized" if self._unauthorized else "waiting"
            return {self.player_id: PlayerStatus(False, state, self._problem)}
        detail = f"via {self._transport}"
        if current is None:
            return {self.player_id: PlayerStatus(True, "connected", detail)}
        title = current.media.title or current.media.path
        state = "paused" if current.paused else "playing"
        return {self.player_id: PlayerStatus(True, state, f"{title} ({detail})")}

    def run(self, sink: EventSink, stop: threading.Event) -> None:
        tracker = self._tracker = Tracker(self.player_id, sink, self.tick_interval)
        delay = backoff_delays(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)
        try:
            while not stop.is_set():
                if self._session(tracker, stop):
                    delay = backoff_delays(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)
                stop.wait(delay())
        finally:
            self._transport = None

    def _session(self, tracker: Tracker, stop: threading.Event) -> bool:
        """One connection's life; True when Kodi answered at all."""
        try:
            sock = socket.create_connection((self.config.host, self.config.port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            return self._http_session(tracker, stop, f"tcp: {exc.__class__.__name__}")
        with sock:
            self._tcp_session(TcpRpc(sock, self._log_malformed), tracker, stop)
        return True

    def _tcp_session(self, conn: TcpRpc, tracker: Tracker, stop: threading.Event) -> None:
        tracker.forget_shows()
        try:
            self._guarded(tracker.sync, conn.call)
            self._mark_found("tcp")
            while not stop.is_set():
                note = conn.next_notification(STOP_CHECK)
                if note is not None:
                    self._guarded(tracker.handle, conn.call, note)
                self._guarded(tracker.tick, conn.call)
        except KodiConnectionError as exc:
            tracker.end(EventKind.LOST)
            self._mark_lost(str(exc))

    def _guarded(self, step: Callable[..., None], *args: Any) -> None:
        """Kodi refusing one request (an error reply) is logged; only the transport ends a session."""
        try:
            step(*args)
        except KodiRpcError as exc:
            self._log.warning("kodi_request_failed", player=self.player_id, error=str(exc))

    def _http_session(self, tracker: Tracker, stop: threading.Event, why: str) -> bool:
        if not self.config.http_port:
            self._unauthorized = False
            self._mark_lost(why)
            return False
        url = f"http://{self.config.host}:{self.config.http_port}/jsonrpc"
        http = HttpRpc(url, self.config.username, self.config.password)
        try:
            http.call("JSONRPC.Ping")
        except KodiConnectionError as exc:
            http.close()
            self._unauthorized = isinstance(exc, KodiUnauthorizedError)
            self._mark_lost(f"{why}; http: {exc}")
            return False
        try:
            self._poll(http, tracker, stop)
        finally:
            http.close()
        return True

    def _poll(self, http: HttpRpc, tracker: Tracker, stop: threading.Event) -> None:
        tracker.forget_shows()
        recheck = time.monotonic() + TCP_RECHECK
        self._mark_found("http")
        try:
            while not stop.is_set():
                self._guarded(tracker.sync, http.call)
                if time.monotonic() >= recheck:
                    recheck = time.monotonic() + TCP_RECHECK
                    if self._tcp_open():
                        return  # push is back: the next session uses it, playback state carries over
                stop.wait(HTTP_POLL_PLAYING if tracker.current is not None else HTTP_POLL_IDLE)
        except KodiConnectionError as exc:
            tracker.end(EventKind.LOST)
            self._mark_lost(f"http: {exc}")

    def _tcp_open(self) -> bool:
        try:
            with socket.create_connection((self.config.host, self.config.port), timeout=CONNECT_TIMEOUT):
                return True
        except OSError:
            return False

    def _mark_found(self, transport: str) -> None:
        if self._found is not True or transport != self._transport:
            self._log.info("player_found", player=self.player_id, transport=transport)
        self._found, self._transport = True, transport
        self._problem, self._unauthorized = None, False

    def _mark_lost(self, reason: str) -> None:
        if self._found is not False:
            self._log.info("player_lost", player=self.player_id, reason=reason)
        self._found, self._transport, self._problem = False, None, reason

    def _log_malformed(self, count: int) -> None:
        if not self._malformed_logged:
            self._malformed_logged = True
            self._log.warning("kodi_malformed_json", player=self.player_id, dropped=count)
