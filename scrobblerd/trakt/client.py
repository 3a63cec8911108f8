"""The Trakt API v2 client: the only module that knows URLs.

Every HTTP outcome is translated once into scrobblerd.errors: transport failures here, statuses
and bodies in scrobblerd.trakt.errors (TransientError for network, timeouts, 429 with
Retry-After, 5xx, Cloudflare 52x, unreadable bodies; PermanentError for other 4xx;
UnauthorizedError for a 401 after one refresh). A 409 on a scrobble is "already recorded": a
result, not an error. The objects sent and returned live in scrobblerd.trakt.objects.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import requests
import structlog

import scrobblerd
from scrobblerd import deadline, metrics
from scrobblerd.config.settings import DEFAULT_CLIENT_ID, TraktConfig
from scrobblerd.errors import AuthError, PermanentError, TransientError
from scrobblerd.models import ActionKind, Item, Show
from scrobblerd.timefmt import iso_date, iso_utc_ms, parse_time
from scrobblerd.trakt.errors import (
    expect_object,
    json_body,
    raise_for_status,
    shaped,
)
from scrobblerd.trakt.lookup import LookupCalls
from scrobblerd.trakt.oauth import OAuthCalls
from scrobblerd.trakt.objects import (
    HistoryEntry,
    ScrobbleResult,
    SyncResult,
    UserSettings,
    as_item,
    parse_item,
    scrobble_body,
    sync_body,
)
from scrobblerd.trakt.playback import PlaybackCalls

log = structlog.get_logger()

API_VERSION = "2"  # Trakt: trakt-api-version header
DAY = 86400.0
HISTORY_PAGE_LIMIT = 100  # items per page when reading history (fewer round trips)
MAX_PAGES = 100  # a safety stop for pagination that never ends


class TokenSource(Protocol):
    def access_token(self) -> str:
        """The current access token; raises AuthError when there is none."""
        ...

    def refresh_after_401(self, rejected: str) -> str:
        """A new access token after `rejected` got a 401; raises UnauthorizedError when that fails."""
        ...


class TraktClient(PlaybackCalls, LookupCalls, OAuthCalls):
    """One requests.Session against `config.api_url`; safe to share between threads for reads,
    used by one delivery thread for writes."""

    def __init__(
        self,
        config: TraktConfig,
        tokens: TokenSource | None = None,
        *,
        app_version: str = scrobblerd.__version__,
        app_date: str = scrobblerd.__date__,
    ) -> None:
        self._config = config
        self._tokens = tokens
        self._base = config.api_url.rstrip("/")
        self._auth_base = config.auth_url.rstrip("/")  # Trakt: OAuth never goes to the API host
        self._app = {"app_version": app_version, "app_date": app_date}
        self.last_answer: tuple[str | None, float] | None = None  # (Date header, our time) of the last answer
        self._session = deadline.install(requests.Session())
        self._session.verify = True  # never configurable: tokens travel in these requests
        self._session.headers.update(
            {
                "Content-Type": "application/json",
                "trakt-api-key": config.client_id,
                "trakt-api-version": API_VERSION,
                "User-Agent": f"scrobblerd/{app_version}",
            }
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> TraktClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transport -------------------------------------------------------------------------
    def _send(
        self, method: str, path: str, what: str, token: str | None, base: str | None = None, **kw: Any
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        url = (base or self._base) + path
        started = time.monotonic()
        try:
            # The timeout bounds the whole exchange, not each read: a peer that drips never holds us.
            resp = deadline.request(
                self._session, method, url, total=self._config.timeout, headers=headers, verify=True, **kw
            )
        except requests.Timeout:
            metrics.count(metrics.TRAKT_REQUESTS, endpoint=what, status="timeout")
            raise TransientError(f"{what}: no answer within {self._config.timeout:g} s") from None
        except (
            requests.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            metrics.count(metrics.TRAKT_REQUESTS, endpoint=what, status="error")
            raise TransientError(f"{what}: connection failed ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            metrics.count(metrics.TRAKT_REQUESTS, endpoint=what, status="error")
            raise PermanentError(f"{what}: request failed ({type(exc).__name__})") from None
        metrics.count(metrics.TRAKT_REQUESTS, endpoint=what, status=str(resp.status_code))
        self.last_answer = (resp.headers.get("Date"), time.time())  # the clock check compares them
        log.debug(
            "trakt_http",
            method=method,
            path=path,
            status=resp.status_code,
            ms=round((time.monotonic() - started) * 1000),
        )
        return resp

    def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        oauth: bool = True,
        accept: tuple[int, ...] = (),
        base: str | None = None,
        **kw: Any,
    ) -> requests.Response:
        """One request with our headers; with `oauth` a 401 triggers one refresh and one retry.
        Statuses in `accept` are returned to the caller instead of raised."""
        token = self._token() if oauth else None
        resp = self._send(method, path, what, token, base, **kw)
        if resp.status_code == 401 and token is not None and self._tokens is not None:
            resp.close()
            log.info("trakt_unauthorized", path=path, action="refresh")
            token = self._tokens.refresh_after_401(token)
            resp = self._send(method, path, what, token, base, **kw)
        if resp.status_code not in accept:
            raise_for_status(resp, what, custom_app=self._config.client_id != DEFAULT_CLIENT_ID)
        return resp

    def _token(self) -> str:
        if self._tokens is None:
            raise AuthError("not authorised: run `scrobblerd auth`")
        return self._tokens.access_token()

    def _json(self, method: str, path: str, what: str, **kw: Any) -> Any:
        resp = self._call(method, path, what, **kw)
        return json_body(resp, what)

    # ---- scrobbling and sync ---------------------------------------------------------------
    def scrobble(self, kind: ActionKind, item: Item, progress: float) -> ScrobbleResult:
        what = f"scrobble/{kind.value}"
        body = {**scrobble_body(item), "progress": round(min(100.0, max(0.0, progress)), 2), **self._app}
        resp = self._call("POST", f"/scrobble/{kind.value}", what, json=body, accept=(409,))
        data = json_body(resp, what)
        if resp.status_code == 409:
            return shaped(
                what,
                lambda: ScrobbleResult(
                    "scrobble",
                    None,
                    progress,
                    True,
                    (data or {}).get("watched_at"),
                    (data or {}).get("expires_at"),
                ),
            )
        return shaped(
            what,
            lambda: ScrobbleResult(
                str(data["action"]), int(data["id"]) or None, float(data.get("progress", progress))
            ),
        )

    def add_history(self, watches: Sequence[tuple[Item, datetime]]) -> SyncResult:
        body = sync_body([(item, {"watched_at": iso_utc_ms(at)}) for item, at in watches])
        data = self._json("POST", "/sync/history", "sync/history", json=body)
        return shaped(
            "sync/history",
            lambda: SyncResult(
                int(data["added"].get("movies", 0)),
                int(data["added"].get("episodes", 0)),
                {k: list(v) for k, v in (data.get("not_found") or {}).items() if v},
                int((data.get("updated") or {}).get("movies", 0))
                + int((data.get("updated") or {}).get("episodes", 0)),
            ),
        )

    def get_history(
        self, kind: str, start_at: datetime, end_at: datetime, trakt_id: int | None = None
    ) -> list[HistoryEntry]:
        """What Trakt recorded between `start_at` and `end_at`, of one item when `trakt_id` is
        given (the contract's /sync/history/{type}/{id}). The contract takes whole days
        (YYYY-MM-DD, UTC), so the days around the window are fetched and the rest filtered here."""
        if kind not in ("movies", "episodes"):
            raise ValueError(f"history kind must be movies or episodes, not {kind!r}")
        params = {
            "start_at": iso_date(start_at.timestamp()),
            "end_at": iso_date(end_at.timestamp() + DAY),  # the day after: end_at may be exclusive
            "limit": HISTORY_PAGE_LIMIT,
        }
        path = f"/sync/history/{kind}" + (f"/{int(trakt_id)}" if trakt_id is not None else "")
        rows = self._pages(path, "sync/history", params)
        entries = shaped(
            "sync/history",
            lambda: [
                HistoryEntry(int(r["id"]), parse_time(r["watched_at"]), as_item(parse_item(r))) for r in rows
            ],
        )
        return [e for e in entries if start_at <= e.watched_at <= end_at]

    def _pages(self, path: str, what: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            resp = self._call("GET", path, what, params={**params, "page": page})
            data = json_body(resp, what)
            if not isinstance(data, list):
                raise PermanentError(f"{what}: expected a list, got {type(data).__name__}")
            rows.extend(data)
            try:
                count = int(resp.headers.get("X-Pagination-Page-Count", "1"))
            except ValueError:
                count = 1
            if page >= count or not data:
                break
        return rows

    def add_ratings(self, ratings: Sequence[tuple[Item | Show, int, datetime]]) -> dict[str, Any]:
        body = sync_body([(item, {"rating": int(r), "rated_at": iso_utc_ms(at)}) for item, r, at in ratings])
        return expect_object(self._json("POST", "/sync/ratings", "sync/ratings", json=body), "sync/ratings")

    def remove_ratings(self, items: Sequence[Item | Show]) -> dict[str, Any]:
        body = sync_body([(item, {}) for item in items])
        return expect_object(
            self._json("POST", "/sync/ratings/remove", "sync/ratings/remove", json=body), "ratings"
        )

    def user_settings(self) -> UserSettings:
        data = self._json("GET", "/users/settings", "users/settings")
        return shaped(
            "users/settings",
            lambda: UserSettings(str(data["user"]["username"]), bool(data["user"].get("vip")), dict(data)),
        )
