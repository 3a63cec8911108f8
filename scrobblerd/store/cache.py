"""The identification cache: a resolved match (or a known miss) per key, with an expiry."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from typing import Any

import structlog

from scrobblerd.errors import StoreError

log = structlog.get_logger()


class IdCache:
    """The Store's cache methods."""

    _cache_failing = False

    def read(self) -> AbstractContextManager[sqlite3.Connection]:  # pragma: no cover - the Store's
        raise NotImplementedError

    def write(self) -> AbstractContextManager[sqlite3.Connection]:  # pragma: no cover - the Store's
        raise NotImplementedError

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
        """Remember an answer (only a cache: see `_best_effort`)."""
        now = time.time() if now is None else now
        self._best_effort(
            "INSERT OR REPLACE INTO id_cache (key, value, expires_at) VALUES (?, ?, ?)",
            (key, json.dumps(value, sort_keys=True), now + ttl),
        )

    def _best_effort(self, sql: str, params: tuple[Any, ...]) -> None:
        """A write identification can do without: a database that cannot take it (full disk,
        lock, read-only) is said once, and identification carries on."""
        try:
            with self.write() as conn:
                conn.execute(sql, params)
        except (sqlite3.Error, StoreError) as exc:
            if not self._cache_failing:
                log.warning("id_cache_write_failed", error=str(exc), hint="identification works without it")
            self._cache_failing = True
            return
        self._cache_failing = False

    def cache_delete(self, key: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM id_cache WHERE key = ?", (key,))

    def cache_purge(self, now: float | None = None) -> int:
        """Remove expired entries; returns how many."""
        now = time.time() if now is None else now
        with self.write() as conn:
            return conn.execute("DELETE FROM id_cache WHERE expires_at <= ?", (now,)).rowcount

    def identified_put(self, media_key: str, part: int, source: str | None, reason: str | None) -> None:
        """Remember what identified part `part` of the file `media_key` (history copies it)."""
        self._best_effort(
            "INSERT OR REPLACE INTO identified (media_key, part, source, reason, at) VALUES (?, ?, ?, ?, ?)",
            (media_key, part, source, reason, time.time()),
        )

    def cache_clear(self) -> int:
        """Forget every cached identification; returns how many entries were removed."""
        with self.write() as conn:
            return conn.execute("DELETE FROM id_cache").rowcount
