"""Kodi: JSON-RPC push notifications over TCP, HTTP polling when the TCP port is closed.

Kodi JSON-RPC v13 (Kodi 20). The transports live in `rpc`, the pure parsers and transition
rules in `parse`, what plays in `track`; this module runs the watcher: connect, choose TCP push
or HTTP polling, reconnect.

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
from typing import Any

from scrobblerd.models import EventKind, PlayerStatus
from scrobblerd.players.base import (
    RECONNECT_MAX_DELAY,
    RECONNECT_MIN_DELAY,
    EventSink,
    Presence,
    ThreadedWatcher,
    backoff_delays,
    refuses_connections,
)
from scrobblerd.players.kodi.rpc import (
    CONNECT_TIMEOUT,
    HttpRpc,
    KodiConnectionError,
    KodiRpcError,
    KodiUnauthorizedError,
    TcpRpc,
)
from scrobblerd.players.kodi.settings import KodiConfig
from scrobblerd.players.kodi.track import Tracker

STOP_CHECK = 0.25  # seconds a blocked read waits before looking at the stop flag
HTTP_POLL_PLAYING = 2.0  # seconds between HTTP polls while something plays
HTTP_POLL_IDLE = 4.0  # seconds between HTTP polls while idle
TCP_RECHECK = 30.0  # seconds between tries to move from HTTP polling back to TCP push


class KodiWatcher(ThreadedWatcher):
    """One Kodi instance at config.host: TCP push on `port`, HTTP polling on `http_port` as fallback."""

    name = "kodi"

    def __init__(self, config: KodiConfig, *, tick_interval: float = 10.0) -> None:
        super().__init__()
        self.config = config
        self.tick_interval = tick_interval
        self.player_id = f"kodi:{config.host}:{config.port}"
        self._presence = Presence(self._log, self.player_id)
        self._problem: str | None = None  # why the last attempt failed, shown while waiting
        self._unauthorized = False
        self._tracker: Tracker | None = None
        self._malformed_logged = False
        self._rejected_logged: set[str] = set()
        self._said_fields: set[str] = set()

    def status(self) -> Mapping[str, PlayerStatus]:
        current = self._tracker.current if self._tracker is not None else None
        if self._presence.via is None:
            state = "unauthorized" if self._unauthorized else "waiting"
            return {self.player_id: PlayerStatus(False, state, self._problem)}
        detail = f"via {self._presence.via}"
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
            self._presence.via = None

    def _session(self, tracker: Tracker, stop: threading.Event) -> bool:
        """One connection's life; True when Kodi answered at all."""
        try:
            sock = socket.create_connection((self.config.host, self.config.port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            return self._http_session(tracker, stop, f"tcp: {exc.__class__.__name__}")
        with sock:
            self._tcp_session(TcpRpc(sock, self._log_malformed, self._log_rejected), tracker, stop)
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
        """Kodi refusing one request (an error reply) is logged; only the transport ends a session.
        A reply of the wrong shape was dropped by the tracker: said once per kind."""
        try:
            step(*args)
        except KodiRpcError as exc:
            self._log.warning("kodi_request_failed", player=self.player_id, error=str(exc))
        tracker = self._tracker
        if tracker is not None and tracker.bad_fields:
            for name in sorted(tracker.bad_fields - self._said_fields):
                self._log.warning("player_field_dropped", player=self.player_id, problem=name)
            self._said_fields |= tracker.bad_fields
            tracker.bad_fields.clear()

    def _http_session(self, tracker: Tracker, stop: threading.Event, why: str) -> bool:
        if not self.config.http_port:
            self._unauthorized = False
            self._mark_lost(why)
            return False
        if refuses_connections(self.config.host, self.config.http_port, CONNECT_TIMEOUT):
            self._unauthorized = False  # nothing listens: no HTTP request made
            self._mark_lost(f"{why}; http: JSONRPC.Ping: ConnectionError")
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
        self._presence.found(via=transport)
        self._problem, self._unauthorized = None, False

    def _mark_lost(self, reason: str) -> None:
        self._presence.lost(reason)
        self._problem = reason

    def _log_rejected(self, reason: str) -> None:
        """Absurd messages (too large, too deep): said once per kind, the connection carries on."""
        if reason not in self._rejected_logged:
            self._rejected_logged.add(reason)
            self._log.warning("player_message_rejected", player=self.player_id, reason=reason)

    def _log_malformed(self, count: int) -> None:
        if not self._malformed_logged:
            self._malformed_logged = True
            self._log.warning("kodi_malformed_json", player=self.player_id, dropped=count)
