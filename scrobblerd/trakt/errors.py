"""Trakt HTTP outcomes as scrobblerd.errors: status codes, Retry-After and response bodies.

Every answer is translated here, once: TransientError (429 with Retry-After, 5xx, Cloudflare 52x,
unreadable bodies), PermanentError (other 4xx, bodies of the wrong shape) and UnauthorizedError
(401). Transport failures (timeouts, refused connections) are mapped where requests are sent.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests

from scrobblerd.errors import (
    AccountLimitError,
    AccountLockedError,
    AppRejectedError,
    PermanentError,
    TransientError,
    UnauthorizedError,
    VipOnlyError,
)

BODY_EXCERPT = 200  # characters of an error body kept in an exception message
ACCOUNT_LIMIT = 420  # Trakt: account limit exceeded (free accounts)
ACCOUNT_LOCKED = 423  # Trakt: account locked
VIP_ONLY = 426  # Trakt: a VIP-only feature
LOCKED_RETRY = 120.0  # seconds between writes while the account is locked
APP_REJECTED = 403  # Trakt: invalid API key or unapproved app (a removed app answers this to everything)
CUSTOM_APP_REMOVED = (
    "Trakt refused the API key of your own app (trakt.client_id): Trakt removes apps whose users "
    "never complete a login, and creating a new one needs a VIP account. Check the app on "
    "https://trakt.tv/oauth/applications, or go back to scrobblerd's built-in app: remove "
    "trakt.client_id and trakt.client_secret from the config and run `scrobblerd auth`"
)
BUILT_IN_APP_REJECTED = "Trakt refused scrobblerd's built-in app; see the README's troubleshooting"

ACCOUNT_PROBLEMS = {
    ACCOUNT_LIMIT: "the Trakt account hit a limit (HTTP 420)",
    ACCOUNT_LOCKED: "the Trakt account is locked (HTTP 423); writes wait until Trakt unlocks it",
    VIP_ONLY: "a Trakt feature needs a VIP account (HTTP 426)",
}
_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")

T = TypeVar("T")


def account_problem(message: str | None) -> str | None:
    """What an error message (ours, "...: HTTP 423 ...") says about the account, or None."""
    found = _HTTP_STATUS.search(message or "")
    return ACCOUNT_PROBLEMS.get(int(found.group(1))) if found else None


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: a number or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def excerpt(resp: requests.Response) -> str:
    text = " ".join(resp.text.split())
    return text[:BODY_EXCERPT] + ("..." if len(text) > BODY_EXCERPT else "")


def raise_for_status(resp: requests.Response, what: str, *, custom_app: bool = False) -> None:
    """Map a non-success status to our errors; return quietly for 2xx. `custom_app`: the
    request carried the user's own client_id (a 403 then most likely means Trakt removed it)."""
    status = resp.status_code
    if 200 <= status < 300:
        return
    detail = f"{what}: HTTP {status} {resp.reason or ''}".rstrip()
    retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
    if status == 429:
        raise TransientError(
            f"{detail} (rate limited)", status, retry_after if retry_after is not None else None
        )
    if status >= 500:
        raise TransientError(f"{detail}: {excerpt(resp)}", status, retry_after)
    if status == 401:
        raise UnauthorizedError(f"{detail}: run `scrobblerd auth`", status)
    if status == ACCOUNT_LIMIT:
        raise AccountLimitError(f"{detail}: the Trakt account hit a limit: {excerpt(resp)}", status)
    if status == ACCOUNT_LOCKED:
        raise AccountLockedError(f"{detail}: the Trakt account is locked; see trakt.tv", status, LOCKED_RETRY)
    if status == APP_REJECTED:
        why = CUSTOM_APP_REMOVED if custom_app else BUILT_IN_APP_REJECTED
        raise AppRejectedError(f"{detail}: {why}", status)
    if status == VIP_ONLY:
        raise VipOnlyError(f"{detail}: this feature needs a Trakt VIP account", status)
    raise PermanentError(f"{detail}: {excerpt(resp)}", status)


def json_body(resp: requests.Response, what: str) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the decoder goes
        raise TransientError(
            f"{what}: HTTP {resp.status_code} with a body that is not JSON: {excerpt(resp)}",
            resp.status_code,
        ) from None


def shaped(what: str, parse: Callable[[], T]) -> T:
    """Run a parser over a response; a body of the wrong shape is a clear error, not a crash."""
    try:
        return parse()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PermanentError(
            f"Trakt sent an unexpected {what} response ({type(exc).__name__}: {exc})"
        ) from None


def expect_object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PermanentError(f"{what}: expected an object, got {type(data).__name__}")
    return data
