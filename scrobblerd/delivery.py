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
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

import structlog

from scrobblerd import queue
from scrobblerd.errors import AuthError, PermanentError, TransientError
from scrobblerd.models import ActionKind, Episode, Item, MediaRef, Movie, ScrobbleAction, item_from_json
from scrobblerd.queue import QueueRow
from scrobblerd.store import Store, history_delivered, history_identify, iso_utc

log = structlog.get_logger()

# A viewing opened past the threshold within this long after a local watch of the same item is
# that watch carried on (a restart mid-item), not a rewatch.
CONTINUATION_WINDOW = 6 * 3600.0
GRACE = 300.0  # seconds after watched_at during which /scrobble/stop still records the right time
BATCH_SIZE = 1000  # watches per POST /sync/history (Trakt takes arrays; one request per second)
POST_INTERVAL = 1.0  # Trakt: about one POST per second per user
AUTH_RECHECK = 60.0  # seconds between retries while Trakt answers 401
POLL_INTERVAL = 5.0  # the worker looks at the queue this often (notices `queue retry` from the CLI)
LIVE_STALE = 600.0  # a start/stop signal not sent within this many seconds is no longer news
LIVE_RETRY = 15.0  # seconds before a failed start/pause signal is tried again
RECOVERY_WINDOW = 600.0  # seconds around an interrupted send searched in Trakt's history
SCROBBLE_SLACK = 60.0  # Trakt stamps a scrobble at its arrival: up to grace + this after watched_at

Resolver = Callable[[MediaRef, int], Item | None]
Handler = Callable[[dict[str, Any]], None]


class TraktClientLike(Protocol):
    """The part of scrobblerd.trakt.TraktClient the worker uses."""

    def scrobble(self, kind: ActionKind, item: Item, progress: float) -> Any: ...

    def add_history(self, watches: Sequence[tuple[Item, datetime]]) -> Any: ...

    def get_history(self, kind: str, start_at: datetime, end_at: datetime) -> Sequence[Any]: ...


class _Stopped(Exception):
    """The worker is stopping while waiting for its turn to POST."""


class _Held(Exception):
    """Trakt (or identification) is unreachable: this pass ends, the back-off is set."""


