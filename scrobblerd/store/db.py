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
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import structlog

from scrobblerd.errors import StoreError
from scrobblerd.store.cache import IdCache
from scrobblerd.store.history import HistoryReads
from scrobblerd.store.modes import create_secret, fix_secret_mode
from scrobblerd.store.salvage import carry_rows
from scrobblerd.store.schema import BUSY_TIMEOUT, DB_NAME, connect, is_corruption, move_aside

log = structlog.get_logger()

LOCK_WAIT = 120.0  # seconds Store.open waits, in steps of busy_timeout, for a locked database


class Store(HistoryReads, IdCache):
    """The database. Use `Store.open(state_dir)`; methods are safe from any thread."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls, state_dir: Path, *, busy_timeout: float = BUSY_TIMEOUT, lock_wait: float = LOCK_WAIT
    ) -> Store:
        """Open (creating or migrating) the database; a damaged file is moved aside and its readable
        rows carried into a fresh one. A database locked by another process is waited for, up to
        `lock_wait` seconds, saying so. Every failure is a StoreError that says what to do."""
        path = state_dir / DB_NAME
        _make_state_dir(state_dir)
        fresh = not path.exists()
        try:
            if fresh:
                create_secret(path)
            conn = _connect_waiting(path, busy_timeout, lock_wait)
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise StoreError(f"cannot open {path}: {exc}{_hint(exc)}") from None
            conn = _replace_damaged(path, exc, busy_timeout)
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {exc.strerror or exc}; is state_dir writable?") from None
        for suffix in ("", "-wal", "-shm"):
            fix_secret_mode(Path(str(path) + suffix), "database")
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


def _make_state_dir(state_dir: Path) -> None:
    if state_dir.exists() and not state_dir.is_dir():
        raise StoreError(f"state_dir {state_dir} is not a directory; move that file away or set state_dir")
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StoreError(f"cannot create state_dir {state_dir}: {exc.strerror or exc}") from None


def _connect_waiting(path: Path, busy_timeout: float, lock_wait: float) -> sqlite3.Connection:
    """connect(), tried again while another process holds the database locked, up to `lock_wait`."""
    deadline = time.monotonic() + lock_wait
    attempt = 1
    while True:
        try:
            return connect(path, busy_timeout)
        except sqlite3.OperationalError as exc:
            if not _locked(exc) or time.monotonic() >= deadline:
                raise
            left = max(0.0, deadline - time.monotonic())
            log.warning(
                "store_locked_waiting",
                path=str(path),
                attempt=attempt,
                gives_up_in=round(left, 1),
                hint="another process holds the database (a long `scrobblerd` command, a backup?)",
            )
            attempt += 1


def _replace_damaged(path: Path, exc: sqlite3.DatabaseError, busy_timeout: float) -> sqlite3.Connection:
    damaged = move_aside(path, str(exc))
    try:
        create_secret(path)
        conn = connect(path, busy_timeout)
    except (sqlite3.DatabaseError, OSError) as exc2:
        raise StoreError(f"cannot create {path}: {exc2}") from None
    saved = carry_rows(damaged, conn)
    log.warning("store_salvaged", path=str(path), damaged_copy=str(damaged), rows_saved=saved)
    return conn


def _locked(exc: sqlite3.Error) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _hint(exc: sqlite3.Error) -> str:
    text = str(exc)
    if _locked(exc):
        return " (another process kept it locked; try again when it is done)"
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return " (is state_dir writable by this user, and its filesystem mounted read-write?)"
    if "full" in text:
        return " (the disk is full: free some space)"
    return ""
