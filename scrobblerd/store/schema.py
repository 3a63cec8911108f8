"""The database file: its schema and migrations, opening a connection, and what happens when the
file is damaged."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import structlog

from scrobblerd.errors import StoreError

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
    (
        # Resume points: ours (written when a viewing pauses or stops below the threshold) and a
        # cache of Trakt's (`/sync/playback`). `item` is the Trakt item once identified; `media_key`
        # lets an unidentified local point (offline) still match the same file.
        """CREATE TABLE playback_points (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL CHECK (source IN ('local', 'trakt')),
            trakt_id INTEGER,
            type TEXT,
            item TEXT,
            media_key TEXT,
            progress REAL NOT NULL,
            paused_at REAL NOT NULL,
            UNIQUE (source, trakt_id)
        )""",
        "CREATE INDEX playback_points_source ON playback_points (source, type)",
    ),
    (
        # What identified each file (per part) when it was last resolved for delivery, and the
        # same copied onto each watch as it is identified: `history` shows it.
        """CREATE TABLE identified (
            media_key TEXT NOT NULL,
            part INTEGER NOT NULL,
            source TEXT,
            reason TEXT,
            at REAL NOT NULL,
            PRIMARY KEY (media_key, part)
        )""",
        "ALTER TABLE history ADD COLUMN source TEXT",
        "ALTER TABLE history ADD COLUMN reason TEXT",
    ),
    (
        # Live viewings, saved at every transition, so a restarted daemon carries them on.
        """CREATE TABLE live_sessions (
            player TEXT PRIMARY KEY,
            media_key TEXT NOT NULL,
            state TEXT NOT NULL,
            saved_at REAL NOT NULL
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def is_corruption(exc: sqlite3.DatabaseError) -> bool:
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return True
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


# -- opening ----------------------------------------------------------------------------------


# SQLite's page cache per connection (its default is 2 MiB): our queries touch a few pages.
PAGE_CACHE_KIB = 512


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
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


def move_aside(path: Path, reason: str) -> Path:
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
