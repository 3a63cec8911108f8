"""Checks that ask Trakt: reachable (and how fast), the account, and our clock against Trakt's."""

from __future__ import annotations

import email.utils
import time

from scrobblerd.config.settings import DEFAULT_CLIENT_ID, Config
from scrobblerd.doctor.check import Check, failed, passed
from scrobblerd.errors import (
    AccountLimitError,
    AccountLockedError,
    AppRejectedError,
    AuthError,
    TraktError,
    TransientError,
    VipOnlyError,
)
from scrobblerd.trakt.auth import TokenManager, TokenStore
from scrobblerd.trakt.client import TraktClient

CLOCK_TOLERANCE = 30.0  # seconds; watched_at is only as right as our clock


def trakt_checks(config: Config) -> list[Check]:
    """`trakt` and `clock`: GET /users/settings with the token (a public search without one)."""
    with TraktClient(config.trakt) as oauth:
        tokens = TokenManager(TokenStore(config.state_dir), oauth)
        with TraktClient(config.trakt, tokens) as api:
            trakt = _account(config, api)
            return [trakt, clock_check(api.last_answer)]


def _account(config: Config, api: TraktClient) -> Check:
    name, host = "trakt", config.trakt.api_url
    started = time.monotonic()
    try:
        try:
            settings = api.user_settings()
        except AuthError:
            api.search_text("trakt", limit=1)  # reachable at least; the token check says why not authorised
            return passed(
                name, f"{host} answered in {_ms(started)} ms (not logged in, so no account to check)"
            )
    except AppRejectedError as exc:
        custom = config.trakt.client_id != DEFAULT_CLIENT_ID
        fix = (
            "remove trakt.client_id and trakt.client_secret from the config, then run `scrobblerd auth`"
            if custom
            else "update scrobblerd; if it persists, report it (Trakt refused the built-in app)"
        )
        return failed(name, str(exc), fix)
    except AccountLockedError as exc:
        return failed(
            name,
            f"HTTP 423, the Trakt account is locked: {exc}",
            "sign in on trakt.tv and follow its instructions (or ask Trakt support); watches wait meanwhile",
        )
    except AccountLimitError as exc:
        return failed(
            name,
            f"HTTP 420, the Trakt account hit a limit: {exc}",
            "make room (or upgrade to VIP) on trakt.tv",
        )
    except VipOnlyError as exc:
        return failed(
            name,
            f"HTTP 426, a VIP-only feature: {exc}",
            "upgrade the Trakt account to VIP, or turn the feature off",
        )
    except AuthError as exc:
        return failed(name, str(exc), "run `scrobblerd auth`")
    except TransientError as exc:
        return failed(
            name,
            f"Trakt did not answer: {exc}",
            f"check the network and {host}; watches wait in the queue meanwhile",
        )
    except TraktError as exc:
        return failed(name, f"Trakt refused: {exc}", "see the README's troubleshooting for this status")
    vip = "VIP" if settings.vip else "free"
    return _auth_host(config, api) or passed(
        name, f"{host} answered in {_ms(started)} ms; account {settings.username} ({vip})"
    )


def _auth_host(config: Config, api: TraktClient) -> Check | None:
    """A failed check when the OAuth host (trakt.auth_url) does not answer: refreshes would fail."""
    try:
        api.probe_auth_host()
    except TransientError as exc:
        return failed(
            "trakt",
            f"the API answers but the OAuth host {config.trakt.auth_url} does not ({exc}): "
            "logins and token refreshes will fail",
            "check trakt.auth_url (default https://auth.trakt.tv) and the network",
        )
    return None


def clock_check(answer: tuple[str | None, float] | None) -> Check:
    """Our clock against the Date header of Trakt's last answer (1 s resolution)."""
    name = "clock"
    if answer is None or answer[0] is None:
        return passed(name, "not compared: Trakt sent no answer with a Date header")
    try:
        server = email.utils.parsedate_to_datetime(answer[0]).timestamp()
    except (TypeError, ValueError):
        return passed(name, f"not compared: Trakt's Date header is unreadable ({answer[0]!r})")
    skew = answer[1] - server
    if abs(skew) > CLOCK_TOLERANCE:
        way = "ahead of" if skew > 0 else "behind"
        return failed(
            name,
            f"this machine's clock is {abs(skew):.0f} s {way} Trakt's: watch times would be that wrong",
            "turn on time sync: `sudo timedatectl set-ntp true` (or run chrony/ntpd)",
        )
    return passed(name, f"within {max(1.0, abs(skew)):.0f} s of Trakt's clock")


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
