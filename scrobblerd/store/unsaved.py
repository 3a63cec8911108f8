"""Watches the database could not take yet: a full disk, a read-only file, a lock held too long.

A watch is never dropped for a local reason. When its write fails it is held here, in memory and,
when the disk allows, in a journal file (one JSON watch per line) beside the database and in the
runtime directory; every delivery pass tries the write again, and the journal is read back at the
next start. The database's own uniqueness (one history row per viewing and part) makes a watch
that was both written and journaled count once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog

from scrobblerd.atomic import write_atomic
from scrobblerd.errors import StoreError
from scrobblerd.models import ScrobbleAction
from scrobblerd.store.deliveries import watch_action, watch_payload
from scrobblerd.timefmt import iso_utc

log = structlog.get_logger()

JOURNAL_NAME = "unsaved-watches.jsonl"
# What a failed local write raises: SQLite (full, read-only, locked, I/O), our wrapper, the OS.
LOCAL_WRITE_ERRORS = (sqlite3.Error, StoreError, OSError)


def describe(action: ScrobbleAction) -> dict[str, Any]:
    """A watch as a person reads it: what and when."""
    media = action.media
    what = media.show_title or media.title or media.path or "?"
    if media.season is not None and media.episode is not None:
        what = f"{what} S{media.season:02d}E{media.episode:02d}"
    return {"what": what, "watched_at": iso_utc(action.at), "viewing": action.viewing, "part": action.part}


class UnsavedWatches:
    """Holds watches whose durable write failed; `save` is the write (raises on a local failure)."""

    def __init__(self, save: Callable[[ScrobbleAction], object], journals: Sequence[Path]) -> None:
        self._save = save
        self.journals = list(journals)
        self._held: list[ScrobbleAction] = []
        self._lock = threading.RLock()
        self.last_error: str | None = None
        self.journaled_in: Path | None = None

    def __len__(self) -> int:
        return len(self._held)

    def held(self) -> list[dict[str, Any]]:
        with self._lock:
            return [describe(a) for a in self._held]

    def status(self) -> dict[str, Any]:
        """Without the lock: a write may hold it for a busy timeout, and status must not wait."""
        held, error, journal = len(self._held), self.last_error, self.journaled_in
        return {
            "unsaved_watches": held,
            "unsaved_error": error if held else None,
            "unsaved_journal": str(journal) if held and journal else None,
        }

    def submit(self, action: ScrobbleAction) -> bool:
        """Write `action` now (True) or hold it for a later try (False). Never raises for a local
        failure; earlier held watches are tried first so watches are written in order."""
        with self._lock:
            if self._held:
                self.retry()
            if not self._held and self._try(action):
                return True
            self._held.append(action)
            self._journal()
            return False

    def retry(self) -> int:
        """Try the write for every held watch; returns how many were written."""
        with self._lock:
            if not self._held:
                return 0
            written = 0
            while self._held and self._try(self._held[0]):
                self._held.pop(0)
                written += 1
            if written:
                self._journal()
            if not self._held:
                log.info("unsaved_watches_saved", count=written)
                self.last_error = None
            return written

    def load_journals(self) -> int:
        """At start: take back what an earlier run could not write; returns how many were found."""
        found: list[ScrobbleAction] = []
        for path in self.journals:
            found.extend(_read_journal(path))
        if not found:
            return 0
        log.info("unsaved_watches_found", count=len(found), journals=[str(p) for p in self.journals])
        with self._lock:
            self._held = found + self._held
            self.retry()
            if self._held:
                self._journal()
        return len(found)

    def close(self) -> None:
        """A clean shutdown: one more try; says plainly what could not be saved (and where it is
        kept, if anywhere)."""
        with self._lock:
            self.retry()
            if not self._held:
                return
            self._journal()
            left = self.held()
            if self.journaled_in is not None:
                log.error(
                    "watches_not_saved",
                    count=len(left),
                    watches=left,
                    kept_in=str(self.journaled_in),
                    hint="they are written and delivered at the next start once the database accepts writes",
                )
            else:
                log.error(
                    "watches_lost",
                    count=len(left),
                    watches=left,
                    error=self.last_error,
                    hint="no file could be written; add these to Trakt by hand or free space before stopping",
                )

    # -- inside ----------------------------------------------------------------------------------

    def _try(self, action: ScrobbleAction) -> bool:
        try:
            self._save(action)
        except LOCAL_WRITE_ERRORS as exc:
            first = self.last_error is None
            self.last_error = f"{type(exc).__name__}: {exc}"
            if first:
                log.error(
                    "watch_not_saved",
                    error=self.last_error,
                    watch=describe(action),
                    hint="free space on the state_dir's disk or fix its permissions; the watch is kept "
                    "and written as soon as the database accepts it",
                )
            return False
        return True

    def _journal(self) -> None:
        """Rewrite the journals with what is held (remove them when nothing is); the first file
        that can be written is where `close` says the watches are."""
        body = "".join(json.dumps({**watch_payload(a), "late": a.late}) + "\n" for a in self._held)
        self.journaled_in = None
        for path in self.journals:
            try:
                if not body:
                    path.unlink(missing_ok=True)
                    continue
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                write_atomic(path, body, mode=0o600, durable=True)
            except OSError as exc:
                log.debug("unsaved_journal_failed", path=str(path), error=str(exc))
                continue
            if self.journaled_in is None:
                self.journaled_in = path


def _read_journal(path: Path) -> list[ScrobbleAction]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        log.error("unsaved_journal_unreadable", path=str(path), error=str(exc))
        return []
    found: list[ScrobbleAction] = []
    bad = 0
    for line in text.splitlines():
        try:
            data = json.loads(line)
            found.append(replace(watch_action(data), late=data.get("late") is True))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            bad += 1
    if bad:
        log.error("unsaved_journal_damaged", path=str(path), unreadable_lines=bad, read=len(found))
    return found


def journaled_count(state_dir: Path) -> int:
    """How many watches an earlier run left in the journal beside the database (for doctor)."""
    return len(_read_journal(state_dir / JOURNAL_NAME))


def runtime_journal() -> Path | None:
    """The journal in $XDG_RUNTIME_DIR (a tmpfs under systemd): it survives a daemon restart even
    when the state_dir's disk is full."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "scrobblerd" / JOURNAL_NAME if runtime else None
