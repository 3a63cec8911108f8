"""The "now watching" signals: the latest start/pause per player, kept in memory until sent.

They are news, not records: dropped when superseded or stale (a pause is kept until superseded:
it is the resume point). The dispatcher thread puts them; the delivery worker flushes them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from scrobblerd import metrics
from scrobblerd.delivery.health import DeliveryHealth, Held
from scrobblerd.errors import AuthError, PermanentError, TransientError
from scrobblerd.models import ActionKind, Item, MediaRef, ScrobbleAction

log = structlog.get_logger()

LIVE_STALE = 600.0  # a start/stop signal not sent within this many seconds is no longer news
LIVE_RETRY = 15.0  # seconds before a failed start/pause signal is tried again


@dataclass
class _Live:
    action: ScrobbleAction
    next_try: float = 0.0


class LiveSignals:
    """The pending signal of each player, safe to put from one thread and flush from another."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, _Live] = {}

    def put(self, action: ScrobbleAction) -> None:
        with self._lock:
            self._live[action.player] = _Live(action)

    def discard(self, player: str) -> None:
        with self._lock:
            self._live.pop(player, None)

    def __len__(self) -> int:
        return len(self._live)

    def next_try(self) -> float | None:
        """When the earliest pending signal may be sent (or retried), or None when none waits."""
        with self._lock:
            return min((live.next_try for live in self._live.values()), default=None)

    def flush(
        self,
        now: float,
        resolve: Callable[[MediaRef, int], Item | None],
        send: Callable[[ActionKind, Item, float], None],
        health: DeliveryHealth,
    ) -> None:
        """Send what is due with `send`; an unauthorised Trakt ends the pass (Held)."""
        with self._lock:
            pending = list(self._live.items())
        for player, live in pending:
            action = live.action
            if live.next_try > now:
                continue
            if action.kind is not ActionKind.PAUSE and now - action.at > LIVE_STALE:
                self._drop(player, live, "stale")
                continue
            try:
                item = resolve(action.media, action.part)
                if item is None:
                    self._drop(player, live, "unidentified")
                    continue
                send(action.kind, item, action.progress)
            except AuthError as exc:
                health.pause_for_auth([], exc, now)
                raise Held from exc
            except TransientError as exc:
                live.next_try = now + (exc.retry_after or LIVE_RETRY)
                if exc.retry_after:
                    health.hold_until = max(health.hold_until, now + exc.retry_after)
                health.note_error(str(exc))
                return
            except PermanentError as exc:
                self._drop(player, live, f"permanent: {exc}")
                continue
            self._drop(player, live, None)

    def _drop(self, player: str, live: _Live, reason: str | None) -> None:
        with self._lock:
            if self._live.get(player) is live:
                del self._live[player]
        action = live.action.kind.value
        metrics.count(metrics.SCROBBLES, action=action, result=(reason or "ok").split(":")[0])
        if reason is None:
            metrics.observe(metrics.DELIVERY_LATENCY, time.time() - live.action.at)
        if reason is None:
            log.debug(
                "live_sent", player=player, action=live.action.kind.value, progress=live.action.progress
            )
        else:
            log.info("live_dropped", player=player, action=live.action.kind.value, reason=reason)
