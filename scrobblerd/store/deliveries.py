"""The durable delivery queue: rows that must reach Trakt, and the pure retry schedule.

A row is `pending` (waiting for `next_attempt_at`), `inflight` (being sent right now; one left
behind by a crash is checked against Trakt before any resend) or `failed` (a permanent error;
only `scrobblerd queue retry` brings it back). Delivered rows are deleted; the history table
keeps the record of watches.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from scrobblerd.models import ActionKind, MediaRef, ScrobbleAction
from scrobblerd.store.db import Store
from scrobblerd.store.history import HistoryRecord, history_insert
from scrobblerd.timefmt import iso_utc

WATCH = "watch"
RATING = "rating"
PENDING, INFLIGHT, FAILED = "pending", "inflight", "failed"

BACKOFF_BASE = 10.0  # seconds before the first retry
BACKOFF_CAP = 30 * 60.0  # the longest wait between two attempts (the issue: capped at 30 min)


def next_attempt(attempts: int, now: float, rand: float) -> float:
    """When to try again after `attempts` failures: exponential backoff, jittered, capped.

    `rand` in [0, 1) spreads retries over [delay/2, delay) so many items do not retry in lockstep.
    """
    exponent = min(max(attempts - 1, 0), 32)
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2.0**exponent)
    return now + delay * (0.5 + 0.5 * min(max(rand, 0.0), 1.0))


@dataclass(frozen=True, slots=True)
class QueueRow:
    id: int
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    watched_at: float | None
    inflight_at: float | None
    dedupe: str | None

    def item_json(self) -> dict[str, Any]:
        """What `queue list` shows as `item`."""
        if self.kind != WATCH:
            return dict(self.payload)
        media = self.payload.get("media") or {}
        item = self.payload.get("item")
        out: dict[str, Any] = {
            "identified": item is not None,
            "path": media.get("path"),
            "watched_at": iso_utc(self.watched_at or self.created_at),
            "progress": self.payload.get("progress"),
        }
        if item is None:
            title = media.get("show_title") or media.get("title")
            if not title and media.get("path"):
                title = PurePosixPath(str(media["path"])).name
            out.update(
                type=media.get("kind"),
                title=title,
                year=media.get("year"),
                season=media.get("season"),
                episode=media.get("episode"),
                ids=media.get("ids") or {},
            )
        elif item.get("type") == "episode":
            show = item.get("show") or {}
            out.update(
                type="episode",
                title=show.get("title"),
                year=show.get("year"),
                season=item.get("season"),
                episode=item.get("number"),
                ids=item.get("ids") or {},
            )
        else:
            out.update(
                type="movie",
                title=item.get("title"),
                year=item.get("year"),
                season=None,
                episode=None,
                ids=item.get("ids") or {},
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """The `queue list --json` shape (INTERFACE.md), plus `status`."""
        return {
            "id": self.id,
            "kind": self.kind,
            "item": self.item_json(),
            "attempts": self.attempts,
            "next_attempt_at": iso_utc(self.next_attempt_at),
            "last_error": self.last_error,
            "status": self.status,
        }


def watch_payload(action: ScrobbleAction) -> dict[str, Any]:
    return {
        "player": action.player,
        "viewing": action.viewing,
        "media": action.media.to_json(),
        "progress": action.progress,
        "at": action.at,
        "part": action.part,
        "parts": action.parts,
    }


def watch_action(payload: dict[str, Any]) -> ScrobbleAction:
    """Inverse of watch_payload."""
    return ScrobbleAction(
        kind=ActionKind.STOP,
        player=payload["player"],
        viewing=payload["viewing"],
        media=MediaRef.from_json(payload["media"]),
        progress=float(payload["progress"]),
        at=float(payload["at"]),
        watched=True,
        part=int(payload.get("part", 0)),
        parts=int(payload.get("parts", 1)),
    )


def _history_from_action(action: ScrobbleAction) -> HistoryRecord:
    m = action.media
    title = m.show_title or m.title
    if not title and m.path:
        title = PurePosixPath(m.path).name
    return HistoryRecord(
        viewing=action.viewing,
        part=action.part,
        watched_at=action.at,
        type=m.kind,
        title=title,
        year=m.year,
        season=m.season,
        episode=m.episode,
        ids=dict(m.ids),
        media=m.to_json(),
        player=action.player,
    )


def enqueue_watch(store: Store, action: ScrobbleAction, now: float) -> int | None:
    """Commit a watched stop and its history row in one transaction; None when already recorded."""
    with store.write() as conn:
        if not history_insert(conn, _history_from_action(action)):
            return None
        return _insert(
            conn,
            WATCH,
            watch_payload(action),
            dedupe=f"watch:{action.viewing}:{action.part}",
            now=now,
            watched_at=action.at,
        )


def enqueue(
    store: Store, kind: str, payload: dict[str, Any], now: float, *, dedupe: str | None = None
) -> int | None:
    """Queue any kind of delivery (ratings, ...); None when `dedupe` is already queued."""
    with store.write() as conn:
        return _insert(conn, kind, payload, dedupe=dedupe, now=now, watched_at=None)


def _insert(
    conn: sqlite3.Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe: str | None,
    now: float,
    watched_at: float | None,
) -> int | None:
    cur = conn.execute(
        "INSERT OR IGNORE INTO queue (kind, dedupe, payload, next_attempt_at, created_at, watched_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (kind, dedupe, json.dumps(payload), now, now, watched_at),
    )
    return cur.lastrowid if cur.rowcount == 1 else None


def _row(r: sqlite3.Row) -> QueueRow:
    return QueueRow(
        id=r["id"],
        kind=r["kind"],
        payload=json.loads(r["payload"]),
        status=r["status"],
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        last_error=r["last_error"],
        created_at=r["created_at"],
        watched_at=r["watched_at"],
        inflight_at=r["inflight_at"],
        dedupe=r["dedupe"],
    )


def due(store: Store, now: float, limit: int = 10_000) -> list[QueueRow]:
    """Pending rows whose time has come, oldest watch first."""
    with store.read() as conn:
        rows = conn.execute(
            "SELECT * FROM queue WHERE status = ? AND next_attempt_at <= ? "
            "ORDER BY COALESCE(watched_at, created_at), id LIMIT ?",
            (PENDING, now, limit),
        ).fetchall()
    return [_row(r) for r in rows]


def rows(store: Store, status: str | None = None) -> list[QueueRow]:
    with store.read() as conn:
        found = conn.execute(
            "SELECT * FROM queue WHERE ? IS NULL OR status = ? ORDER BY COALESCE(watched_at, created_at), id",
            (status, status),
        ).fetchall()
    return [_row(r) for r in found]


def get(store: Store, row_id: int) -> QueueRow | None:
    with store.read() as conn:
        r = conn.execute("SELECT * FROM queue WHERE id = ?", (row_id,)).fetchone()
    return _row(r) if r else None


def counts(store: Store) -> dict[str, int]:
    """Rows per status (every status present, zero when empty)."""
    with store.read() as conn:
        found = dict(conn.execute("SELECT status, COUNT(*) FROM queue GROUP BY status").fetchall())
    return {s: int(found.get(s, 0)) for s in (PENDING, INFLIGHT, FAILED)}


def next_due_at(store: Store) -> float | None:
    with store.read() as conn:
        r = conn.execute("SELECT MIN(next_attempt_at) FROM queue WHERE status = ?", (PENDING,)).fetchone()
    return None if r[0] is None else float(r[0])


def earliest_inflight(store: Store) -> float | None:
    """When the oldest row now in flight was sent (it is checked once that send has settled)."""
    with store.read() as conn:
        r = conn.execute("SELECT MIN(inflight_at) FROM queue WHERE status = ?", (INFLIGHT,)).fetchone()
    return None if r[0] is None else float(r[0])


def set_payload(conn: sqlite3.Connection, row_id: int, payload: dict[str, Any]) -> None:
    conn.execute("UPDATE queue SET payload = ? WHERE id = ?", (json.dumps(payload), row_id))


def mark_inflight(conn: sqlite3.Connection, ids: Iterable[int], now: float) -> None:
    conn.executemany(
        "UPDATE queue SET status = ?, inflight_at = ? WHERE id = ?", [(INFLIGHT, now, i) for i in ids]
    )


def delete(conn: sqlite3.Connection, ids: Iterable[int]) -> None:
    conn.executemany("DELETE FROM queue WHERE id = ?", [(i,) for i in ids])


def make_due(conn: sqlite3.Connection, now: float) -> int:
    """Every pending row waiting for a later try becomes due now (Trakt answers again)."""
    return conn.execute(
        "UPDATE queue SET next_attempt_at = ? WHERE status = ? AND next_attempt_at > ?", (now, PENDING, now)
    ).rowcount


def reschedule(
    conn: sqlite3.Connection, row_ids: Sequence[int], error: str, at: float, *, count_attempt: bool = True
) -> None:
    """Back to pending, due at `at`; `count_attempt=False` for pauses that are not the item's fault."""
    conn.executemany(
        "UPDATE queue SET status = ?, next_attempt_at = ?, last_error = ?, inflight_at = NULL, "
        "attempts = attempts + ? WHERE id = ?",
        [(PENDING, at, error, int(count_attempt), i) for i in row_ids],
    )


