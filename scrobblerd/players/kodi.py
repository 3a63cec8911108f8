"""Kodi: JSON-RPC push notifications over TCP, HTTP polling when the TCP port is closed.

Kodi JSON-RPC v13 (Kodi 20). The TCP stream is a bare sequence of JSON objects with no delimiter
between them, so it is decoded incrementally. One thread owns the socket: a request is written and
the stream is read until the reply with that id arrives; notifications read meanwhile wait in an
inbox and are handled afterwards, in order. There is no second reader, so nothing can deadlock.

Events: Player.OnPlay/OnAVStart -> PLAYING (once per item; OnPlay waits for OnAVStart when Kodi
does not know the duration yet), OnPause -> PAUSED, OnResume -> PLAYING, OnSeek -> SEEKED,
OnStop -> ENDED (end=true) or STOPPED, System.OnQuit -> STOPPED if anything still plays, a dropped
connection -> LOST with the extrapolated position. Only video players count.
"""

from __future__ import annotations

import codecs
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import requests

from scrobblerd.errors import PlayerError
from scrobblerd.models import EventKind, Ids, MediaRef, PlayerEvent, PlayerStatus
from scrobblerd.players.base import (
    RECONNECT_MAX_DELAY,
    RECONNECT_MIN_DELAY,
    EventSink,
    ThreadedWatcher,
    backoff_delays,
)
from scrobblerd.settings import KodiConfig

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
# Kodi uniqueid type -> Trakt id name. For episodes `imdbnumber` is the *default* uniqueid
# (usually tvdb), so only `uniqueid` is trusted there.
UNIQUEID_NAMES = {"imdb": "imdb", "tmdb": "tmdb", "tvdb": "tvdb", "trakt": "trakt"}
NUMERIC_IDS = frozenset({"tmdb", "tvdb", "trakt"})
PLAY_METHODS = frozenset({"Player.OnPlay", "Player.OnAVStart"})
CHANGE_METHODS = frozenset({"Player.OnPause", "Player.OnResume", "Player.OnSpeedChanged"})

CONNECT_TIMEOUT = 2.0  # seconds for a TCP connect to a local or LAN Kodi
CALL_TIMEOUT = 5.0  # seconds for one request; Kodi blocked by a modal dialog never answers
STOP_CHECK = 0.25  # seconds a blocked read waits before looking at the stop flag
MAX_BUFFER = 8 * 1024 * 1024  # characters of undecodable input before it is dropped
SEEK_TOLERANCE = 5.0  # seconds a sampled position may differ from extrapolation before it is a seek
END_SLACK = 3.0  # seconds before the end within which a vanished item counts as ended
HTTP_POLL_PLAYING = 2.0  # seconds between HTTP polls while something plays
HTTP_POLL_IDLE = 4.0  # seconds between HTTP polls while idle
TCP_RECHECK = 30.0  # seconds between tries to move from HTTP polling back to TCP push

Rpc = Callable[..., Any]  # rpc(method, params=None) -> result; raises PlayerError subclasses


class KodiConnectionError(PlayerError):
    """The transport failed: refused, closed, timed out, or not JSON-RPC."""


class KodiUnauthorizedError(KodiConnectionError):
    """Kodi's web server refused the username/password (HTTP 401)."""


class KodiRpcError(PlayerError):
    """Kodi answered a request with a JSON-RPC error object."""


# -- pure helpers -----------------------------------------------------------------------------


def time_to_seconds(value: Any) -> float | None:
    """Kodi's Global.Time {hours, minutes, seconds, milliseconds} in seconds, never below 0
    (milliseconds are negative right after a start)."""
    if not isinstance(value, Mapping):
        return None
    try:
        total = (
            float(value.get("hours", 0)) * 3600
            + float(value.get("minutes", 0)) * 60
            + float(value.get("seconds", 0))
            + float(value.get("milliseconds", 0)) / 1000
        )
    except (TypeError, ValueError):
        return None
    return max(0.0, total)


class Progress(NamedTuple):
    position: float | None
    duration: float | None  # None when Kodi does not know it yet (0)
    speed: float  # 0 paused, 1 playing, other values fast-forward/rewind
    is_video: bool


