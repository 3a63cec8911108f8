"""The token and its file: what Trakt answered, when to refresh it, and the 0600 file it lives in.

Refresh tokens are single-use (Trakt, 2026), and the daemon and the CLI share one file, so a
refresh happens under `TokenStore.locked()`: an flock on a lock file beside the token file that
every scrobblerd process takes before spending the refresh token, re-reading the file once it
holds the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import structlog

from scrobblerd.atomic import write_atomic
from scrobblerd.errors import AuthError, PermanentError
from scrobblerd.store.modes import fix_secret_mode
from scrobblerd.timefmt import iso_utc

log = structlog.get_logger()

TOKEN_FILE = "token.json"  # noqa: S105 - a file name
LOCK_SUFFIX = ".lock"
# Refresh ahead of expiry by a margin that scales with the lifetime Trakt gave (expires_in):
# 10 % of it, at least a few seconds, at most an hour, and never more than half the lifetime.
REFRESH_FRACTION = 0.10
MIN_MARGIN = 5.0
MAX_MARGIN = 3600.0
DIR_MODE = 0o700
FILE_MODE = 0o600
MAX_LIFETIME = 10 * 365 * 86400  # seconds; Trakt's tokens live a day, anything past this is damage
MAX_CREATED_AT = 1 << 34  # a timestamp in the year 2514: later is damage


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry at which a token of `lifetime` seconds is refreshed."""
    return min(MAX_MARGIN, max(MIN_MARGIN, lifetime * REFRESH_FRACTION), lifetime / 2)


@dataclass(frozen=True)
class Token:
    access_token: str
    refresh_token: str
    expires_in: int
    created_at: int
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type
    scope: str = "public"
    username: str | None = None
    needs_reauth: bool = False

    def __repr__(self) -> str:
        return (
            f"Token(username={self.username!r}, expires_at={iso_utc(self.expires_at)}, "
            f"needs_reauth={self.needs_reauth})"
        )

    @property
    def expires_at(self) -> float:
        return float(self.created_at + self.expires_in)

    def refresh_due(self, now: float) -> bool:
        return self.expires_at - now < refresh_margin(self.expires_in)

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    @classmethod
    def from_trakt(cls, data: dict[str, Any], username: str | None = None, now: float | None = None) -> Token:
        created = data.get("created_at")
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=str(data["refresh_token"]),
            expires_in=_seconds(data.get("expires_in") or 0, "expires_in", MAX_LIFETIME),
            created_at=_seconds(created, "created_at", MAX_CREATED_AT)
            if isinstance(created, int | float)
            else int(now or time.time()),
            token_type=str(data.get("token_type") or "bearer"),
            scope=str(data.get("scope") or "public"),
            username=username,
        )

    @classmethod
    def from_json(cls, data: Any) -> Token:
        if not isinstance(data, dict):
            raise TypeError("not an object")
        token = cls.from_trakt(data, data.get("username"))
        if not token.access_token or not token.refresh_token or token.expires_in <= 0:
            raise ValueError("missing access_token, refresh_token or expires_in")
        return replace(token, needs_reauth=bool(data.get("needs_reauth")))


def _seconds(value: Any, name: str, limit: int) -> int:
    """A whole number of seconds in [0, limit]; anything else (1e400, NaN, 1e17, "x") is damage."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is not a number: {value!r}") from None
    if isinstance(value, bool) or not 0 <= number <= limit:  # NaN fails both comparisons
        raise ValueError(f"{name} out of range: {value!r}")
    return int(number)


def from_reply(data: dict[str, Any], username: str | None, now: float) -> Token:
    """A token from Trakt's answer; one we could not use is Trakt's error, not a crash."""
    try:
        return Token.from_trakt(data, username, now=now)
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentError(f"Trakt sent an unusable token: {exc}") from None


class TokenStore:
    """The token file in state_dir: JSON, 0600, replaced atomically; its directory 0700."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / TOKEN_FILE
        self.problem: str | None = None  # why the last load found no usable token, for status

    def load(self) -> Token | None:
        """The stored token; None when there is none. A corrupt file is moved aside."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuthError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            token = Token.from_json(json.loads(text))
        except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as exc:
            self._move_aside(exc)
            return None
        fix_secret_mode(self.path, "token")
        self.problem = None
        return token

    def _move_aside(self, exc: Exception) -> None:
        aside = self.path.with_name(f"{TOKEN_FILE}.corrupt-{int(time.time())}")
        try:
            os.replace(self.path, aside)
        except OSError as move_error:
            self.problem = (
                f"the token file {self.path} is unreadable ({exc}) and cannot be moved ({move_error})"
            )
            log.error("token_file_corrupt", path=str(self.path), error=str(exc), move_error=str(move_error))
            return
        self.problem = f"the token file was unreadable ({exc}); moved to {aside}; run `scrobblerd auth`"
        log.warning("token_file_corrupt", path=str(self.path), moved_to=str(aside), error=str(exc))

    def save(self, token: Token) -> None:
        parent = self.path.parent
        parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(parent, DIR_MODE)
        text = json.dumps(asdict(token), indent=2, sort_keys=True)
        write_atomic(self.path, text, mode=FILE_MODE, durable=True)

    def delete(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the cross-process refresh lock (flock on `token.json.lock`) for the block."""
        parent = self.path.parent
        parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(TOKEN_FILE + LOCK_SUFFIX), os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def stamp(self) -> int | None:
        """The file's mtime in ns (None when absent): a change means another process wrote it."""
        try:
            return self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
