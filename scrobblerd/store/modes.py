"""File modes of what scrobblerd keeps: secrets (the token, the database) are the owner's alone,
and the config and state directory are writable by the owner alone (whoever can write them can
change what the daemon does or reads).

`fix_secret_mode` tightens a secret file in place; `mode_problems` only looks, for the daemon's
start-up warnings and `scrobblerd doctor`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger()

SECRET_MODE = 0o600
LOOSE_FOR_SECRETS = stat.S_IRWXG | stat.S_IRWXO  # any access by group or others
WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


@dataclass(frozen=True, slots=True)
class ModeProblem:
    """`path` is writable by others than its owner; `fix` says what to run."""

    path: Path
    mode: int
    what: str

    @property
    def detail(self) -> str:
        who = (
            "group and others"
            if self.mode & stat.S_IWGRP and self.mode & stat.S_IWOTH
            else ("its group" if self.mode & stat.S_IWGRP else "everyone")
        )
        return f"{self.what} {self.path} is writable by {who} (mode {self.mode:04o})"

    @property
    def fix(self) -> str:
        return f"chmod go-w {self.path}"


def fix_secret_mode(path: Path, what: str) -> bool:
    """Make `path` 0600 when group or others may use it; logs the change. True when changed."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if not mode & LOOSE_FOR_SECRETS:
            return False
        os.chmod(path, SECRET_MODE)
    except OSError as exc:
        log.warning("file_mode_not_fixed", path=str(path), what=what, error=str(exc))
        return False
    log.warning("file_mode_fixed", path=str(path), what=what, was=f"{mode:04o}", now=f"{SECRET_MODE:04o}")
    return True


def create_secret(path: Path) -> None:
    """Create `path` empty and 0600 when it does not exist (SQLite then gives its journal files
    the same mode), so a secret is never readable by others, not even for a moment."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_MODE)
    except FileExistsError:
        return
    os.close(fd)


def mode_problems(config_path: Path | None, state_dir: Path) -> list[ModeProblem]:
    """The config file (and its folder) and the state directory when others may write them."""
    found: list[ModeProblem] = []
    places: list[tuple[Path, str]] = [(state_dir, "state_dir")]
    if config_path is not None:
        places += [(config_path, "config file"), (config_path.parent, "config folder")]
    for path, what in places:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        sticky_dir = path.is_dir() and mode & stat.S_ISVTX  # /tmp-like: others cannot replace our files
        if mode & WRITABLE_BY_OTHERS and not sticky_dir:
            found.append(ModeProblem(path, mode, what))
    return found


def warn_mode_problems(config_path: Path | None, state_dir: Path) -> list[ModeProblem]:
    """Log each problem once (the daemon at start)."""
    problems = mode_problems(config_path, state_dir)
    for problem in problems:
        log.warning("file_mode_unsafe", path=str(problem.path), problem=problem.detail, fix=problem.fix)
    return problems