def parse_properties(props: Mapping[str, Any]) -> Progress:
    """A Player.GetProperties result (time, totaltime, speed, type)."""
    speed = props.get("speed")
    return Progress(
        position=time_to_seconds(props.get("time")),
        duration=time_to_seconds(props.get("totaltime")) or None,
        speed=float(speed) if isinstance(speed, int | float) else 1.0,
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
    return value.strip() or None if isinstance(value, str) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any, minimum: int) -> int | None:
    """Kodi uses -1 (season, episode) and 0 (year) for "unknown"."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= minimum else None


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
    speed = player.get("speed")
    return Notification(
        method=method,
        playerid=_number(player.get("playerid"), 0),
        speed=float(speed) if isinstance(speed, int | float) else None,
        end=data.get("end") is True,
        item=item,
        time=time_to_seconds(player.get("time")),
    )


def _frame_end(text: str) -> int | None:
    """End index of the first balanced {...} in `text`, strings respected; None if incomplete."""
    depth, in_string, escaped = 0, False, False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth <= 0:
                return index + 1
    return None


class StreamDecoder:
    """Splits Kodi's delimiter-less stream into JSON objects. Input that can never become an
    object (garbage between objects, a balanced frame that is not JSON) is dropped and counted."""

    def __init__(self) -> None:
        self._json = json.JSONDecoder()
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        self._buf = ""
        self.malformed = 0

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buf += self._utf8.decode(data)
        out: list[dict[str, Any]] = []
        while True:
            self._skip_to_object()
            if not self._buf:
                return out
            try:
                obj, end = self._json.raw_decode(self._buf)
            except json.JSONDecodeError:
                frame = _frame_end(self._buf)
                if frame is None:  # a partial object: wait for more, unless it can never end
                    if len(self._buf) > MAX_BUFFER:
                        self._drop(len(self._buf))
                    return out
                self._drop(frame)
                continue
            self._buf = self._buf[end:]
            if isinstance(obj, dict):
                out.append(obj)
            else:
                self.malformed += 1

    def _skip_to_object(self) -> None:
        self._buf = self._buf.lstrip()
        if self._buf and self._buf[0] != "{":
            start = self._buf.find("{")
            self._drop(start if start >= 0 else len(self._buf))
            self._buf = self._buf.lstrip()

    def _drop(self, count: int) -> None:
        self._buf = self._buf[count:]
        self.malformed += 1


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


# -- transports -------------------------------------------------------------------------------


def _result(method: str, reply: Any) -> Any:
    if not isinstance(reply, Mapping):
        raise KodiConnectionError(f"{method}: reply is not a JSON-RPC object")
    error = reply.get("error")
    if error is not None:
        raise KodiRpcError(f"{method}: {error.get('message') if isinstance(error, Mapping) else error}")
    return reply.get("result")


class TcpRpc:
    """Requests and notifications on one TCP connection, used from one thread only."""

    def __init__(self, sock: socket.socket, on_malformed: Callable[[int], None]) -> None:
        self._sock = sock
        self._decoder = StreamDecoder()
        self._inbox: deque[dict[str, Any]] = deque()
        self._next_id = 0
        self._on_malformed = on_malformed

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        self._next_id += 1
        rid = self._next_id
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            request["params"] = params
        try:
            self._sock.sendall(json.dumps(request).encode())
        except OSError as exc:
            raise KodiConnectionError(f"{method}: send failed: {exc}") from exc
        deadline = time.monotonic() + CALL_TIMEOUT
        while True:
            for message in self._inbox:
                if message.get("id") == rid and "method" not in message:
                    self._inbox.remove(message)
                    return _result(method, message)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KodiConnectionError(f"{method}: no reply within {CALL_TIMEOUT} s")
            self._read(remaining)

    def next_notification(self, timeout: float) -> Notification | None:
        """The next notification, waiting up to `timeout` seconds for one."""
        if not self._inbox:
            self._read(timeout)
        while self._inbox:
            note = parse_notification(self._inbox.popleft())
            if note is not None:
                return note
        return None

    def _read(self, timeout: float) -> None:
        self._sock.settimeout(max(timeout, 0.001))
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            return
        except OSError as exc:
            raise KodiConnectionError(f"read failed: {exc}") from exc
        if not data:
            raise KodiConnectionError("connection closed by Kodi")
        before = self._decoder.malformed
        self._inbox.extend(self._decoder.feed(data))
        if self._decoder.malformed != before:
            self._on_malformed(self._decoder.malformed)


class HttpRpc:
    """JSON-RPC over Kodi's web server: POST /jsonrpc with basic auth."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        self._session = requests.Session()
        self._session.auth = (username, password)

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
        if params is not None:
            body["params"] = params
        try:
            response = self._session.post(self.url, json=body, timeout=(CONNECT_TIMEOUT, CALL_TIMEOUT))
        except requests.RequestException as exc:
            raise KodiConnectionError(f"{method}: {exc.__class__.__name__}") from exc
        if response.status_code == 401:
            raise KodiUnauthorizedError("Kodi web server refused the username/password")
        if response.status_code != 200:
            raise KodiConnectionError(f"{method}: HTTP {response.status_code}")
        try:
            return _result(method, response.json())
        except ValueError as exc:
            raise KodiConnectionError(f"{method}: reply is not JSON") from exc

    def close(self) -> None:
        self._session.close()


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
