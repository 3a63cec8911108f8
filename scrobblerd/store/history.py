"""The local history of watches: what the user saw, which item it was, and whether Trakt has it.

Reads are methods of the Store (`store.history()`); writes happen inside a caller's transaction
(the queue records a watch and its delivery in one), so they take the connection.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from scrobblerd.models import Episode, Item
from scrobblerd.timefmt import iso_utc


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One local watch: what the user saw and whether Trakt has it yet."""

    viewing: str
    part: int
    watched_at: float
    type: str | None
    title: str | None
    year: int | None = None
    season: int | None = None
    episode: int | None = None
    ids: dict[str, Any] = field(default_factory=dict)
    media: dict[str, Any] = field(default_factory=dict)
    player: str | None = None
    item: dict[str, Any] | None = None  # the resolved Trakt item (Movie/Episode.to_json()), once known
    delivered: bool = False
    trakt_history_id: int | None = None
    source: str | None = None  # what identified the watch: player, override, search, filename
    reason: str | None = None  # the rule or the search that decided

    def to_json(self) -> dict[str, Any]:
        """The `history --json` shape (INTERFACE.md), plus `source` and `reason`."""
        return {
            "watched_at": iso_utc(self.watched_at),
            "type": self.type,
            "title": self.title,
            "year": self.year,
            "season": self.season,
            "episode": self.episode,
            "ids": dict(self.ids),
            "delivered": self.delivered,
            "source": self.source,
            "reason": self.reason,
        }


def item_fields(item: Item) -> dict[str, Any]:
    """The history columns that describe a resolved item (an episode is titled by its show)."""
    if isinstance(item, Episode):
        return {
            "type": "episode",
            "title": item.show.title,
            "year": item.show.year,
            "season": item.season,
            "episode": item.number,
            "ids": dict(item.ids),
        }
    return {
        "type": "movie",
        "title": item.title,
        "year": item.year,
        "season": None,
        "episode": None,
        "ids": dict(item.ids),
    }


class HistoryReads:
    """The Store's history queries."""

    def read(self) -> AbstractContextManager[sqlite3.Connection]:  # pragma: no cover - the Store's
        raise NotImplementedError

    # -- history -------------------------------------------------------------------------------

    def history(self, limit: int = 20) -> list[HistoryRecord]:
        """Most recent watches first."""
        with self.read() as conn:
            rows = conn.execute(
                "SELECT * FROM history ORDER BY watched_at DESC, id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [history_record(r) for r in rows]

    def history_get(self, viewing: str, part: int = 0) -> HistoryRecord | None:
        with self.read() as conn:
            row = conn.execute(
                "SELECT * FROM history WHERE viewing = ? AND part = ?", (viewing, part)
            ).fetchone()
        return history_record(row) if row else None

    def history_delivered_between(self, start: float, end: float) -> list[HistoryRecord]:
        """Delivered watches in [start, end]: what Trakt's history should already hold from us."""
        with self.read() as conn:
            rows = conn.execute(
                "SELECT * FROM history WHERE delivered = 1 AND watched_at BETWEEN ? AND ? "
                "ORDER BY watched_at",
                (start, end),
            ).fetchall()
        return [history_record(r) for r in rows]


def history_insert(conn: sqlite3.Connection, rec: HistoryRecord) -> bool:
    """Insert a watch; False when this viewing/part is already recorded (a repeat submit)."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO history (viewing, part, player, watched_at, type, title, year, season, "
        "episode, ids, media, delivered, trakt_history_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            rec.viewing,
            rec.part,
            rec.player,
            rec.watched_at,
            rec.type,
            rec.title,
            rec.year,
            rec.season,
            rec.episode,
            json.dumps(rec.ids),
            json.dumps(rec.media),
            int(rec.delivered),
            rec.trakt_history_id,
        ),
    )
    return cur.rowcount == 1


def history_identify(conn: sqlite3.Connection, viewing: str, part: int, item: Item) -> None:
    f = item_fields(item)
    conn.execute(
        "UPDATE history SET type = ?, title = ?, year = ?, season = ?, episode = ?, ids = ?, item = ? "
        "WHERE viewing = ? AND part = ?",
        (
            f["type"],
            f["title"],
            f["year"],
            f["season"],
            f["episode"],
            json.dumps(f["ids"]),
            json.dumps(item.to_json()),
            viewing,
            part,
        ),
    )
    # What identified the file (Identifier.resolve_for_delivery records it just before).
    conn.execute(
        "UPDATE history SET (source, reason) = (SELECT i.source, i.reason FROM identified i "
        "WHERE i.media_key = json_extract(history.media, '$.path') AND i.part = history.part) "
        "WHERE viewing = ? AND part = ?",
        (viewing, part),
    )


def history_delivered(
    conn: sqlite3.Connection, viewing: str, part: int, trakt_history_id: int | None
) -> None:
    conn.execute(
        "UPDATE history SET delivered = 1, trakt_history_id = COALESCE(?, trakt_history_id) "
        "WHERE viewing = ? AND part = ?",
        (trakt_history_id, viewing, part),
    )


def history_record(row: sqlite3.Row) -> HistoryRecord:
    return HistoryRecord(
        viewing=row["viewing"],
        part=row["part"],
        watched_at=row["watched_at"],
        type=row["type"],
        title=row["title"],
        year=row["year"],
        season=row["season"],
        episode=row["episode"],
        ids=json.loads(row["ids"]),
        media=json.loads(row["media"]),
        player=row["player"],
        item=json.loads(row["item"]) if row["item"] else None,
        delivered=bool(row["delivered"]),
        trakt_history_id=row["trakt_history_id"],
        source=row["source"],
        reason=row["reason"],
    )
