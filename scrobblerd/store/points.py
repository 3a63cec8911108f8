"""Resume points in the database: ours (`local`, written the moment a viewing pauses or stops below
the threshold, so they work offline) and a cache of Trakt's (`trakt`, from `/sync/playback`).

Plain reads and writes; which point belongs to which item is decided by the resume service.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scrobblerd.models import Item, item_from_json
from scrobblerd.timefmt import iso_utc

if TYPE_CHECKING:
    from scrobblerd.store.db import Store

LOCAL = "local"
TRAKT = "trakt"
LOCAL_PREFIX = "local:"  # the CLI's id for one of our points; Trakt's points go by Trakt's id


@dataclass(frozen=True, slots=True)
class PlaybackPoint:
    """One resume point. `row` is our row id; `trakt_id` is Trakt's playback id (source trakt)."""

    row: int
    source: str
    progress: float
    paused_at: float
    item: Item | None = None
    media_key: str | None = None
    trakt_id: int | None = None

    @property
    def public_id(self) -> int | str:
        """The id `scrobblerd playback` shows and `playback drop` takes."""
        if self.source == TRAKT and self.trakt_id is not None:
            return self.trakt_id
        return f"{LOCAL_PREFIX}{self.row}"

    def to_json(self) -> dict[str, Any]:
        """The `playback --json` shape (INTERFACE.md)."""
        item: dict[str, Any] = self.item.to_json() if self.item is not None else {"path": self.media_key}
        return {
            "id": self.public_id,
            "item": item,
            "progress": self.progress,
            "paused_at": iso_utc(self.paused_at),
            "source": self.source,
        }


def _type_of(item: Item | None) -> str | None:
    if item is None:
        return None
    return "episode" if item.to_json()["type"] == "episode" else "movie"


def _point(row: sqlite3.Row) -> PlaybackPoint:
    item = item_from_json(json.loads(row["item"])) if row["item"] else None
    return PlaybackPoint(
        row=int(row["id"]),
        source=str(row["source"]),
        progress=float(row["progress"]),
        paused_at=float(row["paused_at"]),
        item=item,
        media_key=row["media_key"],
        trakt_id=row["trakt_id"],
    )


def all_points(store: Store, source: str | None = None) -> list[PlaybackPoint]:
    """Every point (or one source's), newest first."""
    where, args = ("WHERE source = ?", (source,)) if source else ("", ())
    with store.read() as conn:
        rows = conn.execute(f"SELECT * FROM playback_points {where} ORDER BY paused_at DESC", args)  # noqa: S608 - fixed text
        return [_point(r) for r in rows.fetchall()]


def save_local(
    store: Store, item: Item | None, media_key: str | None, progress: float, paused_at: float
) -> PlaybackPoint:
    """Our point for an item; the caller has removed the item's older local points (`delete`)."""
    with store.write() as conn:
        cur = conn.execute(
            "INSERT INTO playback_points (source, type, item, media_key, progress, paused_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                LOCAL,
                _type_of(item),
                json.dumps(item.to_json()) if item is not None else None,
                media_key,
                progress,
                paused_at,
            ),
        )
        row = cur.lastrowid
    assert row is not None
    return PlaybackPoint(row, LOCAL, progress, paused_at, item, media_key)


def replace_trakt(store: Store, type_: str, points: Iterable[tuple[int, Item, float, float]]) -> None:
    """Trakt's points of one type (`movie` or `episode`) as just fetched: (trakt id, item,
    progress, paused_at). Replaces the cached ones of that type in one transaction."""
    with store.write() as conn:
        conn.execute("DELETE FROM playback_points WHERE source = ? AND type = ?", (TRAKT, type_))
        conn.executemany(
            "INSERT OR REPLACE INTO playback_points (source, trakt_id, type, item, progress, paused_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (TRAKT, pid, type_, json.dumps(item.to_json()), progress, at)
                for pid, item, progress, at in points
            ],
        )


def delete(store: Store, rows: Iterable[int]) -> int:
    """Remove points by row id; returns how many went."""
    ids = list(rows)
    if not ids:
        return 0
    with store.write() as conn:
        cur = conn.executemany("DELETE FROM playback_points WHERE id = ?", [(i,) for i in ids])
        return cur.rowcount


def find(store: Store, public_id: str) -> PlaybackPoint | None:
    """A point by the id `scrobblerd playback` shows (`local:N` or Trakt's number)."""
    if public_id.startswith(LOCAL_PREFIX):
        query, arg = "source = 'local' AND id = ?", public_id.removeprefix(LOCAL_PREFIX)
    else:
        query, arg = "source = 'trakt' AND trakt_id = ?", public_id
    if not arg.isdigit():
        return None
    with store.read() as conn:
        row = conn.execute(f"SELECT * FROM playback_points WHERE {query}", (int(arg),)).fetchone()  # noqa: S608 - fixed text
    return None if row is None else _point(row)
