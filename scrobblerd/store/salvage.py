"""A damaged database is not thrown away: it is moved aside for inspection, and every row that can
still be read from the tables that matter (the queue, the history and what identified it, resume
points, key/values) is carried into a fresh database. The identification cache is not: it
refills itself.

Rows are read in rowid order; a damaged page stops one scan, and the next scan starts past it, so
one bad page costs the rows on it and no others.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog

log = structlog.get_logger()

SALVAGED_TABLES = ("queue", "history", "identified", "playback_points", "kv")
MAX_SKIPS = 40  # scans past damaged rowids (each step twice the last) before a table is given up
BATCH = 500


def carry_rows(damaged: Path, fresh: sqlite3.Connection) -> dict[str, int]:
    """Copy every readable row of SALVAGED_TABLES from the damaged file into `fresh`."""
    saved: dict[str, int] = {}
    with _working_copy(damaged) as source:
        try:
            src = sqlite3.connect(source, isolation_level=None)
        except sqlite3.Error as exc:
            log.error("store_salvage_unreadable", path=str(damaged), error=str(exc))
            return saved
        try:
            for table in SALVAGED_TABLES:
                saved[table] = _carry_table(src, fresh, table)
        finally:
            src.close()
    return saved


def _carry_table(src: sqlite3.Connection, dst: sqlite3.Connection, table: str) -> int:
    columns = _common_columns(src, dst, table)
    if not columns:
        return 0
    names = ", ".join(columns)
    insert = f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608 - names from our own schema
    count = 0
    dst.execute("BEGIN IMMEDIATE")
    try:
        for rows in _readable_rows(src, f"SELECT rowid, {names} FROM {table}"):  # noqa: S608
            count += sum(dst.execute(insert, row[1:]).rowcount for row in rows)
    except BaseException:
        dst.execute("ROLLBACK")
        raise
    dst.execute("COMMIT")
    return count


def _common_columns(src: sqlite3.Connection, dst: sqlite3.Connection, table: str) -> list[str]:
    try:
        have = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
    except sqlite3.DatabaseError:
        return []
    want = {r[1] for r in dst.execute(f"PRAGMA table_info({table})")}
    return [c for c in have if c in want]


def _readable_rows(src: sqlite3.Connection, select: str) -> Iterator[list[tuple[object, ...]]]:
    """Batches of rows in rowid order; past a damaged page, the scan resumes at ever larger steps."""
    after, skips, step = 0, 0, 1  # our rowids start at 1
    while skips <= MAX_SKIPS:
        try:
            cursor = src.execute(f"{select} WHERE rowid > ? ORDER BY rowid", (after,))
            while batch := cursor.fetchmany(BATCH):
                yield [tuple(r) for r in batch]
                after, step = int(batch[-1][0]), 1
            return
        except sqlite3.DatabaseError:
            skips += 1
            after += step
            step *= 2


@contextmanager
def _working_copy(damaged: Path) -> Iterator[Path]:
    """A scratch copy of the damaged files (the copy kept aside stays as it was found); the files
    themselves when there is no room for a copy."""
    tmp: Path | None = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".salvage-", dir=damaged.parent))
        for suffix in ("", "-wal"):
            src = Path(str(damaged) + suffix)
            if src.exists():
                shutil.copyfile(src, tmp / ("db" + suffix))
        source = tmp / "db"
    except OSError:
        source = damaged
    try:
        yield source
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
