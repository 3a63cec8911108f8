"""Sending queued rows to Trakt: each attempt marks its rows in flight, sends, and settles them
by the outcome; batches that Trakt refuses are bisected to find the bad rows; every POST keeps
Trakt's pace of one a second. The worker (worker.py) decides what goes when."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import structlog

from scrobblerd import metrics
from scrobblerd.delivery.health import DeliveryHealth, Held, Stopped
from scrobblerd.delivery.match import not_found_names
from scrobblerd.errors import AuthError, PermanentError, TransientError, VipOnlyError
from scrobblerd.models import ActionKind, Item, MediaRef, item_from_json
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.store.deliveries import QueueRow
from scrobblerd.store.history import history_delivered, history_identify
from scrobblerd.timefmt import utc_datetime

log = structlog.get_logger()

TOO_MANY_REQUESTS = 429  # Trakt: rate limited, the request was not processed


class Outcome(Enum):
    OK = "ok"  # Trakt took it
    PERMANENT = "permanent"  # Trakt refused it for good (the rows failed, or are left to bisect)
    STOP = "stop"  # Trakt unreachable or unauthorised: this pass ends


class Sending:
    """The worker's sending half (a mixin: the worker owns the attributes)."""

    store: Store
    client: Any
    clock: Callable[[], float]
    handlers: dict[str, Callable[[dict[str, Any]], None]]
    post_interval: float
    _health: DeliveryHealth
    _stop: threading.Event
    _last_post: float
    _batch_delivered: int
    _vip_only: set[str]
    resolve: Callable[[MediaRef, int], Item | None]

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
                        conn, [row.id], f"unidentified: {what} (correct it with `scrobblerd identify --fix`)"
                    )
                    log.warning("watch_unidentified", queue_id=row.id, media=what)
                else:
                    deliveries.set_payload(conn, row.id, {**row.payload, "item": item.to_json()})
                    history_identify(conn, row.payload["viewing"], part, item)

    def _attempt(
        self, rows: Sequence[QueueRow], send: Callable[[], None], now: float, *, split: bool = False
    ) -> Outcome:
        """Send with the rows marked in flight: OK, PERMANENT (rows failed, or left in flight for
        the caller to split when `split`), or STOP (Trakt unreachable or unauthorised)."""
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
            return Outcome.STOP
        except TransientError as exc:
            self._health.transient(rows, exc, now)
            if exc.status != TOO_MANY_REQUESTS and any(r.kind == deliveries.WATCH for r in rows):
                # The request may have reached Trakt (a timeout, a dropped connection, a 5xx):
                # keep the rows in flight, so the next pass checks Trakt's history before resending.
                with self.store.write() as conn:
                    deliveries.mark_inflight(conn, ids, now)
            return Outcome.STOP
        except PermanentError as exc:
            if isinstance(exc, VipOnlyError):
                self._vip_feature_off(rows, exc)
            if not split:
                with self.store.write() as conn:
                    deliveries.fail(conn, ids, f"permanent: {exc}")
                log.warning("delivery_failed", queue_ids=ids, error=str(exc), status=exc.status)
                _count_watches([], rows, now, result="failed")
            return Outcome.PERMANENT
        return Outcome.OK

    def _vip_feature_off(self, rows: Sequence[QueueRow], exc: VipOnlyError) -> None:
        """426: what these rows ask for needs a VIP account. Said once; later rows of the kind fail
        without asking Trakt again (until the daemon restarts)."""
        for kind in {r.kind for r in rows} - self._vip_only:
            self._vip_only.add(kind)
            log.warning(
                "trakt_vip_only", kind=kind, error=str(exc), hint="this feature is off for this account"
            )

    def _send_batch_split(self, batch: Sequence[tuple[QueueRow, Item]], now: float) -> int:
        """Send a batch; a permanent error on several rows bisects it to find the bad ones.
        Returns rows delivered, or -1 when delivery must stop for now."""
        rows = [r for r, _ in batch]
        outcome = self._attempt(rows, lambda: self._send_batch(batch), now, split=len(batch) > 1)
        if outcome is Outcome.STOP:
            return -1
        if outcome is Outcome.OK:
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

    def _pace_wait(self) -> float:
        """Seconds until the next POST may go (one `post_interval`, Trakt's limit, after the last)."""
        return max(0.0, self._last_post + self.post_interval - time.monotonic())

    def _pace(self) -> None:
        """Wait until one `post_interval` (Trakt's limit) has passed since the last POST ended."""
        wait = self._pace_wait()
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
                    "not_found: Trakt does not know this item (correct it with `scrobblerd identify --fix`)",
                )
        if missing:
            log.warning("delivery_not_found", queue_ids=[r.id for r in missing])
        if done:
            if self._health.last_error is not None:  # back from a failure: the rest need not wait
                with self.store.write() as conn:
                    deliveries.make_due(conn, self.clock())
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
