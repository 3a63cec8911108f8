"""Trakt tokens: the 0600 token file, the device-code login, and refresh.

`TokenManager` is the TokenSource the Trakt client asks for an access token. It refreshes ahead
of expiry and once after a 401. Refresh tokens are single-use, and the daemon and the CLI share
the token file, so a refresh takes a thread lock and then the file's cross-process lock, and
re-reads the file under it: when another thread or process refreshed meanwhile, its token is used
and ours is never spent twice. The rotated refresh token is on disk before the new access token
is handed out. A refresh Trakt refuses for good marks the token "needs re-auth" (persisted):
callers then get UnauthorizedError and queue their work until `scrobblerd auth` is run again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

import structlog

from scrobblerd.config.settings import Config
from scrobblerd.errors import AuthError, PermanentError, TransientError, UnauthorizedError
from scrobblerd.timefmt import iso_utc
from scrobblerd.trakt.client import TraktClient
from scrobblerd.trakt.objects import DeviceCode, DevicePoll
from scrobblerd.trakt.tokenfile import TOKEN_FILE, Token, TokenStore, from_reply, refresh_margin

__all__ = [
    "TOKEN_FILE",
    "DeviceApi",
    "OAuthApi",
    "Token",
    "TokenManager",
    "TokenStore",
    "auth_status",
    "device_login",
    "open_tokens",
    "refresh_margin",
]

log = structlog.get_logger()

SLOW_DOWN_STEP = 5.0  # Trakt: on 429 from /oauth/device/token, poll 5 s less often (RFC 8628)


class OAuthApi(Protocol):
    def refresh_token(self, refresh_token: str) -> dict[str, Any]: ...

    def revoke(self, token: str) -> None: ...


class TokenManager:
    """A TokenSource backed by the token file. Thread-safe."""

    def __init__(self, store: TokenStore, oauth: OAuthApi, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._oauth = oauth
        self._clock = clock
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._stamp: int | None = None
        self._loaded = False

    # ---- TokenSource ------------------------------------------------------------------------
    def access_token(self) -> str:
        with self._lock:
            token = self._usable()
            now = self._clock()
            if not token.refresh_due(now):
                return token.access_token
            try:
                return self._refresh_shared(token).access_token
            except TransientError:
                if token.expired(now):
                    raise
                log.warning("token_refresh_postponed", expires_at=iso_utc(token.expires_at))
                return token.access_token

    def refresh_after_401(self, rejected: str) -> str:
        with self._lock:
            token = self._usable()
            if token.access_token != rejected:
                return token.access_token  # another caller refreshed meanwhile
            return self._refresh_shared(token, rejected).access_token

    # ---- for the daemon, status and the CLI --------------------------------------------------
    def refresh_if_due(self) -> bool:
        """Refresh now when due (a scheduler job); True when a refresh happened."""
        with self._lock:
            token = self._current()
            if token is None or token.needs_reauth or not token.refresh_due(self._clock()):
                return False
            return self._refresh_shared(token) is not token

    def status(self) -> dict[str, Any]:
        """The authorisation part of `status` (the same shape as `auth_status`)."""
        with self._lock:
            try:
                token = self._current()
            except AuthError as exc:
                return _status(None, str(exc))
        return _status(token, self._store.problem)

    def store_login(self, data: dict[str, Any], username: str | None = None) -> Token:
        """Persist tokens from the device flow (replacing any old token and re-auth flag)."""
        with self._lock:
            token = from_reply(data, username, self._clock())
            self._save(token)
            return token

    def set_username(self, username: str) -> None:
        with self._lock:
            token = self._current()
            if token is not None and token.username != username:
                self._save(replace(token, username=username))

    def logout(self) -> tuple[bool, str | None]:
        """Revoke and delete. Returns (a token existed, the revoke error if it failed)."""
        with self._lock:
            token = self._current()
            error: str | None = None
            if token is not None:
                try:
                    self._oauth.revoke(token.access_token)
                except (TransientError, PermanentError, AuthError) as exc:
                    error = str(exc)
            existed = self._store.delete() or token is not None
            self._token, self._stamp = None, None
            return existed, error

    # ---- internals (lock held) ---------------------------------------------------------------
    def _current(self) -> Token | None:
        stamp = self._store.stamp()
        if not self._loaded or stamp != self._stamp:
            self._token = self._store.load()
            self._stamp = self._store.stamp()
            self._loaded = True
        return self._token

    def _usable(self) -> Token:
        token = self._current()
        if token is None:
            raise AuthError(self._store.problem or "not authorised: run `scrobblerd auth`")
        if token.needs_reauth:
            raise UnauthorizedError("Trakt refused the refresh token: run `scrobblerd auth` again")
        return token

    def _save(self, token: Token) -> None:
        self._store.save(token)
        self._token, self._stamp, self._loaded = token, self._store.stamp(), True

    def _refresh_shared(self, seen: Token, rejected: str | None = None) -> Token:
        """Refresh `seen` unless another process already did: under the file lock the file is
        read again, and a token rotated meanwhile (not due, or not the `rejected` one) is used."""
        with self._store.locked():
            self._loaded = False  # re-read whatever the file holds now
            token = self._usable()
            if token.refresh_token != seen.refresh_token:
                fresh = not token.refresh_due(self._clock())
                if (rejected is None and fresh) or (rejected is not None and token.access_token != rejected):
                    log.debug("token_refreshed_elsewhere", expires_at=iso_utc(token.expires_at))
                    return token
            return self._refresh(token)

    def _refresh(self, token: Token) -> Token:
        try:
            data = self._oauth.refresh_token(token.refresh_token)
        except (UnauthorizedError, PermanentError) as exc:
            self._save(replace(token, needs_reauth=True))
            log.error(
                "token_refresh_refused", status=getattr(exc, "status", None), hint="run scrobblerd auth"
            )
            raise UnauthorizedError(
                f"Trakt refused the refresh token ({exc}): run `scrobblerd auth`"
            ) from None
        new = from_reply(data, token.username, self._clock())
        self._save(new)  # the rotated refresh token is on disk before anyone uses the new access token
        log.info("token_refreshed", expires_at=iso_utc(new.expires_at))
        return new


class DeviceApi(Protocol):
    def device_code(self) -> DeviceCode: ...

    def device_token(self, device_code: str) -> DevicePoll: ...


DEVICE_FAILURES = {
    404: "Trakt does not know this code (invalid device code)",
    409: "this code was already used",
    410: "the code expired before it was approved; run `scrobblerd auth` again",
    418: "the request was denied on trakt.tv",
}


def device_login(
    api: DeviceApi,
    on_code: Callable[[DeviceCode], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Run the device flow to the end: Trakt's token dict, or AuthError saying why not.

    Polls every `interval` seconds (plus 5 s after each 429) until `expires_in` runs out.
    Network trouble and 5xx while polling are retried at the same pace.
    """
    code = api.device_code()
    on_code(code)
    deadline = clock() + code.expires_in
    interval = code.interval
    while True:
        if clock() + interval > deadline:
            raise AuthError(DEVICE_FAILURES[410])
        sleep(interval)
        try:
            poll = api.device_token(code.device_code)
        except TransientError as exc:
            log.warning("device_poll_failed", error=str(exc))
            continue
        if poll.status == 200 and poll.token is not None:
            log.info("device_authorized")
            return poll.token
        if poll.status == 429:
            interval += SLOW_DOWN_STEP
            log.info("device_poll_slow_down", interval=interval)
        elif poll.status in DEVICE_FAILURES:
            raise AuthError(DEVICE_FAILURES[poll.status])


def open_tokens(config: Config) -> tuple[TokenManager, TraktClient]:
    """The token manager for `config` and the client it refreshes with (close the client when done)."""
    oauth = TraktClient(config.trakt)
    return TokenManager(TokenStore(config.state_dir), oauth), oauth


def auth_status(config: Config) -> dict[str, Any]:
    """What `status` shows, from the token file alone (no network, no refresh)."""
    store = TokenStore(config.state_dir)
    try:
        token = store.load()
    except AuthError as exc:
        return _status(None, str(exc))
    return _status(token, store.problem)


def _status(token: Token | None, problem: str | None) -> dict[str, Any]:
    return {
        "authorized": token is not None and not token.needs_reauth,
        "expires_at": iso_utc(token.expires_at) if token else None,
        "username": token.username if token else None,
        "needs_reauth": bool(token and token.needs_reauth),
        "problem": problem,
    }
