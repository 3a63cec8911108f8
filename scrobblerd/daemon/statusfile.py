"""The daemon's live status, kept in a small JSON file in state_dir so `scrobblerd status` can read
it from another process whether the daemon runs or not."""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

from scrobblerd.atomic import write_atomic

STATUS_FILE = "status.json"
# A status older than this (the daemon rewrites it on every change and at least every
# runtime.REFRESH seconds) means the daemon is gone.
REFRESH = 30.0
STALE_AFTER = 3 * REFRESH
MAX_PID = 1 << 22  # Linux: pid_max is at most 2^22


class StatusFile:
    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / STATUS_FILE
        self._last: str | None = None
        self._written_at = 0.0

    def write(self, data: dict[str, Any], *, force: bool = False) -> bool:
        """Atomic: a reader sees the old file or the new one, never half of one. Skips the disk
        when nothing changed and the file is still fresh, so an idle daemon writes almost nothing."""
        same = json.dumps(data, sort_keys=True, default=str)
        now = time.time()
        if not force and same == self._last and now - self._written_at < REFRESH:
            return False
        self._last, self._written_at = same, now
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        body = json.dumps({**data, "updated_at": time.time()}, sort_keys=True, default=str)
        try:
            write_atomic(self.path, body, mode=0o600)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            self._overwrite(body)
        return True

    def _overwrite(self, body: str) -> None:
        """A full disk has no room for a temp file, but the old file's own blocks still take a
        status of about its size: written in place (a reader may meet a half file and skip it)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, body.encode())
        finally:
            os.close(fd)

    def read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None

    def live(self, now: float | None = None) -> dict[str, Any] | None:
        """The status if a daemon is running and wrote it recently, else None."""
        data = self.read()
        if not data or data.get("running") is not True:
            return None
        pid, updated = data.get("pid"), data.get("updated_at")
        if type(pid) is not int or not 0 < pid <= MAX_PID:  # a damaged file names no process
            return None
        if not isinstance(updated, int | float) or isinstance(updated, bool) or not math.isfinite(updated):
            return None
        if (now or time.time()) - updated > STALE_AFTER:
            return None
        try:
            os.kill(data["pid"], 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return data


# `queue retry`, `queue drop` and `identify --fix` change the queue from another process; this
# signal tells the running daemon to look now, so its worker never polls for them.
WAKE_SIGNAL = signal.SIGUSR1


def wake_daemon(state_dir: Path) -> bool:
    """Wake the daemon that runs on `state_dir`, if any; True when it was told."""
    data = StatusFile(state_dir).live()
    if data is None:
        return False
    pid = int(data["pid"])
    try:  # never signal a process that only took over a dead daemon's pid
        if b"scrobblerd" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return False
    except OSError:
        pass  # no /proc here: the status file's freshness has to do
    try:
        os.kill(pid, WAKE_SIGNAL)
    except OSError:
        return False
    return True
