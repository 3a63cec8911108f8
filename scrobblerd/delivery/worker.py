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

from scrobblerd import metrics
from scrobblerd.delivery.health import AUTH_RECHECK, DeliveryHealth, Held, Stopped
from scrobblerd.delivery.live import LIVE_RETRY, LIVE_STALE, LiveSignals
from scrobblerd.delivery.match import (
    SCROBBLE_SLACK,
    match_delivered,
    not_found_names,
    same_item,
)
from scrobblerd.delivery.recovery import RECOVERY_WINDOW, recover_inflight
from scrobblerd.errors import AuthError, PermanentError, TransientError
from scrobblerd.models import ActionKind, Item, MediaRef, ScrobbleAction, item_from_json
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.store.deliveries import QueueRow
from scrobblerd.store.history import history_delivered, history_identify
from scrobblerd.store.unsaved import JOURNAL_NAME, UnsavedWatches
from scrobblerd.timefmt import iso_utc, utc_datetime

# The worker's public face: its parts live in delivery_health, delivery_live, delivery_match and
# delivery_recovery; callers import from here.
__all__ = [
    "AUTH_RECHECK",
    "BATCH_SIZE",
    "CONTINUATION_WINDOW",
    "GRACE",
    "LIVE_RETRY",
    "LIVE_STALE",
    "POLL_INTERVAL",
    "POST_INTERVAL",
    "RECOVERY_WINDOW",
    "SCROBBLE_SLACK",
    "DeliveryWorker",
    "Handler",
    "Resolver",
    "TraktClientLike",
    "match_delivered",
    "not_found_names",
    "same_item",
]

log = structlog.get_logger()

TOO_MANY_REQUESTS = 429  # Trakt: rate limited, the request was not processed

# A viewing opened past the threshold within this long after a local watch of the same item is
# that watch carried on (a restart mid-item), not a rewatch.
CONTINUATION_WINDOW = 6 * 3600.0
GRACE = 300.0  # seconds after watched_at during which /scrobble/stop still records the right time
BATCH_SIZE = 1000  # watches per POST /sync/history (Trakt takes arrays; one request per second)
POST_INTERVAL = 1.0  # Trakt: about one POST per second per user
POLL_INTERVAL = 5.0  # the worker looks at the queue this often (notices `queue retry` from the CLI)

Resolver = Callable[[MediaRef, int], Item | None]
Handler = Callable[[dict[str, Any]], None]


class TraktClientLike(Protocol):
    """The part of scrobblerd.trakt.client.TraktClient the worker uses."""

    def scrobble(self, kind: ActionKind, item: Item, progress: float) -> Any: ...

    def add_history(self, watches: Sequence[tuple[Item, datetime]]) -> Any: ...

    def get_history(self, kind: str, start_at: datetime, end_at: datetime) -> Sequence[Any]: ...


