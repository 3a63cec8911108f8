"""The Watcher protocol: a watcher turns one kind of player into PlayerEvents.

Events go out through a sink (the daemon's queue); nothing comes in. Watchers never import
the Trakt client and never decide anything: they report what the player does.
"""

from __future__ import annotations

import socket
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from scrobblerd.models import PlayerEvent, PlayerStatus

EventSink = Callable[[PlayerEvent], None]


@dataclass(frozen=True)
class PlayerSpec:
    """What the registry knows of a player: its config section (a frozen dataclass, the keys of
    `players.<name>`), where its watcher lives and where its command interface lives (each
    `module:Class`, built with that section)."""

    name: str
    settings: type[Any]
    watcher: str
    commands: str | None = None


# Reconnect backoff for absent players: quick to find a player that starts later, cheap when
# none ever does.
RECONNECT_MIN_DELAY = 0.5  # seconds
RECONNECT_MAX_DELAY = 5.0  # seconds; "a player started later is found within seconds"
# Restart backoff for a watcher loop that raised (a bug, not an absent player).
CRASH_MIN_DELAY = 1.0
CRASH_MAX_DELAY = 60.0


class Watcher(Protocol):
    """What the daemon needs from a watcher."""

    name: str

    def start(self, sink: EventSink) -> None:
        """Begin watching in the background; events go to `sink` (which only enqueues)."""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and release every connection and thread."""

    def status(self) -> Mapping[str, PlayerStatus]:
        """Per player instance: connected or not, and a short state."""

    def alive(self) -> bool:
        """Whether the watcher's supervisor runs (it restarts the watching loop when that fails)."""


class Commands(Protocol):
    """What the daemon may ask of a player: the way back from decisions to the player. Watchers
    stay readers; each player's command interface is its own small client, built on demand."""

    def seek(self, player: str, position: float) -> None:
        """Seek the instance `player` (a PlayerEvent.player id) to `position` seconds; raises
        PlayerError when the player cannot be reached or refuses."""


class Presence:
    """Whether a player answers, logged on transitions only: `player_found` when it appears (or
    is reached another way), `player_lost` when it goes; repeats are silent, so a player that is
    down logs once, then once when it is back. Every watcher announces its players through this.

    `known` starts as None (never tried: the first failure is news, so it is logged) or False (stay
    quiet until the player has been seen once)."""

    def __init__(self, log: Any, player: str, *, known: bool | None = None) -> None:
        self._log = log
        self.player = player
        self.known = known
        self.via: str | None = None

    @property
    def found_now(self) -> bool:
        return self.known is True

    def found(self, via: str | None = None, **fields: Any) -> bool:
        """Record that the player answered; True (and one log line) when that is news."""
        news = self.known is not True or via != self.via
        if news:
            extra = {"transport": via} if via is not None else {}
            self._log.info("player_found", player=self.player, **extra, **fields)
        self.known, self.via = True, via
        return news

    def lost(self, reason: str, **fields: Any) -> bool:
        """Record that the player is gone; True (and one log line) when that is news."""
        news = self.known is not False
        if news:
            self._log.info("player_lost", player=self.player, reason=reason, **fields)
        self.known, self.via = False, None
        return news


def refuses_connections(host: str, port: int, timeout: float) -> bool:
    """Whether nothing listens at host:port (the connection is refused). A plain TCP connect: an
    absent player costs a few system calls per look instead of a whole HTTP request."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False  # unreachable some other way: the real request says how


def backoff_delays(start: float, cap: float) -> Callable[[], float]:
    """A capped exponential backoff: each call returns the next delay; reset by making a new one."""
    delay = start

    def next_delay() -> float:
        nonlocal delay
        current = delay
        delay = min(cap, delay * 2)
        return current

    return next_delay


class ThreadedWatcher:
    """Base for watchers that run one blocking loop in their own supervised thread.

    Subclasses implement `run(sink, stop)`, which blocks until `stop` is set. If `run` raises,
    the traceback is logged and the loop is restarted after a capped backoff: a watcher never
    dies for good.
    """

    name = "watcher"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = structlog.get_logger(watcher=self.name)
        self.restarts = 0

    def run(self, sink: EventSink, stop: threading.Event) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def status(self) -> Mapping[str, PlayerStatus]:  # pragma: no cover - overridden
        return {}

    def start(self, sink: EventSink) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._supervise, args=(sink,), name=f"watcher-{self.name}", daemon=True
        )
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _supervise(self, sink: EventSink) -> None:
        delay = backoff_delays(CRASH_MIN_DELAY, CRASH_MAX_DELAY)
        while not self._stop.is_set():
            try:
                self.run(sink, self._stop)
                return
            except Exception as exc:  # the supervisor: a watcher never dies for good
                self.restarts += 1
                wait = delay()
                self._log.error(
                    "watcher_crashed",
                    error=repr(exc),
                    traceback=traceback.format_exc(),
                    restart_in=wait,
                )
                self._stop.wait(wait)