def fail(conn: sqlite3.Connection, row_ids: Sequence[int], reason: str) -> None:
    conn.executemany(
        "UPDATE queue SET status = ?, last_error = ?, inflight_at = NULL, attempts = attempts + 1 "
        "WHERE id = ?",
        [(FAILED, reason, i) for i in row_ids],
    )


def retry(store: Store, now: float, row_id: int | None = None) -> int:
    """Make failed (and waiting) rows due now; returns how many rows changed. Attempts start over."""
    with store.write() as conn:
        if row_id is None:
            cur = conn.execute(
                "UPDATE queue SET status = ?, next_attempt_at = ?, attempts = 0 WHERE status != ?",
                (PENDING, now, INFLIGHT),
            )
        else:
            cur = conn.execute(
                "UPDATE queue SET status = ?, next_attempt_at = ?, attempts = 0 WHERE id = ? AND status != ?",
                (PENDING, now, row_id, INFLIGHT),
            )
        return cur.rowcount


def drop(store: Store, row_id: int) -> bool:
    """Remove one row for good (its history row stays, undelivered)."""
    with store.write() as conn:
        return conn.execute("DELETE FROM queue WHERE id = ?", (row_id,)).rowcount == 1


def redeliver(store: Store, row_id: int, payload: dict[str, Any], now: float) -> bool:
    """A corrected watch back in the queue: its new payload, due now, attempts start over. A row
    being sent right now is left alone (False)."""
    with store.write() as conn:
        cur = conn.execute(
            "UPDATE queue SET payload = ?, status = ?, next_attempt_at = ?, attempts = 0, last_error = NULL "
            "WHERE id = ? AND status != ?",
            (json.dumps(payload), PENDING, now, row_id, INFLIGHT),
        )
        return cur.rowcount == 1