class DeliveryWorker:
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
        grace: float = GRACE,
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
        now = self.clock()
        wait = POLL_INTERVAL  # also how often a watch the database refused is tried again
        if self._health.hold_until > now:
            wait = min(wait, self._health.hold_until - now)
        nxt = deliveries.next_due_at(self.store)
        if nxt is not None:
            wait = min(wait, max(nxt, self._health.hold_until) - now)
        return max(wait, 0.05)

    def status(self) -> dict[str, Any]:
        counts = deliveries.counts(self.store)
        health = self._health
        return {
            "queue_depth": counts[deliveries.PENDING] + counts[deliveries.INFLIGHT],
            "failed": counts[deliveries.FAILED],
            "paused_for_auth": health.paused_for_auth,
            "last_error": health.last_error,
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
            if now < self._health.hold_until:
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
            if self.clock() - (row.watched_at or row.created_at) > self.grace:
                overdue.append((row, item))  # pacing made it late: a scrobble now would get the wrong time
                continue
            outcome = self._attempt([row], partial(self._send_stop, row, item), now)
            if outcome == "stop":
                return delivered
            delivered += outcome == "ok"
        if overdue:
            sent = self._send_batch_split(overdue, now)
            if sent < 0:
                return delivered
            delivered += sent
        for row in other:
            outcome = self._attempt([row], partial(self._send_other, row), now)
            if outcome == "stop":
                return delivered
            delivered += outcome == "ok"
        return delivered

    def _identify(self, rows: Sequence[QueueRow], now: float) -> list[tuple[QueueRow, Item]]:
        """Each watch with its Trakt item, resolving (and remembering, in one transaction) those
        seen for the first time. Unidentified ones fail visibly; a network error ends the pass."""
        out: list[tuple[QueueRow, Item]] = []
        learned: list[tuple[QueueRow, Item | None]] = []
        error: TransientError | None = None
        for row in rows:
            if row.payload.get("item"):
                out.append((row, item_from_json(row.payload["item"])))
                continue
            try:
                item = self.resolve(MediaRef.from_json(row.payload["media"]), int(row.payload.get("part", 0)))
            except TransientError as exc:
                error = exc
                self._health.transient([row], exc, now)
                break
            learned.append((row, item))
            if item is not None:
                out.append((row, item))
        if learned:
            self._remember(learned)
        if error is not None:
            raise Held from error
        return out

    def _remember(self, learned: Sequence[tuple[QueueRow, Item | None]]) -> None:
        with self.store.write() as conn:
            for row, item in learned:
                part = int(row.payload.get("part", 0))
                if item is None:
                    media = row.payload.get("media") or {}
                    what = media.get("path") or media.get("title") or "unknown media"
                    deliveries.fail(
                        conn, [row.id], f"unidentified: {what} (add an override, then `queue retry`)"
                    )
                    log.warning("watch_unidentified", queue_id=row.id, media=what)
                else:
                    deliveries.set_payload(conn, row.id, {**row.payload, "item": item.to_json()})
                    history_identify(conn, row.payload["viewing"], part, item)

    # -- sending ---------------------------------------------------------------------------------

    def _attempt(
        self, rows: Sequence[QueueRow], send: Callable[[], None], now: float, *, split: bool = False
    ) -> str:
        """Send with the rows marked in flight: "ok", "permanent" (rows failed, or left in flight
        for the caller to split when `split`), or "stop" (Trakt unreachable/unauthorised)."""
        ids = [r.id for r in rows]
        with self.store.write() as conn:
            deliveries.mark_inflight(conn, ids, now)
        try:
            try:
                send()
            finally:
                self._posted()
        except Stopped:
            with self.store.write() as conn:
                deliveries.reschedule(conn, ids, "interrupted by shutdown", now, count_attempt=False)
            raise
        except AuthError as exc:
            self._health.pause_for_auth(rows, exc, now)
            return "stop"
        except TransientError as exc:
            self._health.transient(rows, exc, now)
            if exc.status != TOO_MANY_REQUESTS and any(r.kind == deliveries.WATCH for r in rows):
                # The request may have reached Trakt (a timeout, a dropped connection, a 5xx):
                # keep the rows in flight, so the next pass checks Trakt's history before resending.
                with self.store.write() as conn:
                    deliveries.mark_inflight(conn, ids, now)
            return "stop"
        except PermanentError as exc:
            if not split:
                with self.store.write() as conn:
                    deliveries.fail(conn, ids, f"permanent: {exc}")
                log.warning("delivery_failed", queue_ids=ids, error=str(exc), status=exc.status)
                _count_watches([], rows, now, result="failed")
            return "permanent"
        return "ok"

    def _send_batch_split(self, batch: Sequence[tuple[QueueRow, Item]], now: float) -> int:
        """Send a batch; a permanent error on several rows bisects it to find the bad ones.
        Returns rows delivered, or -1 when delivery must stop for now."""
        rows = [r for r, _ in batch]
        outcome = self._attempt(rows, lambda: self._send_batch(batch), now, split=len(batch) > 1)
        if outcome == "stop":
            return -1
        if outcome == "ok":
            return self._batch_delivered
        if len(batch) == 1:
            return 0
        half = len(batch) // 2
        first = self._send_batch_split(batch[:half], now)
        if first < 0:
            with self.store.write() as conn:
                deliveries.reschedule(
                    conn, [r.id for r, _ in batch[half:]], "deferred", now, count_attempt=False
                )
            return -1
        second = self._send_batch_split(batch[half:], now)
        return -1 if second < 0 else first + second

    def _send_batch(self, batch: Sequence[tuple[QueueRow, Item]]) -> None:
        self._pace()
        result = self.client.add_history(
            [(item, utc_datetime(row.watched_at or row.created_at)) for row, item in batch]
        )
        not_found = getattr(result, "not_found", None)
        missing = [row for row, item in batch if not_found_names(not_found or {}, item)]
        missing_ids = {r.id for r in missing}
        done = [(row, None) for row, _ in batch if row.id not in missing_ids]
        self._complete(done, missing)
        self._batch_delivered = len(done)
        log.info("history_synced", watches=len(done), not_found=len(missing))

    def _send_stop(self, row: QueueRow, item: Item) -> None:
        self._pace()
        result = self.client.scrobble(ActionKind.STOP, item, float(row.payload["progress"]))
        conflict = bool(getattr(result, "conflict", False))
        history_id = getattr(result, "history_id", None)
        self._complete([(row, history_id if isinstance(history_id, int) else None)], [])
        log.info("watch_scrobbled", queue_id=row.id, already_recorded=conflict, history_id=history_id)

    def _send_other(self, row: QueueRow) -> None:
        self._pace()
        self.handlers[row.kind](dict(row.payload))
        self._complete([(row, None)], [])
        log.info("queued_item_sent", queue_id=row.id, kind=row.kind)

    def _pace(self) -> None:
        """Wait until one `post_interval` (Trakt's limit) has passed since the last POST ended."""
        wait = self._last_post + self.post_interval - time.monotonic()
        if wait > 0 and self._stop.wait(wait):
            raise Stopped

    def _send_live(self, kind: ActionKind, item: Item, progress: float) -> None:
        self._pace()
        try:
            self.client.scrobble(kind, item, progress)
        finally:
            self._posted()

    def _posted(self) -> None:
        """Pace from the end of the previous POST: Trakt counts arrivals, and ours may queue up."""
        self._last_post = time.monotonic()

    def _complete(self, done: Sequence[tuple[QueueRow, int | None]], missing: Sequence[QueueRow]) -> None:
        with self.store.write() as conn:
            deliveries.delete(conn, [r.id for r, _ in done])
            for row, history_id in done:
                if row.kind == deliveries.WATCH:
                    history_delivered(
                        conn, row.payload["viewing"], int(row.payload.get("part", 0)), history_id
                    )
            if missing:
                deliveries.fail(
                    conn,
                    [r.id for r in missing],
                    "not_found: Trakt does not know this item (fix identification, then `queue retry`)",
                )
        if missing:
            log.warning("delivery_not_found", queue_ids=[r.id for r in missing])
        if done:
            self._health.delivered()
        _count_watches([r for r, _ in done], missing, self.clock())


def _count_watches(
    done: Sequence[QueueRow], failed: Sequence[QueueRow], now: float, *, result: str = "not_found"
) -> None:
    """Metrics: each queued watch Trakt took (with its latency from the player's stop) or refused."""
    for row in done:
        if row.kind == deliveries.WATCH:
            metrics.count(metrics.SCROBBLES, action="stop", result="ok")
            metrics.observe(metrics.DELIVERY_LATENCY, now - (row.watched_at or row.created_at))
    for row in failed:
        if row.kind == deliveries.WATCH:
            metrics.count(metrics.SCROBBLES, action="stop", result=result)
