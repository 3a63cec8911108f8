"""The mpv watcher: mpv's JSON IPC socket(s) -> PlayerEvents, pushed within milliseconds.

One thread serves every configured socket with a selector: mpv pushes events and property
changes; the watcher reads `time-pos` only when an event needs it and on a slow tick while
playing. Absent mpv instances (not started yet, quit, stale socket file) are retried with a
capped backoff. The IPC client lives in mpv_ipc, the playback state and pure helpers in
mpv_track; every name those modules export is importable from here as well.
"""

from __future__ import annotations

import contextlib
import glob
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from scrobblerd.errors import PlayerError
from scrobblerd.models import PlayerEvent, PlayerStatus
from scrobblerd.players.base import (
    RECONNECT_MAX_DELAY,
    RECONNECT_MIN_DELAY,
    EventSink,
    Presence,
    ThreadedWatcher,
    backoff_delays,
)
from scrobblerd.players.mpv.ipc import REQUEST_TIMEOUT, MpvIpc, split_lines
from scrobblerd.players.mpv.settings import MpvConfig
from scrobblerd.players.mpv.track import (
    END_REASONS,
    MEDIA_PROPS,
    TAG_KEYS,
    MpvTracker,
    Query,
    end_file_kind,
    is_url,
    media_from_props,
    resolve_path,
    tags_from_metadata,
)

__all__ = [
    "END_REASONS",
    "MAX_WAIT",
    "MEDIA_PROPS",
    "OBSERVED",
    "REQUEST_TIMEOUT",
    "TAG_KEYS",
    "MpvIpc",
    "MpvTracker",
    "MpvWatcher",
    "Query",
    "end_file_kind",
    "expand_paths",
    "is_url",
    "media_from_props",
    "player_id",
    "resolve_path",
    "split_lines",
    "tags_from_metadata",
]

# Upper bound on one selector wait. A stop wakes the selector through its socket pair; this only
# bounds how long a stop that raced the loop's start could go unseen. Idle costs one wake-up per
# scan (the reconnect backoff) and per MAX_WAIT, nothing more.
MAX_WAIT = 30.0  # seconds
# Observed with `observe_property`; mpv pushes the current value at once, then every change.
OBSERVED = ("pause", "path", "filename", "media-title", "duration", "idle-active", "eof-reached",
            "seeking", "metadata")  # fmt: skip


# -- the watcher -------------------------------------------------------------------------------


class _Link:
    """One connected mpv."""

    def __init__(self, path: str, ipc: MpvIpc, tracker: MpvTracker, next_tick: float) -> None:
        self.path, self.ipc, self.tracker, self.next_tick = path, ipc, tracker, next_tick
        self.said: set[tuple[str, str]] = set()  # problems already logged for this connection


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


def _absent(exc: OSError) -> bool:
    """No socket file at all (rather than a stale or refused one): mpv runs without IPC, or not at all."""
    return isinstance(exc, FileNotFoundError)


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
        self._say_once(link, "player_message_rejected", link.ipc.rejected)
        self._say_once(link, "player_field_dropped", sorted(link.tracker.bad_fields))
        link.ipc.rejected.clear()
        link.tracker.bad_fields.clear()

    def _say_once(self, link: _Link, event: str, problems: list[str]) -> None:
        """Odd input is dropped where it arrives; each kind is said once per connection."""
        for problem in problems:
            if (event, problem) not in link.said:
                link.said.add((event, problem))
                self._log.warning(event, player=player_id(link.path), problem=problem)

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
        Presence(self._log, link.tracker.player, known=True).lost(reason, position=position)
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
                extra = {"hint": f"start mpv with --input-ipc-server={path}"} if _absent(exc) else {}
                self._log.info("player_waiting", player=player, reason=reason, **extra)
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
        Presence(self._log, player).found(state=tracker.state)
        self._backoff = backoff_delays(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)
        self._emit(events)


def _receive(link: _Link) -> None:
    link.ipc.receive()
