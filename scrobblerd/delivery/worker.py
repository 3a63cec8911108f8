"""The delivery worker: everything the state machine decides reaches Trakt through here.

Watched stops are committed to the durable queue before any network call, then sent by one
worker thread: recent ones as /scrobble/stop, late ones in batches to /sync/history with their
real watched_at. Start/pause signals are "now watching" news: kept in memory, only the latest
per player, dropped when superseded or stale (a pause is kept until superseded: it is the
resume point). A row found in flight at startup is checked against Trakt's history first.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Protocol

import structlog

from scrobblerd.delivery.health import PROBE_INTERVAL, DeliveryHealth, Held, Stopped
from scrobblerd.delivery.live import LiveSignals
from scrobblerd.delivery.recovery import recover_inflight
from scrobblerd.delivery.sending import Outcome, Sending
from scrobblerd.errors import AuthError, PermanentError, TransientError
from scrobblerd.models import ActionKind, Item, MediaRef, ScrobbleAction
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.store.deliveries import QueueRow
from scrobblerd.store.unsaved import JOURNAL_NAME, UnsavedWatches
from scrobblerd.timefmt import iso_utc

log = structlog.get_logger()

VIP_ONLY_REASON = "Trakt keeps this feature for VIP accounts (426)"

# A viewing opened past the threshold within this long after a local watch of the same item is
# that watch carried on (a restart mid-item), not a rewatch.
CONTINUATION_WINDOW = 6 * 3600.0
# Trakt stamps a /scrobble/stop with the time it arrives: it is sent only while that is within this
# many seconds of the real end. Any later watch goes by /sync/history with its real watched_at.
STOP_WINDOW = 5.0
# What a stop's journey to Trakt may take (connection, TLS, Trakt's front): kept out of the window,
# so a stop that leaves at its last moment is still stamped inside it.
TRANSIT = 0.5
BATCH_SIZE = 2500  # watches per POST /sync/history (a few hundred KB of JSON); one write per second
POST_INTERVAL = 1.0  # Trakt: about one POST per second per user
IDLE_WAIT = 3600.0  # the longest the worker sleeps with nothing due (new work wakes it at once)
UNSAVED_RETRY = 5.0  # seconds between tries to write a watch the database refused

Resolver = Callable[[MediaRef, int], Item | None]
Handler = Callable[[dict[str, Any]], None]


class TraktClientLike(Protocol):
    """The part of scrobblerd.trakt.client.TraktClient the worker uses."""

    def scrobble(self, kind: ActionKind, item: Item, progress: float) -> Any: ...

    def add_history(self, watches: Sequence[tuple[Item, datetime]]) -> Any: ...

    def get_history(self, kind: str, start_at: datetime, end_at: datetime) -> Sequence[Any]: ...

    def user_settings(self) -> Any: ...


class DeliveryWorker(Sending):
    """Sends queued watches (and other queued kinds via `handlers`) and live signals to Trakt.

    `submit` is called by the dispatcher thread; sending happens on the worker's own thread
    (`start`) or in `run_once` (the scheduler job, tests). Both take the same lock, so a row is
    never sent by two threads.
    """

    def __init__(
        self,
        store: Store,
        client: TraktClientLike,
        resolve: Resolver,
        *,
        grace: float = STOP_WINDOW,
        clock: Callable[[], float] = time.time,
        handlers: dict[str, Handler] | None = None,
        batch_size: int = BATCH_SIZE,
        post_interval: float = POST_INTERVAL,
        rand: Callable[[], float] = random.random,
        settle: float = 0.0,
    ) -> None:
        self.store = store
        self.client = client
        self.resolve = resolve
        self.grace = grace
        # How long a send may still be under way at Trakt (the client's timeout and a margin):
        # a row left in flight is checked against Trakt's history only once that has passed.
        self.settle = settle
        self.clock = clock
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.batch_size = batch_size
        self.post_interval = post_interval
        self._run_lock = threading.Lock()
        self._live = LiveSignals()
        self._health = DeliveryHealth(store, clock, rand)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_post = -1e18  # monotonic time of the last POST
        self._batch_delivered = 0
        self._vip_only: set[str] = set()  # queued kinds Trakt keeps for VIP accounts (426)
        # Watches the database could not take yet (disk full, read-only, locked): never dropped.
        self.unsaved = UnsavedWatches(self._record_watch, [store.path.with_name(JOURNAL_NAME)])
        self._run_failure: str | None = None

    # -- the dispatcher's side -------------------------------------------------------------------

    def submit(self, action: ScrobbleAction) -> None:
        """A decision of the state machine. A watched stop is durable when this returns."""
        if action.kind is ActionKind.STOP and action.watched:
            self.unsaved.submit(action)  # written now, or held and written on a later pass
            self._live.discard(action.player)
        else:
            self._live.put(action)
        self.wake()

    def _record_watch(self, action: ScrobbleAction) -> None:
        """The durable write of a watched stop; raises when the database cannot take it."""
        if action.late and self._continues_watch(action):
            log.info("watch_continued", viewing=action.viewing, part=action.part, media=action.media.key)
            return
        row_id = deliveries.enqueue_watch(self.store, action, self.clock())
        log.info(
            "watch_queued",
            viewing=action.viewing,
            part=action.part,
            queue_id=row_id,
            duplicate=row_id is None,
        )

    def _continues_watch(self, action: ScrobbleAction) -> bool:
        """A viewing opened past the threshold whose item was watched here a short while ago is
        the rest of that watch (the daemon or the player restarted mid-item), not a rewatch."""
        since = action.at - CONTINUATION_WINDOW
        for record in self.store.history(limit=50):
            if record.watched_at < since:
                return False
            if record.part == action.part and MediaRef.from_json(record.media).key == action.media.key:
                return True
        return False

    def enqueue(self, kind: str, payload: dict[str, Any], *, dedupe: str | None = None) -> int | None:
        """Queue another kind of delivery (e.g. a rating); its handler sends it."""
        row_id = deliveries.enqueue(self.store, kind, payload, self.clock(), dedupe=dedupe)
        self.wake()
        return row_id

    def register_handler(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread; after a crash of the thread, start a new one."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def alive(self) -> bool:
        """Whether the worker thread runs (the daemon restarts it if it died)."""
        return self._thread is not None and self._thread.is_alive()

    def resume(self) -> None:
        """Forget any back-off (e.g. after `scrobblerd auth`) and try again now."""
        self._health.hold_until = 0.0
        self.wake()

    def _loop(self) -> None:
        log.info("delivery_started")
        while not self._stop.is_set():
            try:
                self.run_once()
                self._run_failure = None
            except Exception as exc:  # logged once per kind of failure (a full disk repeats it)
                failure = repr(exc)
                if failure != self._run_failure:
                    log.exception("delivery_run_failed")
                self._run_failure = failure
            self._wake.wait(self._idle_wait())
            self._wake.clear()
        log.info("delivery_stopped")

    def _idle_wait(self) -> float:
        """How long the worker may sleep: until something is due. Nothing polls while idle: new
        work (a watch, `queue retry` from the CLI through the daemon) wakes it."""
        now = self.clock()
        health = self._health
        wait = IDLE_WAIT
        if len(self.unsaved):
            wait = UNSAVED_RETRY  # a watch the database refused is tried again this often
        if health.hold_until > now:
            wait = min(wait, health.hold_until - now)
            if health.probing:
                wait = min(wait, health.probe_at - now)
        nxt = deliveries.next_due_at(self.store)
        if nxt is not None:
            wait = min(wait, max(nxt, health.hold_until) - now)
        sent = deliveries.earliest_inflight(self.store)
        if sent is not None:  # an unanswered send is looked up once it has settled
            wait = min(wait, max(sent + self.settle, health.hold_until) - now)
        live = self._live.next_try()
        if live is not None:
            wait = min(wait, max(live, health.hold_until) - now)
        return max(wait, 0.05)

    def _probe(self, now: float) -> bool:
        """While held by a transient failure: is Trakt answering again? A cheap GET at most every
        PROBE_INTERVAL; when it answers, the hold ends and every waiting watch is due now."""
        health = self._health
        if not health.probing or now < health.probe_at:
            return False
        health.probe_at = now + PROBE_INTERVAL
        try:
            self.client.user_settings()
        except TransientError:
            return False
        except (AuthError, PermanentError):
            pass  # an answer all the same: Trakt is there; the pass finds out the rest
        log.info("trakt_answering_again", after=health.last_error)
        health.hold_until = 0.0
        health.probing = False
        with self.store.write() as conn:
            deliveries.make_due(conn, now)
        return True

    def status(self) -> dict[str, Any]:
        counts = deliveries.counts(self.store)
        health = self._health
        return {
            "queue_depth": counts[deliveries.PENDING] + counts[deliveries.INFLIGHT],
            "failed": counts[deliveries.FAILED],
            "paused_for_auth": health.paused_for_auth,
            "last_error": health.last_error,
            "account_locked": health.account_locked,
            "retry_at": iso_utc(health.hold_until) if health.hold_until > self.clock() else None,
            "last_delivered_at": iso_utc(health.last_delivered_at) if health.last_delivered_at else None,
            "live_pending": len(self._live),
            **self.unsaved.status(),
        }

    # -- one pass --------------------------------------------------------------------------------

    def run_once(self, now: float | None = None) -> int:
        """Send what is due; returns how many queued rows were delivered."""
        with self._run_lock:
            now = self.clock() if now is None else now
            self.unsaved.retry()
            if now < self._health.hold_until and not self._probe(now):
                return 0
            try:
                self._live.flush(now, self.resolve, self._send_live, self._health)
                recovered = recover_inflight(
                    self.store,
                    self.client,
                    self._health,
                    self._complete,
                    grace=self.grace,
                    now=now,
                    settle=self.settle,
                )
                if recovered < 0:
                    return 0
                return recovered + self._deliver_due(now)
            except (Stopped, Held):
                return 0

    def _deliver_due(self, now: float) -> int:
        rows = deliveries.due(self.store, now)
        recent: list[tuple[QueueRow, Item]] = []
        late: list[tuple[QueueRow, Item]] = []
        for row, item in self._identify([r for r in rows if r.kind == deliveries.WATCH], now):
            at = row.watched_at or row.created_at
            (recent if now - at <= self.grace else late).append((row, item))
        other = [r for r in rows if r.kind != deliveries.WATCH and r.kind in self.handlers]
        delivered = 0
        for start in range(0, len(late), self.batch_size):
            sent = self._send_batch_split(late[start : start + self.batch_size], now)
            if sent < 0:
                return delivered
            delivered += sent
        overdue: list[tuple[QueueRow, Item]] = []
        for row, item in recent:
            # Trakt stamps the stop when it arrives: after our turn to POST and the journey, not now.
            arrives = self.clock() + self._pace_wait() + TRANSIT
            if arrives - (row.watched_at or row.created_at) > self.grace:
                overdue.append((row, item))  # pacing made it late: a scrobble now would get the wrong time
                continue
            outcome = self._attempt([row], partial(self._send_stop, row, item), now)
            if outcome is Outcome.STOP:
                return delivered
            delivered += outcome is Outcome.OK
        if overdue:
            sent = self._send_batch_split(overdue, now)
            if sent < 0:
                return delivered
            delivered += sent
        for row in other:
            if row.kind in self._vip_only:
                with self.store.write() as conn:
                    deliveries.fail(
                        conn, [row.id], "permanent: Trakt keeps this feature for VIP accounts (426)"
                    )
                continue
            outcome = self._attempt([row], partial(self._send_other, row), now)
            if outcome is Outcome.STOP:
                return delivered
            delivered += outcome is Outcome.OK
        return delivered
