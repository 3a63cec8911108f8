"""The dispatcher: the one thread that owns every playback session.

Watchers only enqueue PlayerEvents; this thread takes them in order, runs the pure state machine,
and hands the resulting actions to the delivery worker. Timers (debounce, preview, pause timeout)
are TICK events it makes itself when a session's deadline passes. Nothing else touches sessions, so
nothing needs a lock.
"""

from __future__ import annotations

import queue
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

import structlog

from scrobblerd.models import (
    Decision,
    EventKind,
    MediaRef,
    PlayerEvent,
    ResumeQuery,
    ScrobbleAction,
    SeekCommand,
)
from scrobblerd.playback import machine as state

log = structlog.get_logger()

# The longest the loop sleeps when no timer is due and no heartbeat is asked for: only a guard
# against a wall clock that jumps; an idle dispatcher otherwise sleeps until an event comes.
IDLE_WAIT = 60.0  # seconds
# Multi-episode names (S01E01E02, S01E01-E02, 1x01-02): only these pay for a full filename parse here.
_MULTI_EPISODE = re.compile(r"(?i)s\d{1,2}\s?e\d{1,4}(?:\s?-?\s?e\d{1,4})+|\b\d{1,2}x\d{2,3}(?:-\d{2,3})+")


class SavedSessions(Protocol):
    """Where live viewings are kept across a daemon restart (store.sessions.SessionBook)."""

    def save(self, player: str, media_key: str, state: dict[str, Any], now: float) -> None: ...

    def forget(self, player: str) -> None: ...

    def load(self, player: str, media_key: str, now: float) -> dict[str, Any] | None: ...


ActionSink = Callable[[ScrobbleAction], None]
ResumeSink = Callable[[ResumeQuery | SeekCommand], None]
PartCounter = Callable[[MediaRef], int]


