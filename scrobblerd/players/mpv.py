"""The mpv watcher: mpv's JSON IPC socket(s) -> PlayerEvents, pushed within milliseconds.

One thread serves every configured socket with a selector: mpv pushes events and property
changes; the watcher reads `time-pos` only when an event needs it and on a slow tick while
playing. Absent mpv instances (not started yet, quit, stale socket file) are retried with a
capped backoff. The IPC client is our own: python-mpv-jsonipc leaks a socket on every refused
connect (a ResourceWarning per retry), has a fixed 120 s command timeout and runs two threads
per connection.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from scrobblerd.errors import PlayerError
from scrobblerd.models import EventKind, MediaRef, PlayerEvent, PlayerStatus
from scrobblerd.players.base import (
    RECONNECT_MAX_DELAY,
    RECONNECT_MIN_DELAY,
    EventSink,
    ThreadedWatcher,
    backoff_delays,
)
from scrobblerd.settings import MpvConfig

# mpv answers IPC requests from its core loop within milliseconds; silence this long means a
# hung mpv or a socket that is not mpv's.
REQUEST_TIMEOUT = 3.0  # seconds
# Upper bound on one selector wait, so a stop that could not wake the selector is still seen.
MAX_WAIT = 1.0  # seconds
# Observed with `observe_property`; mpv pushes the current value at once, then every change.
OBSERVED = ("pause", "path", "filename", "media-title", "duration", "idle-active", "eof-reached",
            "seeking", "metadata")  # fmt: skip
# Read when a file is announced: what identification gets to see.
MEDIA_PROPS = ("path", "working-directory", "media-title", "metadata")
# mpv end-file reasons -> what the viewing did; "redirect" (a playlist or ytdl URL replaced by
# its entries) ends nothing that played. An end-file for a file never announced emits nothing.
END_REASONS = {
    "eof": EventKind.ENDED,
    "stop": EventKind.STOPPED,
    "quit": EventKind.STOPPED,
    "error": EventKind.STOPPED,  # a stream that broke while playing
}
# Container tags (Matroska upper case, MP4/ffmpeg lower case) -> our tag names.
TAG_KEYS = {
    "title": "title",
    "show": "show", "series": "show", "tvshow": "show",
    "season": "season", "season_number": "season",
    "episode": "episode", "episode_sort": "episode", "part_number": "episode",
    "year": "year", "date": "year", "date_released": "year",
    "imdb": "imdb", "imdb_id": "imdb", "imdbid": "imdb",
}  # fmt: skip

Query = Callable[[str], Any]


# -- pure helpers ------------------------------------------------------------------------------


def is_url(path: str) -> bool:
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme.isascii() and scheme.replace("+", "").isalnum()


def resolve_path(path: str | None, working_dir: str | None) -> str | None:
    """mpv reports `path` as given to it; a relative one is relative to mpv's working directory."""
    if not path:
        return None
    if is_url(path) or os.path.isabs(path) or not working_dir:
        return path
    return os.path.normpath(os.path.join(working_dir, path))


def tags_from_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """The identification-relevant container tags, under stable lower-case names."""
    tags: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        name = TAG_KEYS.get(str(key).lower())
        text = str(value).strip()
        if not name or not text or name in tags:
            continue
        if name == "year":
            text = text[:4]
            if not text.isdigit():
                continue
        tags[name] = text
    return tags


def media_from_props(props: Mapping[str, Any]) -> MediaRef | None:
    """A MediaRef from mpv properties (`MEDIA_PROPS`); None when nothing is loaded."""
    path = resolve_path(props.get("path"), props.get("working-directory"))
    if path is None:
        return None
    title = props.get("media-title") or None
    return MediaRef(path=path, title=title, tags=tags_from_metadata(props.get("metadata")))


def end_file_kind(reason: str | None) -> EventKind | None:
    return END_REASONS.get(reason or "")


