"""The SQLite database in `state_dir`: opening, migrations, corruption handling, local history,
the identification cache and small key/values.

One connection per Store, shared by the daemon's threads behind a lock; other processes (the CLI)
open their own Store and meet the daemon through SQLite's locking (WAL + busy timeout).
Only this module and queue.py speak SQL.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from scrobblerd.errors import StoreError
from scrobblerd.models import Episode, Item
from scrobblerd.timefmt import iso_utc

log = structlog.get_logger()

DB_NAME = "scrobblerd.db"
BUSY_TIMEOUT = 10.0  # seconds a writer waits for another process's transaction (the CLI vs the daemon)
# SQLite result codes (sqlite3.h): the file is damaged or is not a database at all.
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26

# Each step moves the schema from version i to i + 1; never edit a released step, append one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE queue (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            dedupe TEXT UNIQUE,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'inflight', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            last_error TEXT,
            created_at REAL NOT NULL,
            watched_at REAL,
            inflight_at REAL
        )""",
        "CREATE INDEX queue_due ON queue (status, next_attempt_at)",
        """CREATE TABLE history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            viewing TEXT NOT NULL,
            part INTEGER NOT NULL DEFAULT 0,
            player TEXT,
            watched_at REAL NOT NULL,
            type TEXT,
            title TEXT,
            year INTEGER,
            season INTEGER,
            episode INTEGER,
            ids TEXT NOT NULL DEFAULT '{}',
            media TEXT NOT NULL DEFAULT '{}',
            item TEXT,
            delivered INTEGER NOT NULL DEFAULT 0,
            trakt_history_id INTEGER,
            UNIQUE (viewing, part)
        )""",
        "CREATE INDEX history_time ON history (watched_at)",
        "CREATE TABLE id_cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL)",
        "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


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

    def to_json(self) -> dict[str, Any]:
        """The `history --json` shape (INTERFACE.md)."""
        return {
            "watched_at": iso_utc(self.watched_at),
            "type": self.type,
            "title": self.title,
            "year": self.year,
            "season": self.season,
            "episode": self.episode,
            "ids": dict(self.ids),
            "delivered": self.delivered,
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


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return True
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


class Store:
    """The database. Use `Store.open(state_dir)`; methods are safe from any thread."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()

    @classmethod
    def open(cls, state_dir: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> Store:
        """Open (creating or migrating) the database; a corrupt file is moved aside and replaced."""
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = state_dir / DB_NAME
        try:
            conn = _connect(path, busy_timeout)
        except sqlite3.DatabaseError as exc:
            if not _is_corruption(exc):
                raise StoreError(f"cannot open {path}: {exc}") from exc
            _move_aside(path, str(exc))
            try:
                conn = _connect(path, busy_timeout)
            except sqlite3.DatabaseError as exc2:
                raise StoreError(f"cannot create {path}: {exc2}") from exc2
        return cls(path, conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT), rolled back on any exception."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"database busy or unusable: {exc}") from exc
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    # -- history -------------------------------------------------------------------------------

    def history(self, limit: int = 20) -> list[HistoryRecord]:
        """Most recent watches first."""
        with self.read() as conn:
            rows = conn.execute(
                "SELECT * FROM history ORDER BY watched_at DESC, id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_history_record(r) for r in rows]

    def history_get(self, viewing: str, part: int = 0) -> HistoryRecord | None:
        with self.read() as conn:
            row = conn.execute(
                "SELECT * FROM history WHERE viewing = ? AND part = ?", (viewing, part)
            ).fetchone()
        return _history_record(row) if row else None

    def history_delivered_between(self, start: float, end: float) -> list[HistoryRecord]:
        """Delivered watches in [start, end]: what Trakt's history should already hold from us."""
        with self.read() as conn:
            rows = conn.execute(
                "SELECT * FROM history WHERE delivered = 1 AND watched_at BETWEEN ? AND ? "
                "ORDER BY watched_at",
                (start, end),
            ).fetchall()
        return [_history_record(r) for r in rows]

    # -- identification cache ------------------------------------------------------------------

    def cache_get(self, key: str, *, now: float | None = None) -> dict[str, Any] | None:
        """The cached value, or None when missing or expired."""
        now = time.time() if now is None else now
        with self.read() as conn:
            row = conn.execute("SELECT value, expires_at FROM id_cache WHERE key = ?", (key,)).fetchone()
        if row is None or row["expires_at"] <= now:
            return None
        value: dict[str, Any] = json.loads(row["value"])
        return value

    def cache_put(self, key: str, value: dict[str, Any], ttl: float, *, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO id_cache (key, value, expires_at) VALUES (?, ?, ?)",
                (key, json.dumps(value, sort_keys=True), now + ttl),
            )

    def cache_delete(self, key: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM id_cache WHERE key = ?", (key,))

    def cache_purge(self, now: float | None = None) -> int:
        """Remove expired entries; returns how many."""
        now = time.time() if now is None else now
        with self.write() as conn:
            return conn.execute("DELETE FROM id_cache WHERE expires_at <= ?", (now,)).rowcount

    def cache_clear(self) -> int:
        """Forget every cached identification; returns how many entries were removed."""
        with self.write() as conn:
            return conn.execute("DELETE FROM id_cache").rowcount

    # -- small key/values ----------------------------------------------------------------------

    def kv_get(self, key: str) -> Any:
        with self.read() as conn:
            row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row["value"])

    def kv_put(self, key: str, value: Any) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, json.dumps(value)))


# -- history rows inside a caller's transaction (queue.py uses these) ---------------------------


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


def history_delivered(
    conn: sqlite3.Connection, viewing: str, part: int, trakt_history_id: int | None
) -> None:
    conn.execute(
        "UPDATE history SET delivered = 1, trakt_history_id = COALESCE(?, trakt_history_id) "
        "WHERE viewing = ? AND part = ?",
        (trakt_history_id, viewing, part),
    )


def _history_record(row: sqlite3.Row) -> HistoryRecord:
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
    )


# -- opening ----------------------------------------------------------------------------------


# SQLite's page cache per connection (its default is 2 MiB): our queries touch a few pages.
PAGE_CACHE_KIB = 512


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # a committed watch survives a power cut
        conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
        _migrate(conn, path)
        conn.execute("PRAGMA shrink_memory")  # the check read every page; an idle daemon keeps none
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        version = row[0] if row else 0
        if row is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (0)")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{path}: schema version {version} is newer than this scrobblerd ({SCHEMA_VERSION})"
            )
        for step in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (step + 1,))
            log.info("store_migrated", path=str(path), version=step + 1)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _move_aside(path: Path, reason: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            src.replace(Path(str(target) + suffix))
    log.error(
        "store_corrupt_moved_aside",
        path=str(path),
        moved_to=str(target),
        reason=reason,
        hint="a fresh database was created; the old file is kept for inspection",
    )
    return target
