"""The SQLite database in `state_dir`: one Store holds the connection, its transactions and small
key/values; its rooms are the history (history.py), the identification cache (cache.py) and the
delivery queue (deliveries.py); schema.py opens, migrates and guards the file.

One connection per Store, shared by the daemon's threads behind a lock; other processes (the CLI)
open their own Store and meet the daemon through SQLite's locking (WAL + busy timeout).
Only the store package speaks SQL.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import structlog

from scrobblerd.errors import StoreError
from scrobblerd.store.cache import IdCache
from scrobblerd.store.history import HistoryReads
from scrobblerd.store.salvage import carry_rows
from scrobblerd.store.schema import BUSY_TIMEOUT, DB_NAME, connect, is_corruption, move_aside

log = structlog.get_logger()


class Store(HistoryReads, IdCache):
    """The database. Use `Store.open(state_dir)`; methods are safe from any thread."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()

    @classmethod
    def open(cls, state_dir: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> Store:
        """Open (creating or migrating) the database; a damaged file is moved aside and its readable
        rows carried into a fresh one."""
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = state_dir / DB_NAME
        try:
            conn = connect(path, busy_timeout)
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise StoreError(f"cannot open {path}: {exc}") from exc
            damaged = move_aside(path, str(exc))
            try:
                conn = connect(path, busy_timeout)
            except sqlite3.DatabaseError as exc2:
                raise StoreError(f"cannot create {path}: {exc2}") from exc2
            saved = carry_rows(damaged, conn)
            log.warning("store_salvaged", path=str(path), damaged_copy=str(damaged), rows_saved=saved)
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
                self._conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a full disk does): never hide the cause.
                if self._conn.in_transaction:
                    with suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    # -- small key/values ----------------------------------------------------------------------

    def kv_get(self, key: str) -> Any:
        with self.read() as conn:
            row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row["value"])

    def kv_put(self, key: str, value: Any) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, json.dumps(value)))