def split_lines(buffer: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """Complete newline-delimited JSON messages in `buffer`, and the incomplete rest."""
    *lines, rest = buffer.split(b"\n")
    messages = []
    for line in lines:
        try:
            message = json.loads(line.decode("utf-8", "replace"))
        except ValueError:
            continue  # mpv writes only JSON; a broken line is noise, not a reason to disconnect
        if isinstance(message, dict):
            messages.append(message)
    return messages, rest


# -- the per-player state ----------------------------------------------------------------------


class MpvTracker:
    """One mpv instance's playback state; turns its messages into PlayerEvents.

    `query(name)` reads a property (None when unavailable). Clocks are injected so tests can
    drive it from recorded payloads.
    """

    def __init__(
        self,
        player: str,
        query: Query,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.player = player
        self._query = query
        self._clock = clock
        self._mono = monotonic
        self.props: dict[str, Any] = {}
        self.media: MediaRef | None = None
        self.duration: float | None = None
        self.paused: bool | None = None
        self.announced = False  # a PLAYING/PAUSED went out for the current file
        self._seek_pending = False
        self._kept_open = False  # ENDED went out while --keep-open holds the file on its last frame
        self._pos: float | None = None
        self._pos_at = 0.0

    @property
    def state(self) -> str:
        if not self.announced:
            return "idle"
        return "paused" if self.paused else "playing"

    def attach(self) -> list[PlayerEvent]:
        """On (re)connect: an mpv that is already playing carries on where it is."""
        if self._query("idle-active") or self._query("eof-reached") or not self._query("path"):
            return []
        return self._announce()

    def handle(self, message: Mapping[str, Any]) -> list[PlayerEvent]:
        name = message.get("event")
        if name == "property-change":
            return self._on_property(str(message.get("name")), message.get("data"))
        if name == "start-file":
            self.media, self.announced, self._seek_pending, self._pos = None, False, False, None
            self._kept_open = False
        elif name == "seek" and self.announced:
            self._seek_pending = True
        elif name == "playback-restart":
            return self._on_restart()
        elif name == "end-file":
            return self._on_end(end_file_kind(message.get("reason")))
        return []

    def tick(self) -> list[PlayerEvent]:
        if not self.announced or self.paused:
            return []
        return [self._event(EventKind.PROGRESS, self._read_position())]

    def lost(self) -> list[PlayerEvent]:
        """The connection died: what was playing is lost at its last (extrapolated) position."""
        if not self.announced:
            return []
        event = self._event(EventKind.LOST, self.estimate_position())
        self.announced = False
        return [event]

    def estimate_position(self) -> float | None:
        if self._pos is None or self.paused or not self.announced:
            return self._pos
        position = self._pos + max(0.0, self._mono() - self._pos_at)
        return min(position, self.duration) if self.duration else position

    def _on_property(self, name: str, value: Any) -> list[PlayerEvent]:
        self.props[name] = value
        if name == "duration" and isinstance(value, int | float):
            self.duration = float(value)
        elif name == "pause" and isinstance(value, bool) and value != self.paused:
            self.paused = value
            if self.announced:
                kind = EventKind.PAUSED if value else EventKind.PLAYING
                return [self._event(kind, self._read_position())]
        elif name == "eof-reached" and value is True and self.announced:
            self._kept_open = True  # --keep-open: eof without end-file
            return self._on_end(EventKind.ENDED)
        elif name == "eof-reached" and value is False and self._kept_open:
            self._kept_open = False  # sought back from the kept-open end: a new viewing
            return self._announce()
        return []

    def _on_restart(self) -> list[PlayerEvent]:
        if not self.announced:
            if self.props.get("eof-reached") is True or self.props.get("idle-active") is True:
                return []
            return self._announce()
        if not self._seek_pending:
            return []
        self._seek_pending = False
        return [self._event(EventKind.SEEKED, self._read_position())]

    def _on_end(self, kind: EventKind | None) -> list[PlayerEvent]:
        if not self.announced:
            return []
        position = self.estimate_position()
        if kind is EventKind.ENDED and self.duration is not None:
            position = self.duration
        self.announced = False
        return [self._event(kind, position)] if kind is not None else []

    def _announce(self) -> list[PlayerEvent]:
        media = media_from_props({name: self._query(name) for name in MEDIA_PROPS})
        if media is None:
            return []
        self.media = media
        duration = self._query("duration")
        self.duration = float(duration) if isinstance(duration, int | float) else None
        self.paused = self._query("pause") is True
        self.announced = True
        self._seek_pending = False
        kind = EventKind.PAUSED if self.paused else EventKind.PLAYING
        return [self._event(kind, self._read_position())]

    def _read_position(self) -> float | None:
        position = self._query("time-pos")
        if not isinstance(position, int | float):
            percent = self._query("percent-pos")
            if not isinstance(percent, int | float) or not self.duration:
                return self.estimate_position()
            position = percent * self.duration / 100.0
        self._pos, self._pos_at = float(position), self._mono()
        return self._pos

    def _event(self, kind: EventKind, position: float | None) -> PlayerEvent:
        return PlayerEvent(
            kind=kind,
            player=self.player,
            at=self._clock(),
            media=self.media,
            position=position,
            duration=self.duration,
            paused=bool(self.paused),
        )


# -- the IPC connection ------------------------------------------------------------------------


class MpvIpc:
    """A JSON IPC connection: synchronous requests, pushed events collected in `pending`."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        self._next_id = 0
        self.pending: deque[dict[str, Any]] = deque()

    @classmethod
    def connect(cls, path: str, timeout: float = REQUEST_TIMEOUT) -> MpvIpc:
        """Raises OSError (FileNotFoundError, ConnectionRefusedError for a stale socket...)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        return cls(sock)

    def fileno(self) -> int:
        return self._sock.fileno()

    def send(self, *command: Any) -> int:
        self._next_id += 1
        line = json.dumps({"command": list(command), "request_id": self._next_id}).encode() + b"\n"
        try:
            self._sock.sendall(line)
        except OSError as exc:
            raise PlayerError(f"mpv connection lost: {exc}") from exc
        return self._next_id

    def request(self, *command: Any, timeout: float = REQUEST_TIMEOUT) -> Any:
        """mpv's answer; None for "property unavailable"; PlayerError for anything else."""
        request_id = self.send(*command)
        deadline = time.monotonic() + timeout
        while True:
            for message in self._read(max(0.001, deadline - time.monotonic())):
                if message.get("request_id") != request_id or "event" in message:
                    if "event" in message:
                        self.pending.append(message)
                    continue
                error = message.get("error")
                if error == "success":
                    return message.get("data")
                if error == "property unavailable":
                    return None
                raise PlayerError(f"mpv {command[0]} failed: {error}")
            if time.monotonic() >= deadline:
                raise PlayerError(f"mpv did not answer {command[0]} within {timeout}s")

    def get(self, name: str) -> Any:
        return self.request("get_property", name)

    def receive(self) -> None:
        """Read what is there without blocking; events go to `pending`."""
        self.pending.extend(m for m in self._read(0.0) if "event" in m)

    def _read(self, timeout: float) -> list[dict[str, Any]]:
        try:
            self._sock.settimeout(timeout)
            data = self._sock.recv(65536)
        except (BlockingIOError, TimeoutError):
            return []
        except OSError as exc:
            raise PlayerError(f"mpv connection lost: {exc}") from exc
        if not data:
            raise PlayerError("mpv closed the connection")
        messages, self._buffer = split_lines(self._buffer + data)
        return messages

    def close(self) -> None:
        self._sock.close()


# -- the watcher -------------------------------------------------------------------------------


class _Link:
    """One connected mpv."""

    def __init__(self, path: str, ipc: MpvIpc, tracker: MpvTracker, next_tick: float) -> None:
        self.path, self.ipc, self.tracker, self.next_tick = path, ipc, tracker, next_tick


def expand_paths(patterns: tuple[str, ...]) -> list[str]:
    """The socket paths to try: plain paths as they are, globs re-read on every call."""
    found: list[str] = []
    for pattern in patterns:
        expanded = os.path.expanduser(pattern)
        if glob.has_magic(expanded):
            found.extend(sorted(glob.glob(expanded)))
        else:
            found.append(expanded)
    return list(dict.fromkeys(found))


def player_id(path: str) -> str:
    return f"mpv:{path}"


class MpvWatcher(ThreadedWatcher):
    """Watches the mpv instance(s) at `config.ipc_path` (paths or globs); never gives up."""

    name = "mpv"

    def __init__(self, config: MpvConfig, *, tick_interval: float = 5.0) -> None:
        super().__init__()
        self._patterns = tuple(config.ipc_path)
        self._tick = tick_interval
        self._status: dict[str, PlayerStatus] = {}
        self._status_lock = threading.Lock()
        self._wake: socket.socket | None = None

    def status(self) -> Mapping[str, PlayerStatus]:
        with self._status_lock:
            return dict(self._status)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        wake = self._wake
        if wake is not None:
            with contextlib.suppress(OSError):  # already closed: the loop is ending anyway
                wake.send(b"\0")
        super().stop(timeout)

    def run(self, sink: EventSink, stop: threading.Event) -> None:
        loop = _Loop(self._patterns, self._tick, sink, self._log)
        try:
            self._wake = loop.wake
            while not stop.is_set():
                loop.step()
                self._publish(loop.status())
        finally:
            self._wake = None
            loop.close()
            self._publish({})

    def _publish(self, status: dict[str, PlayerStatus]) -> None:
        with self._status_lock:
            self._status = status


class _Loop:
    """The selector loop's state: connected links, sockets waited for, the scan backoff."""

    def __init__(self, patterns: tuple[str, ...], tick: float, sink: EventSink, logger: Any) -> None:
        self._patterns, self._tick, self._sink, self._log = patterns, tick, sink, logger
        self._globbed = any(glob.has_magic(p) for p in patterns)
        self._links: dict[str, _Link] = {}
        self._waiting: dict[str, str] = {}  # path -> why it is not connected
        self._backoff = backoff_delays(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)
        self._next_scan = 0.0
        self._sel = selectors.DefaultSelector()
        self._woken, self.wake = socket.socketpair()
        self._woken.setblocking(False)
        self._sel.register(self._woken, selectors.EVENT_READ, None)

    def step(self) -> None:
        """Wait for mpv messages or the next deadline, handle what came, tick, rescan."""
        deadline = min([self._next_scan, *(link.next_tick for link in self._links.values())])
        for key, _ in self._sel.select(min(MAX_WAIT, max(0.0, deadline - time.monotonic()))):
            if key.data is None:
                self._woken.recv(64)
            else:
                self._guard(key.data, _receive)
        now = time.monotonic()
        for link in list(self._links.values()):
            self._guard(link, self._pump)
            if now >= link.next_tick:
                link.next_tick = now + self._tick
                self._guard(link, self._tick_link)
        if now >= self._next_scan:
            self._scan(now)

    def status(self) -> dict[str, PlayerStatus]:
        status = {player_id(p): PlayerStatus(False, "waiting", why) for p, why in self._waiting.items()}
        for path, link in self._links.items():
            media = link.tracker.media if link.tracker.announced else None
            detail = (media.title or media.path) if media else None
            status[player_id(path)] = PlayerStatus(True, link.tracker.state, detail)
        return status

    def close(self) -> None:
        for link in self._links.values():
            link.ipc.close()
        self._links.clear()
        self._sel.close()
        self._woken.close()
        self.wake.close()

    def _emit(self, events: list[PlayerEvent]) -> None:
        for event in events:
            self._sink(event)

    def _pump(self, link: _Link) -> None:
        while link.ipc.pending:
            self._emit(link.tracker.handle(link.ipc.pending.popleft()))

    def _tick_link(self, link: _Link) -> None:
        self._emit(link.tracker.tick())

    def _guard(self, link: _Link, action: Callable[[_Link], None]) -> None:
        if link.path not in self._links:
            return  # dropped earlier in this step
        try:
            action(link)
        except PlayerError as exc:
            self._drop(link, str(exc))

    def _drop(self, link: _Link, reason: str) -> None:
        lost = link.tracker.lost()
        self._sel.unregister(link.ipc)
        link.ipc.close()
        del self._links[link.path]
        self._waiting[link.path] = reason
        position = lost[0].position if lost else None
        self._log.info("player_lost", player=link.tracker.player, reason=reason, position=position)
        self._backoff = backoff_delays(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)
        self._next_scan = time.monotonic() + self._backoff()
        self._emit(lost)

    def _scan(self, now: float) -> None:
        candidates: list[str] = []
        unmatched: set[str] = set()  # globs that match no socket file right now
        for pattern in self._patterns:
            matches = expand_paths((pattern,))
            if not matches:
                unmatched.add(os.path.expanduser(pattern))
            candidates.extend(m for m in matches if m not in candidates)
        for path in set(self._waiting) - set(candidates):
            del self._waiting[path]  # a glob match whose socket file is gone
        for pattern in unmatched:
            self._waiting[pattern] = "no socket matches"
        for path in candidates:
            if path not in self._links:
                self._connect(path, now)
        if not self._globbed and set(candidates) <= set(self._links):
            self._next_scan = float("inf")  # every configured socket is connected
        else:
            self._next_scan = now + self._backoff()

    def _connect(self, path: str, now: float) -> None:
        player = player_id(path)
        try:
            ipc = MpvIpc.connect(path)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if path not in self._waiting:
                self._log.info("player_waiting", player=player, reason=reason)
            self._waiting[path] = reason
            return
        tracker = MpvTracker(player, ipc.get)
        try:
            for number, name in enumerate(OBSERVED, 1):
                ipc.send("observe_property", number, name)
            events = tracker.attach()
        except PlayerError as exc:
            ipc.close()
            self._waiting[path] = str(exc)
            return
        link = _Link(path, ipc, tracker, now + self._tick)
        self._sel.register(ipc, selectors.EVENT_READ, link)
        self._links[path] = link
        self._waiting.pop(path, None)
        self._log.info("player_found", player=player, state=tracker.state)
        self._backoff = backoff_delays(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)
        self._emit(events)


def _receive(link: _Link) -> None:
    link.ipc.receive()