@dataclass
class _Live:
    action: ScrobbleAction
    next_try: float = 0.0


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _shares_id(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return any(k in b and a[k] not in (None, "") and str(a[k]) == str(b[k]) for k in a)


def same_item(a: Item, b: Item) -> bool:
    """Whether two items are the same movie/episode (ids first; an episode also by show + number)."""
    if isinstance(a, Episode) and isinstance(b, Episode):
        if a.ids and b.ids and any(k in b.ids for k in a.ids):
            return _shares_id(a.ids, b.ids)
        return _shares_id(a.show.ids, b.show.ids) and (a.season, a.number) == (b.season, b.number)
    if isinstance(a, Episode) or isinstance(b, Episode):
        return False
    return _shares_id(a.ids, b.ids)


def match_delivered(
    stuck: Sequence[tuple[int, Item, float, float]],
    remote: Sequence[tuple[Item, float]],
    local: Sequence[tuple[Item, float]],
    grace: float,
) -> set[int]:
    """Which interrupted rows Trakt already has. Pure.

    `stuck` is (row id, item, earliest, latest) where Trakt's entry may stand; `remote` is Trakt's
    history around them; `local` our delivered watches there, which first claim their own entries
    (a sync entry carries our watched_at, a scrobble its arrival up to grace later). Each remote
    entry proves at most one row, so a rewatch is never taken for a duplicate.
    """
    free = sorted(remote, key=lambda e: e[1])
    for item, at in local:
        near = [e for e in free if same_item(item, e[0]) and at - 2 <= e[1] <= at + grace + SCROBBLE_SLACK]
        if near:
            free.remove(min(near, key=lambda e: abs(e[1] - at)))
    found: set[int] = set()
    for row_id, item, lo, hi in sorted(stuck, key=lambda s: s[2]):
        hit = next((e for e in free if same_item(item, e[0]) and lo <= e[1] <= hi), None)
        if hit is not None:
            free.remove(hit)
            found.add(row_id)
    return found


def _names(entry: dict[str, Any], ids: dict[str, Any], title: str | None) -> bool:
    """Whether a raw Trakt object names the thing with these ids (else this title)."""
    theirs = dict(entry.get("ids") or {})
    if theirs and ids:
        return _shares_id(theirs, ids)
    return bool(title) and str(entry.get("title") or "").casefold() == str(title).casefold()


def _episode_listed(show_entry: dict[str, Any], ep: Episode) -> bool:
    seasons = show_entry.get("seasons")
    if not seasons:
        return True
    for season in seasons:
        if season.get("number") == ep.season:
            numbers = [e.get("number") for e in season.get("episodes") or []]
            return not numbers or ep.number in numbers
    return False


def not_found_names(not_found: dict[str, list[Any]], item: Item) -> bool:
    """Whether Trakt's `not_found` (raw movies/shows/episodes lists of /sync/history) names this item."""
    for key, entries in (not_found or {}).items():
        for entry in entries or []:
            if not isinstance(entry, dict):
                continue
            if isinstance(item, Movie):
                if key == "movies" and _names(entry, dict(item.ids), item.title):
                    return True
            elif key == "shows":
                if _names(entry, dict(item.show.ids), item.show.title) and _episode_listed(entry, item):
                    return True
            elif key == "episodes" and (
                _shares_id(dict(entry.get("ids") or {}), dict(item.ids))
                or (
                    (entry.get("season"), entry.get("number")) == (item.season, item.number)
                    and _names(dict(entry.get("show") or {}), dict(item.show.ids), item.show.title)
                )
            ):
                return True
    return False


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
    ) -> None:
        self.store = store
        self.client = client
        self.resolve = resolve
        self.grace = grace
        self.clock = clock
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.batch_size = batch_size
        self.post_interval = post_interval
        self._rand = rand
        self._run_lock = threading.Lock()
        self._live_lock = threading.Lock()
        self._live: dict[str, _Live] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_post = -1e18  # monotonic time of the last POST
        self._hold_until = 0.0
        self._paused_for_auth = False
        self._last_error: str | None = None
        self._last_delivered_at: float | None = None
        self._batch_delivered = 0

    # -- the dispatcher's side -------------------------------------------------------------------

    def submit(self, action: ScrobbleAction) -> None:
        """A decision of the state machine. A watched stop is durable when this returns."""
        if (
            action.kind is ActionKind.STOP
            and action.watched
            and action.late
            and self._continues_watch(action)
        ):
            log.info("watch_continued", viewing=action.viewing, part=action.part, media=action.media.key)
            with self._live_lock:
                self._live.pop(action.player, None)
            return
        if action.kind is ActionKind.STOP and action.watched:
            row_id = queue.enqueue_watch(self.store, action, self.clock())
            log.info(
                "watch_queued",
                viewing=action.viewing,
                part=action.part,
                queue_id=row_id,
                duplicate=row_id is None,
            )
            with self._live_lock:
                self._live.pop(action.player, None)
        else:
            with self._live_lock:
                self._live[action.player] = _Live(action)
        self.wake()

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
        row_id = queue.enqueue(self.store, kind, payload, self.clock(), dedupe=dedupe)
        self.wake()
        return row_id

    def register_handler(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
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
        self._hold_until = 0.0
        self.wake()

    def _loop(self) -> None:
        log.info("delivery_started")
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("delivery_run_failed")
            self._wake.wait(self._idle_wait())
            self._wake.clear()
        log.info("delivery_stopped")

    def _idle_wait(self) -> float:
        now = self.clock()
        wait = POLL_INTERVAL
        if self._hold_until > now:
            wait = min(wait, self._hold_until - now)
        nxt = queue.next_due_at(self.store)
        if nxt is not None:
            wait = min(wait, max(nxt, self._hold_until) - now)
        return max(wait, 0.05)

    def status(self) -> dict[str, Any]:
        counts = queue.counts(self.store)
        return {
            "queue_depth": counts[queue.PENDING] + counts[queue.INFLIGHT],
            "failed": counts[queue.FAILED],
            "paused_for_auth": self._paused_for_auth,
            "last_error": self._last_error,
            "retry_at": iso_utc(self._hold_until) if self._hold_until > self.clock() else None,
            "last_delivered_at": iso_utc(self._last_delivered_at) if self._last_delivered_at else None,
            "live_pending": len(self._live),
        }

    # -- one pass --------------------------------------------------------------------------------

    def run_once(self, now: float | None = None) -> int:
        """Send what is due; returns how many queued rows were delivered."""
        with self._run_lock:
            now = self.clock() if now is None else now
            if now < self._hold_until:
                return 0
            try:
                self._flush_live(now)
                recovered = self._recover(now)
                if recovered < 0:
                    return 0
                return recovered + self._deliver_due(now)
            except (_Stopped, _Held):
                return 0

    def _deliver_due(self, now: float) -> int:
        rows = queue.due(self.store, now)
        recent: list[tuple[QueueRow, Item]] = []
        late: list[tuple[QueueRow, Item]] = []
        for row, item in self._identify([r for r in rows if r.kind == queue.WATCH], now):
            at = row.watched_at or row.created_at
            (recent if now - at <= self.grace else late).append((row, item))
        other = [r for r in rows if r.kind != queue.WATCH and r.kind in self.handlers]
        delivered = 0
        for start in range(0, len(late), self.batch_size):
            sent = self._send_batch_split(late[start : start + self.batch_size], now)
            if sent < 0:
                return delivered
            delivered += sent
        for row, item in recent:
            outcome = self._attempt([row], partial(self._send_stop, row, item), now)
            if outcome == "stop":
                return delivered
            delivered += outcome == "ok"
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
                self._transient([row], exc, now)
                break
            learned.append((row, item))
            if item is not None:
                out.append((row, item))
        if learned:
            self._remember(learned)
        if error is not None:
            raise _Held from error
        return out

    def _remember(self, learned: Sequence[tuple[QueueRow, Item | None]]) -> None:
        with self.store.write() as conn:
            for row, item in learned:
                part = int(row.payload.get("part", 0))
                if item is None:
                    media = row.payload.get("media") or {}
                    what = media.get("path") or media.get("title") or "unknown media"
                    queue.fail(conn, [row.id], f"unidentified: {what} (add an override, then `queue retry`)")
                    log.warning("watch_unidentified", queue_id=row.id, media=what)
                else:
                    queue.set_payload(conn, row.id, {**row.payload, "item": item.to_json()})
                    history_identify(conn, row.payload["viewing"], part, item)

    # -- sending ---------------------------------------------------------------------------------

    def _attempt(
        self, rows: Sequence[QueueRow], send: Callable[[], None], now: float, *, split: bool = False
    ) -> str:
        """Send with the rows marked in flight: "ok", "permanent" (rows failed, or left in flight
        for the caller to split when `split`), or "stop" (Trakt unreachable/unauthorised)."""
        ids = [r.id for r in rows]
        with self.store.write() as conn:
            queue.mark_inflight(conn, ids, now)
        try:
            try:
                send()
            finally:
                self._posted()
        except _Stopped:
            with self.store.write() as conn:
                queue.reschedule(conn, ids, "interrupted by shutdown", now, count_attempt=False)
            raise
        except AuthError as exc:
            self._pause_for_auth(rows, exc, now)
            return "stop"
        except TransientError as exc:
            self._transient(rows, exc, now)
            return "stop"
        except PermanentError as exc:
            if not split:
                with self.store.write() as conn:
                    queue.fail(conn, ids, f"permanent: {exc}")
                log.warning("delivery_failed", queue_ids=ids, error=str(exc), status=exc.status)
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
                queue.reschedule(conn, [r.id for r, _ in batch[half:]], "deferred", now, count_attempt=False)
            return -1
        second = self._send_batch_split(batch[half:], now)
        return -1 if second < 0 else first + second

    def _send_batch(self, batch: Sequence[tuple[QueueRow, Item]]) -> None:
        self._pace()
        result = self.client.add_history(
            [(item, _utc(row.watched_at or row.created_at)) for row, item in batch]
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
            raise _Stopped

    def _posted(self) -> None:
        """Pace from the end of the previous POST: Trakt counts arrivals, and ours may queue up."""
        self._last_post = time.monotonic()

    def _complete(self, done: Sequence[tuple[QueueRow, int | None]], missing: Sequence[QueueRow]) -> None:
        with self.store.write() as conn:
            queue.delete(conn, [r.id for r, _ in done])
            for row, history_id in done:
                if row.kind == queue.WATCH:
                    history_delivered(
                        conn, row.payload["viewing"], int(row.payload.get("part", 0)), history_id
                    )
            if missing:
                queue.fail(
                    conn,
                    [r.id for r in missing],
                    "not_found: Trakt does not know this item (fix identification, then `queue retry`)",
                )
        if missing:
            log.warning("delivery_not_found", queue_ids=[r.id for r in missing])
        if done:
            self._last_delivered_at = self.clock()
            self._healthy()

    # -- failure bookkeeping -----------------------------------------------------------------------

    def _transient(self, rows: Sequence[QueueRow], exc: TransientError, now: float) -> None:
        attempts = max((r.attempts for r in rows), default=0) + 1
        now = max(now, self.clock())  # Retry-After counts from the answer, not from the start of the pass
        at = now + exc.retry_after if exc.retry_after else queue.next_attempt(attempts, now, self._rand())
        if rows:
            with self.store.write() as conn:
                queue.reschedule(conn, [r.id for r in rows], str(exc), at)
        self._hold_until = max(self._hold_until, at)
        self._note_error(str(exc), retry_at=iso_utc(at))

    def _pause_for_auth(self, rows: Sequence[QueueRow], exc: AuthError, now: float) -> None:
        if rows:
            with self.store.write() as conn:
                queue.reschedule(conn, [r.id for r in rows], f"unauthorized: {exc}", now, count_attempt=False)
        self._hold_until = now + AUTH_RECHECK
        if not self._paused_for_auth:
            self._paused_for_auth = True
            log.error("delivery_paused_unauthorized", error=str(exc), hint="run `scrobblerd auth`")
        self._note_error(f"unauthorized: {exc}")

    def _note_error(self, message: str, **kv: Any) -> None:
        if message != self._last_error:
            log.warning("delivery_deferred", error=message, **kv)
            self._last_error = message
            self._publish()

    def _healthy(self) -> None:
        if self._paused_for_auth or self._last_error is not None:
            log.info("delivery_resumed", after=self._last_error)
            self._paused_for_auth = False
            self._last_error = None
            self._publish()

    def _publish(self) -> None:
        """Leave the worker's state where `scrobblerd status` (another process) can read it."""
        self.store.kv_put(
            "delivery",
            {
                "paused_for_auth": self._paused_for_auth,
                "last_error": self._last_error,
                "updated_at": iso_utc(self.clock()),
            },
        )

    # -- rows left in flight by a crash --------------------------------------------------------------

    def _recover(self, now: float) -> int:
        """Settle rows a previous process left in flight: delivered if Trakt's history has them,
        else back to pending. Returns how many were delivered; -1 when Trakt could not be asked."""
        stuck = queue.rows(self.store, queue.INFLIGHT)
        if not stuck:
            return 0
        checkable = [
            (r, item_from_json(r.payload["item"]))
            for r in stuck
            if r.kind == queue.WATCH and r.payload.get("item")
        ]
        try:
            found = self._already_on_trakt(checkable)
        except AuthError as exc:
            self._pause_for_auth([], exc, now)
            return -1
        except TransientError as exc:
            self._transient([], exc, now)
            return -1
        done = [(r, None) for r, _ in checkable if r.id in found]
        again = [r.id for r in stuck if r.id not in found]
        if again:
            with self.store.write() as conn:
                queue.reschedule(
                    conn,
                    again,
                    "interrupted while sending; not on Trakt, resending",
                    now,
                    count_attempt=False,
                )
        if done:
            self._complete(done, [])
        log.info("delivery_recovered", already_delivered=len(done), resending=len(again))
        return len(done)

    def _already_on_trakt(self, checkable: Sequence[tuple[QueueRow, Item]]) -> set[int]:
        found: set[int] = set()
        for kind, cls in (("movies", Movie), ("episodes", Episode)):
            group = [(r, item) for r, item in checkable if isinstance(item, cls)]
            if not group:
                continue
            windows = []
            for row, item in group:
                at = row.watched_at or row.created_at
                sent = max(at, row.inflight_at or at)
                windows.append((row.id, item, at - RECOVERY_WINDOW, sent + RECOVERY_WINDOW))
            lo, hi = min(w[2] for w in windows), max(w[3] for w in windows)
            remote = [(e.item, _ts(e.watched_at)) for e in self.client.get_history(kind, _utc(lo), _utc(hi))]
            local = [
                (item_from_json(h.item), h.watched_at)
                for h in self.store.history_delivered_between(lo - self.grace - SCROBBLE_SLACK, hi + 2)
                if h.item
            ]
            found |= match_delivered(windows, remote, local, self.grace)
        return found

    # -- "now watching" signals --------------------------------------------------------------------

    def _flush_live(self, now: float) -> None:
        with self._live_lock:
            pending = list(self._live.items())
        for player, live in pending:
            action = live.action
            if live.next_try > now:
                continue
            if action.kind is not ActionKind.PAUSE and now - action.at > LIVE_STALE:
                self._drop_live(player, live, "stale")
                continue
            try:
                item = self.resolve(action.media, action.part)
                if item is None:
                    self._drop_live(player, live, "unidentified")
                    continue
                self._pace()
                try:
                    self.client.scrobble(action.kind, item, action.progress)
                finally:
                    self._posted()
            except AuthError as exc:
                self._pause_for_auth([], exc, now)
                raise _Held from exc
            except TransientError as exc:
                live.next_try = now + (exc.retry_after or LIVE_RETRY)
                if exc.retry_after:
                    self._hold_until = max(self._hold_until, now + exc.retry_after)
                self._note_error(str(exc))
                return
            except PermanentError as exc:
                self._drop_live(player, live, f"permanent: {exc}")
                continue
            self._drop_live(player, live, None)

    def _drop_live(self, player: str, live: _Live, reason: str | None) -> None:
        with self._live_lock:
            if self._live.get(player) is live:
                del self._live[player]
        if reason is None:
            log.debug(
                "live_sent", player=player, action=live.action.kind.value, progress=live.action.progress
            )
        else:
            log.info("live_dropped", player=player, action=live.action.kind.value, reason=reason)


def _ts(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return float(value)
