"""Delivery's back-off and health: when Trakt may be tried again, and what `status` shows.

Owned by the delivery worker's thread; `scrobblerd status` (another process) reads what
`publish` leaves in the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import structlog

from scrobblerd.errors import AccountLockedError, AuthError, TransientError
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.store.deliveries import QueueRow
from scrobblerd.timefmt import iso_utc

log = structlog.get_logger()

AUTH_RECHECK = 60.0  # seconds between retries while Trakt answers 401
# While watches wait on a transient failure (no Retry-After), a cheap GET this often tells when Trakt
# answers again, so delivery restarts within this long of its return however long the outage was.
PROBE_INTERVAL = 10.0
TOO_MANY_REQUESTS = 429  # Trakt: rate limited, the request was not processed


class Stopped(Exception):
    """The worker is stopping while waiting for its turn to POST."""


class Held(Exception):
    """Trakt (or identification) is unreachable: this pass ends, the back-off is set."""


class DeliveryHealth:
    """The back-off (`hold_until`) and the last error; logs when delivery stops and resumes."""

    def __init__(self, store: Store, clock: Callable[[], float], rand: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self._rand = rand
        self.hold_until = 0.0
        self.probing = False  # the hold may end early: a probe finds Trakt answering again
        self.probe_at = 0.0
        self.account_locked = False
        self.paused_for_auth = False
        self.last_error: str | None = None
        self.last_delivered_at: float | None = None

    def transient(self, rows: Sequence[QueueRow], exc: TransientError, now: float) -> None:
        attempts = max((r.attempts for r in rows), default=0) + 1
        now = max(now, self.clock())  # Retry-After counts from the answer, not from the start of the pass
        if exc.retry_after:
            at = now + exc.retry_after
        elif rows:
            at = deliveries.next_attempt(attempts, now, self._rand())
        else:  # a read (a history check) failed: it doubles as the probe, so at most one per interval
            at = now + PROBE_INTERVAL
        if rows:
            with self.store.write() as conn:
                deliveries.reschedule(conn, [r.id for r in rows], str(exc), at)
        self.hold_until = max(self.hold_until, at)
        # Retry-After (a 429, a locked account) is Trakt's own word on when: honoured, not probed;
        # a 429 without it backs off (growing, capped) rather than asking again every interval.
        self.probing = exc.retry_after is None and exc.status != TOO_MANY_REQUESTS
        self.probe_at = min(at, now + PROBE_INTERVAL)
        locked = isinstance(exc, AccountLockedError)
        if locked and not self.account_locked:
            log.error(
                "trakt_account_locked",
                error=str(exc),
                hint="writes pause and are tried every two minutes; see trakt.tv",
            )
        self.account_locked = locked
        self.note_error(str(exc), retry_at=iso_utc(at))

    def pause_for_auth(self, rows: Sequence[QueueRow], exc: AuthError, now: float) -> None:
        if rows:
            with self.store.write() as conn:
                deliveries.reschedule(
                    conn, [r.id for r in rows], f"unauthorized: {exc}", now, count_attempt=False
                )
        self.hold_until = now + AUTH_RECHECK
        self.probing = False
        if not self.paused_for_auth:
            self.paused_for_auth = True
            log.error("delivery_paused_unauthorized", error=str(exc), hint="run `scrobblerd auth`")
        self.note_error(f"unauthorized: {exc}")

    def note_error(self, message: str, **kv: Any) -> None:
        if message != self.last_error:
            log.warning("delivery_deferred", error=message, **kv)
            self.last_error = message
            self.publish()

    def delivered(self) -> None:
        self.last_delivered_at = self.clock()
        self.healthy()

    def healthy(self) -> None:
        self.probing = False
        self.account_locked = False
        if self.paused_for_auth or self.last_error is not None:
            log.info("delivery_resumed", after=self.last_error)
            self.paused_for_auth = False
            self.last_error = None
            self.publish()

    def publish(self) -> None:
        """Leave the worker's state where `scrobblerd status` (another process) can read it."""
        self.store.kv_put(
            "delivery",
            {
                "paused_for_auth": self.paused_for_auth,
                "last_error": self.last_error,
                "updated_at": iso_utc(self.clock()),
            },
        )
