"""Checks that need no network: the config, the state dir and its files, the token, the queue."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from scrobblerd.config.settings import Config
from scrobblerd.doctor.check import Check, failed, passed
from scrobblerd.errors import AuthError, StoreError
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.store.modes import mode_problems
from scrobblerd.store.schema import DB_NAME
from scrobblerd.store.unsaved import JOURNAL_NAME, journaled_count
from scrobblerd.timefmt import iso_utc
from scrobblerd.trakt.auth import TOKEN_FILE, TokenStore

DIR_MODE, SECRET_MODE = 0o700, 0o600  # INTERFACE.md: state_dir 0700, secrets 0600
SECRET_FILES = (TOKEN_FILE, TOKEN_FILE + ".lock", DB_NAME)


def config_check(config: Config | None, problems: list[str], path: str) -> Check:
    if config is None:
        shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
        return failed(
            "config", shown, f"fix the lines named above; `scrobblerd config check {path}` lists them all"
        )
    if config.source is None:
        return passed("config", f"no file at {path}: built-in defaults (mpv on, VLC and Kodi off)")
    return passed("config", f"{config.source} is valid")


def state_dir_check(state: Path, config_path: Path | None = None) -> Check:
    """The state dir is ours, 0700 and writable; the token file, its lock and the database are
    0600; nobody else may write the config file or its folder (scrobblerd.store.modes)."""
    name = "state_dir"
    unsafe = mode_problems(config_path, state)
    if unsafe:
        return failed(name, unsafe[0].detail, unsafe[0].fix)
    if not state.exists():
        return passed(name, f"{state} does not exist yet; scrobblerd creates it (0700) when it first runs")
    if not state.is_dir():
        return failed(
            name, f"{state} is not a directory", f"move {state} away; scrobblerd creates the directory"
        )
    info = state.stat()
    if info.st_uid != os.getuid():
        return failed(
            name, f"{state} belongs to uid {info.st_uid}, not to you", f"sudo chown -R $USER {state}"
        )
    if not os.access(state, os.W_OK | os.X_OK):
        return failed(name, f"{state} is not writable", f"chmod 700 {state}")
    if stat.S_IMODE(info.st_mode) & 0o077:
        mode = oct(stat.S_IMODE(info.st_mode))
        return failed(name, f"{state} is mode {mode}: others can read your token", f"chmod 700 {state}")
    for file in SECRET_FILES:
        path = state / file
        if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
            mode = oct(stat.S_IMODE(path.stat().st_mode))
            return failed(name, f"{path} is mode {mode}: it holds secrets", f"chmod 600 {path}")
    return passed(name, f"{state} (0700; token and database 0600)")


def token_check(state: Path, now: float | None = None) -> Check:
    name = "token"
    store = TokenStore(state)
    try:
        token = store.load()
    except AuthError as exc:
        return failed(
            name, str(exc), f"make {store.path} readable by you (chmod 600), or run `scrobblerd auth`"
        )
    if token is None:
        why = store.problem or "no token: watches wait in the queue until you log in"
        return failed(name, why, "run `scrobblerd auth`")
    if token.needs_reauth:
        return failed(
            name,
            "Trakt refused the refresh token (revoked, or the app changed); watches wait in the queue",
            "run `scrobblerd auth`",
        )
    who = f" for {token.username}" if token.username else ""
    at = now if now is not None else time.time()
    if token.expired(at):
        return passed(
            name, f"token{who} expired at {iso_utc(token.expires_at)}; it is refreshed on the next call"
        )
    return passed(name, f"token{who} valid until {iso_utc(token.expires_at)}, refreshed automatically")


def queue_check(state: Path, max_age: float, now: float | None = None, unsaved: int = 0) -> Check:
    """Watches the database refused (`unsaved`: held by the running daemon; or left in the
    journal), failed deliveries, and the oldest watch still waiting (against alerts.queue_age)."""
    name = "queue"
    journaled = journaled_count(state)
    if unsaved or journaled:
        where = f"{unsaved} held by the daemon" if unsaved else f"{journaled} kept in {state / JOURNAL_NAME}"
        return failed(
            name,
            f"watches not yet in the database ({where}): it refuses writes",
            f"free space on the disk of {state} or fix its permissions; they are written once it can",
        )
    if not (state / DB_NAME).exists():
        return passed(name, "empty (no database yet)")
    at = now if now is not None else time.time()
    try:
        with Store.open(state) as store:
            failed_rows = deliveries.rows(store, deliveries.FAILED)
            waiting = deliveries.rows(store, deliveries.PENDING) + deliveries.rows(store, deliveries.INFLIGHT)
    except StoreError as exc:
        return failed(
            name, f"the database cannot be read: {exc}", f"check free space and permissions in {state}"
        )
    if failed_rows:
        last = failed_rows[-1].last_error or "no reason recorded"
        return failed(
            name,
            f"{len(failed_rows)} delivery(ies) failed for good; the last: {last}",
            "see `scrobblerd queue list`; fix the match (`identify --fix`), then `scrobblerd queue retry`",
        )
    if not waiting:
        return passed(name, "nothing waiting")
    oldest = min(waiting, key=lambda r: r.created_at)
    age = at - oldest.created_at
    detail = f"{len(waiting)} waiting, the oldest for {age / 3600:.1f} h"
    if age > max_age:
        why = oldest.last_error or "not tried yet"
        return failed(
            name,
            f"{detail}; last error: {why}",
            "see `scrobblerd status` and `scrobblerd queue list`; is the daemon running?",
        )
    return passed(name, detail)