class Dispatcher:
    def __init__(
        self,
        rules: state.Rules,
        deliver: ActionSink,
        *,
        count_parts: PartCounter | None = None,
        on_watched: ActionSink | None = None,
        on_resume: ResumeSink | None = None,
        heartbeat: Callable[[], None] | None = None,
        heartbeat_every: float | None = None,
        saved: SavedSessions | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = rules
        self._deliver = deliver
        self._count_parts = count_parts
        self._on_watched = on_watched
        self._on_resume = on_resume
        self._heartbeat = heartbeat
        # `heartbeat` runs after every event and at least every `heartbeat_every` seconds.
        self._max_wait = heartbeat_every if heartbeat is not None and heartbeat_every else IDLE_WAIT
        self._saved = saved
        self._save_failure: str | None = None
        self._clock = clock
        self._events: queue.Queue[PlayerEvent | None] = queue.Queue()
        self._sessions: dict[str, state.Session] = {}
        self._parts: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._last_now = 0.0
        self.processed = 0
        self.errors = 0

    # -- called from any thread ------------------------------------------------------------
    def submit(self, event: PlayerEvent) -> None:
        """The watchers' sink: enqueue only."""
        self._events.put(event)

    def set_rules(self, rules: state.Rules) -> None:
        self._events.put(None)  # wake the loop; rules are read there on the next event
        self.rules = rules

    def start(self) -> None:
        """Start the dispatcher thread; after a crash of the thread, start a new one."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Drain what is queued, close every open viewing (a watched stop when past the threshold,
        else a pause), hand those actions on, then end the thread."""
        if self._thread is None:
            return
        self._stopping.set()
        self._events.put(None)
        self._thread.join(timeout)
        self._thread = None

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def sessions_snapshot(self) -> dict[str, state.Session]:
        return dict(self._sessions)

    # -- the dispatcher thread -------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            try:
                event = self._events.get(timeout=self._wait_time())
            except queue.Empty:
                event = None
            try:
                if event is not None:
                    self._handle(event)
                self._fire_timers()
                if self._heartbeat is not None:
                    self._heartbeat()
            except Exception as exc:  # the loop never dies: one bad event is logged and skipped
                self.errors += 1
                log.error("dispatch_failed", error=repr(exc), traceback=traceback.format_exc())
            if self._stopping.is_set() and self._events.empty():
                self._close_all()
                return

    def _now(self, at: float | None = None) -> float:
        now = max(self._last_now, at if at is not None else self._clock())
        self._last_now = now
        return now

    def _wait_time(self) -> float:
        deadlines = [
            d for s in self._sessions.values() if (d := state.next_deadline(s, self.rules)) is not None
        ]
        if not deadlines:
            return self._max_wait
        return max(0.0, min(self._max_wait, min(deadlines) - self._clock()))

    def _handle(self, event: PlayerEvent) -> None:
        if event.media is not None:
            event = replace(event, media=self._with_parts(event.media))
        now = self._now(event.at)
        before = self._sessions.get(event.player)
        if before is None:
            before = self._restore(event, now) or state.new_session(event.player)
        session, actions = state.step(before, event, now, self.rules)
        self._sessions[event.player] = session
        self.processed += 1
        self._keep(before, session, now)
        self._emit(actions)

    def _fire_timers(self) -> None:
        now = self._clock()
        for player, session in list(self._sessions.items()):
            deadline = state.next_deadline(session, self.rules)
            if deadline is not None and deadline <= now:
                tick = PlayerEvent(EventKind.TICK, player, now)
                new, actions = state.step(session, tick, self._now(now), self.rules)
                self._sessions[player] = new
                self._keep(session, new, now)
                self._emit(actions)

    def _close_all(self) -> None:
        now = self._now()
        for player, session in list(self._sessions.items()):
            new, actions = state.close(session, now, self.rules)
            self._sessions[player] = new
            self._keep(session, new, now)
            self._emit(actions)

    # -- live viewings across a restart ------------------------------------------------------
    def _restore(self, event: PlayerEvent, now: float) -> state.Session | None:
        """The viewing a killed daemon left of this player, when the player is still on that item."""
        if self._saved is None or event.media is None:
            return None
        try:
            data = self._saved.load(event.player, event.media.key, now)
        except Exception as exc:  # an unreadable saved viewing is a fresh start, never a crash
            log.warning("session_restore_failed", player=event.player, error=repr(exc))
            return None
        session = state.restored(event.player, data) if data is not None else None
        if session is not None:
            log.info("session_restored", player=event.player, viewing=session.viewing)
        return session

    def _keep(self, before: state.Session, after: state.Session, now: float) -> None:
        """Save a viewing at each transition (not at each progress report); forget it when it ends."""
        if self._saved is None or state.transition_of(before) == state.transition_of(after):
            return
        saved = state.saved_state(after)
        try:
            if saved is None or after.media is None:
                self._saved.forget(after.player)
            else:
                self._saved.save(after.player, after.media.key, saved, now)
            self._save_failure = None
        except Exception as exc:  # a full disk must not stop decisions: logged once, carried on
            failure = repr(exc)
            if failure != self._save_failure:
                log.warning("session_save_failed", player=after.player, error=failure)
            self._save_failure = failure

    def _emit(self, actions: list[Decision]) -> None:
        for action in actions:
            if not isinstance(action, ScrobbleAction):
                self._resume(action)
                continue
            log.info(
                "scrobble_decided",
                action=action.kind.value,
                player=action.player,
                progress=action.progress,
                watched=action.watched,
                media=action.media.path or action.media.title,
            )
            self._deliver(action)
            if action.watched and self._on_watched is not None:
                self._on_watched(action)

    def _resume(self, decision: ResumeQuery | SeekCommand) -> None:
        """Point lookups and seeks go to the resume service (its own thread: never wait here)."""
        if isinstance(decision, SeekCommand):
            log.info(
                "resume_decided",
                player=decision.player,
                progress=decision.progress,
                position=decision.position,
                media=decision.media.path or decision.media.title,
            )
        if self._on_resume is not None:
            self._on_resume(decision)

    def _with_parts(self, media: MediaRef) -> MediaRef:
        if media.parts > 1 or self._count_parts is None or not media.path:
            return media
        name = media.path.rsplit("/", 1)[-1]
        if not _MULTI_EPISODE.search(name):
            return media
        if media.key not in self._parts:
            self._parts[media.key] = max(1, self._count_parts(media))
        return replace(media, parts=self._parts[media.key])
