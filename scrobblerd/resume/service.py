"""The resume service: one thread that answers the playback machine's point lookups, carries out
its seeks through the players' command interfaces, writes our points when a viewing pauses below
the threshold, and clears an item's points after a watch.

The dispatcher only enqueues here (it never waits on Trakt or a player). A lookup is answered
with a RESUME event into the dispatcher; the machine decides whether to seek.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable

import structlog

from scrobblerd.errors import AuthError, PlayerError, TraktError
from scrobblerd.models import (
    ActionKind,
    EventKind,
    Item,
    MediaRef,
    PlayerEvent,
    ResumeQuery,
    ScrobbleAction,
    SeekCommand,
)
from scrobblerd.resume.book import PointBook, kind_of

log = structlog.get_logger()

Job = ResumeQuery | SeekCommand | ScrobbleAction
Resolver = Callable[[MediaRef, int], Item | None]
EventSink = Callable[[PlayerEvent], None]
Seeker = Callable[[SeekCommand], None]
Announcer = Callable[[SeekCommand], None]

# Trakt unreachable, refusing, or no login: our points and the cache still answer.
_TRAKT_ERRORS = (TraktError, AuthError)
_REFRESH_ALL = "refresh"  # a job: fetch Trakt's points of every kind (at start)
# Items watched while Trakt was away get their points deleted when Trakt answers again: at the
# next lookup, or after this long without one.
RETRY_EVERY = 600.0  # seconds


class Resumer:
    def __init__(
        self,
        book: PointBook,
        resolve: Resolver,
        events: EventSink,
        seek: Seeker,
        *,
        threshold: float,
        announce: Announcer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.book = book
        self._resolve = resolve
        self._events = events
        self._seek = seek
        self._threshold = threshold
        self._announce = announce
        self._clock = clock
        self._jobs: queue.Queue[Job | str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._trakt_down = False
        self.errors = 0

    # -- any thread ----------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        self._jobs.put(job)

    def note(self, action: ScrobbleAction) -> None:
        """Every action the machine sends to Trakt; pauses and watches matter here."""
        if action.kind is ActionKind.PAUSE or action.watched:
            self._jobs.put(action)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._loop, name="resume", daemon=True)
        self._thread.start()
        self._jobs.put(_REFRESH_ALL)

    def stop(self, timeout: float = 2.0) -> None:
        if self._thread is None:
            return
        self._jobs.put(None)
        self._thread.join(timeout)
        self._thread = None

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the resume thread -------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=RETRY_EVERY)
            except queue.Empty:
                job = _REFRESH_ALL if self.book.pending_forgets() else ""
            if job is None:
                return
            try:
                if job != "":
                    self._handle(job)
            except Exception as exc:  # one bad job is logged; the service carries on
                self.errors += 1
                log.error("resume_failed", error=repr(exc), traceback=traceback.format_exc())

    def _handle(self, job: Job | str) -> None:
        if isinstance(job, ResumeQuery):
            self._lookup(job)
        elif isinstance(job, SeekCommand):
            self._do_seek(job)
        elif isinstance(job, ScrobbleAction):
            self._record(job)
        else:
            for kind in ("movies", "episodes"):
                self._refresh(kind)
            self._retry_forgets()

    def _lookup(self, query: ResumeQuery) -> None:
        item = self._item(query.media, 0)
        if item is not None:
            self._refresh(kind_of(item))
        point = self.book.point_for(item, query.media.key)
        log.info(
            "resume_lookup",
            player=query.player,
            began=round(query.at, 3),
            media=query.media.path or query.media.title,
            point=None if point is None else point.progress,
            source=None if point is None else point.source,
        )
        self._events(
            PlayerEvent(
                EventKind.RESUME,
                query.player,
                self._clock(),
                media=query.media,
                point=None if point is None else point.progress,
            )
        )

    def _do_seek(self, cmd: SeekCommand) -> None:
        try:
            self._seek(cmd)
        except PlayerError as exc:
            log.warning("resume_seek_failed", player=cmd.player, error=str(exc))
            return
        log.info("resume_seek", player=cmd.player, progress=cmd.progress, position=cmd.position)
        if self._announce is not None:
            self._announce(cmd)

    def _record(self, action: ScrobbleAction) -> None:
        item = self._item(action.media, action.part)
        if action.watched:
            if item is None:
                return
            try:
                removed = self.book.forget(item, action.media.key)
            except _TRAKT_ERRORS as exc:
                self._trakt_failed(exc)
                self.book.defer_forget(item)
                return
            log.info("resume_points_cleared", media=action.media.path or action.media.title, trakt=removed)
        elif 0 < action.progress < self._threshold and action.parts == 1:
            self.book.note_pause(item, action.media.key, action.progress, action.at)

    def _item(self, media: MediaRef, part: int) -> Item | None:
        try:
            return self._resolve(media, part)
        except _TRAKT_ERRORS as exc:
            self._trakt_failed(exc)
            return None

    def _refresh(self, kind: str) -> None:
        try:
            self.book.refresh(kind)
        except _TRAKT_ERRORS as exc:
            self._trakt_failed(exc)
            return
        if self._trakt_down:
            self._trakt_down = False
            log.info("resume_trakt_back")
            self._jobs.put(_REFRESH_ALL)  # also retries what waited for Trakt, after this job

    def _retry_forgets(self) -> None:
        if not self.book.pending_forgets():
            return
        try:
            removed = self.book.retry_forgets()
        except _TRAKT_ERRORS as exc:
            self._trakt_failed(exc)
            return
        log.info("resume_points_cleared", media=None, trakt=removed, late=True)

    def _trakt_failed(self, exc: Exception) -> None:
        """Offline or not logged in: our own points and the cache still work. Logged once."""
        if not self._trakt_down:
            self._trakt_down = True
            log.warning("resume_trakt_unavailable", error=str(exc))
