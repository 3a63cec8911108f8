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
from urllib.parse import quote

import requests
import structlog

import scrobblerd
from scrobblerd import deadline, metrics
from scrobblerd.config.settings import DEFAULT_CLIENT_ID, TraktConfig
from scrobblerd.errors import AuthError, PermanentError, TransientError, UnauthorizedError
from scrobblerd.models import ActionKind, Episode, Item, Movie, Show
from scrobblerd.timefmt import iso_date, iso_utc_ms, parse_time
from scrobblerd.trakt.episodes import ShowEpisodes, parse_show_episodes
from scrobblerd.trakt.errors import (
    BODY_EXCERPT,
    excerpt,
    expect_object,
    json_body,
    raise_for_status,
    retry_after_seconds,
    shaped,
)
from scrobblerd.trakt.objects import (
    DeviceCode,
    DevicePoll,
    HistoryEntry,
    ScrobbleResult,
    SearchResult,
    SyncResult,
    UserSettings,
    as_item,
    episode_object,
    media_object,
    parse_episode,
    parse_item,
    parse_movie,
    parse_search_results,
    parse_show,
    scrobble_body,
    sync_body,
)
from scrobblerd.trakt.playback import PlaybackCalls, PlaybackEntry

# The client's public face: its objects and helpers live in trakt_objects and trakt_errors,
# callers import them from here.
__all__ = [
    "API_VERSION",
    "BODY_EXCERPT",
    "DEVICE_POLL_ANSWERS",
    "HISTORY_PAGE_LIMIT",
    "MAX_PAGES",
    "OOB_REDIRECT",
    "SOLR_SPECIAL",
    "DeviceCode",
    "DevicePoll",
    "HistoryEntry",
    "PlaybackEntry",
    "ScrobbleResult",
    "SearchResult",
    "SyncResult",
    "TokenSource",
    "TraktClient",
    "UserSettings",
    "episode_object",
    "json_body",
    "media_object",
    "parse_episode",
    "parse_item",
    "parse_movie",
    "parse_show",
    "raise_for_status",
    "retry_after_seconds",
    "scrobble_body",
    "search_escape",
    "sync_body",
]

log = structlog.get_logger()

API_VERSION = "2"  # Trakt: trakt-api-version header
OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"  # Trakt: redirect_uri for device/out-of-band apps
DAY = 86400.0
HISTORY_PAGE_LIMIT = 100  # items per page when reading history (fewer round trips)
MAX_PAGES = 100  # a safety stop for pagination that never ends
SOLR_SPECIAL = set('+-&|!(){}[]^"~*?:/\\')  # Trakt: search characters to escape with a backslash
DEVICE_POLL_ANSWERS = frozenset({200, 400, 404, 409, 410, 418, 429})  # Trakt: /oauth/device/token


class TokenSource(Protocol):
    def access_token(self) -> str:
        """The current access token; raises AuthError when there is none."""
        ...

    def refresh_after_401(self, rejected: str) -> str:
        """A new access token after `rejected` got a 401; raises UnauthorizedError when that fails."""
        ...


def search_escape(query: str) -> str:
    return "".join("\\" + ch if ch in SOLR_SPECIAL else ch for ch in query)


class TraktClient(PlaybackCalls):
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

    # ---- identification --------------------------------------------------------------------
    def search_text(
        self, query: str, types: Sequence[str] = ("movie", "show"), year: int | None = None, limit: int = 10
    ) -> list[SearchResult]:
        # title, original_title, translations and aliases: the search fields Trakt uses by default
        params: dict[str, Any] = {"query": search_escape(query), "limit": limit, "extended": "full"}
        if year is not None:
            params["years"] = year
        data = self._json("GET", "/search/" + ",".join(types), "search", oauth=False, params=params)
        return parse_search_results(data)

    def search_id(self, id_type: str, value: str | int, type: str | None = None) -> list[SearchResult]:
        if id_type not in ("trakt", "imdb", "tmdb", "tvdb"):
            raise ValueError(f"unknown id type {id_type!r}")
        params = {"type": type} if type else {}
        data = self._json(
            "GET", f"/search/{id_type}/{quote(str(value), safe='')}", "search", oauth=False, params=params
        )
        return parse_search_results(data)

    def episode(self, show: Show, season: int, number: int) -> Episode | None:
        key = next((show.ids[k] for k in ("trakt", "slug", "imdb") if show.ids.get(k)), None)
        if key is None:
            raise PermanentError(f"episode lookup needs the show's trakt id, slug or imdb id: {show.title!r}")
        path = f"/shows/{quote(str(key), safe='')}/seasons/{season}/episodes/{number}"
        resp = self._call("GET", path, "episode", oauth=False, accept=(404,))
        if resp.status_code == 404:
            return None
        data = json_body(resp, "episode")
        return shaped("episode", lambda: parse_episode(data, show))

    def summary(self, kind: str, key: str) -> Movie | Show | None:
        """GET /movies/:id or /shows/:id (a Trakt id or slug); None when Trakt has no such item."""
        if kind not in ("movie", "show"):
            raise ValueError(f"unknown kind {kind!r}")
        path = f"/{kind}s/{quote(key, safe='')}"
        resp = self._call("GET", path, kind, oauth=False, accept=(404,))
        if resp.status_code == 404:
            return None
        data = expect_object(json_body(resp, kind), kind)
        return shaped(kind, lambda: parse_movie(data) if kind == "movie" else parse_show(data))

    def show_episodes(self, show: Show) -> ShowEpisodes:
        """Every episode of `show` with ids, absolute numbers and air times, and its time zone."""
        key = _show_key(show)
        seasons = self._json(
            "GET", f"/shows/{key}/seasons", "seasons", oauth=False, params={"extended": "full,episodes"}
        )
        summary = self._json("GET", f"/shows/{key}", "show", oauth=False, params={"extended": "full"})
        return shaped("seasons", lambda: parse_show_episodes(seasons, summary, show))

    def show_aliases(self, show: Show) -> list[str]:
        """The show's other titles (localized and alternate ones)."""
        data = self._json("GET", f"/shows/{_show_key(show)}/aliases", "aliases", oauth=False)
        return (
            [str(a["title"]) for a in data if isinstance(a, dict) and a.get("title")]
            if isinstance(data, list)
            else []
        )

    # ---- OAuth (used by scrobblerd.trakt.auth) ----------------------------------------------------
    def _client_auth(self) -> dict[str, str]:
        return {"client_id": self._config.client_id, "client_secret": self._config.client_secret}

    def device_code(self) -> DeviceCode:
        body = {"client_id": self._config.client_id}
        data = self._json(
            "POST", "/oauth/device/code", "device code", oauth=False, base=self._auth_base, json=body
        )
        return shaped(
            "device code",
            lambda: DeviceCode(
                str(data["device_code"]),
                str(data["user_code"]),
                str(data["verification_url"]),
                float(data["expires_in"]),
                float(data["interval"]),
            ),
        )

    def device_token(self, device_code: str) -> DevicePoll:
        body = {"code": device_code, **self._client_auth()}
        resp = self._call(
            "POST",
            "/oauth/device/token",
            "device token",
            oauth=False,
            base=self._auth_base,
            json=body,
            accept=tuple(DEVICE_POLL_ANSWERS - {200}),
        )
        if resp.status_code != 200:
            resp.close()
            return DevicePoll(resp.status_code)
        return DevicePoll(200, _token_dict(json_body(resp, "device token"), "device token"))

    def refresh_token(self, refresh_token: str) -> dict[str, Any]:
        """New tokens for a refresh token. An invalid grant (400/401) is UnauthorizedError."""
        body = {
            "refresh_token": refresh_token,
            "redirect_uri": OOB_REDIRECT,
            "grant_type": "refresh_token",
            **self._client_auth(),
        }
        resp = self._call(
            "POST",
            "/oauth/token",
            "token refresh",
            oauth=False,
            base=self._auth_base,
            json=body,
            accept=(400,),
        )
        if resp.status_code == 400:  # Trakt: {"error": "invalid_grant", "error_description": ...}
            raise UnauthorizedError(f"token refresh: HTTP 400: {excerpt(resp)}", 400)
        return _token_dict(json_body(resp, "token refresh"), "token refresh")

    def probe_auth_host(self) -> int:
        """The HTTP status of a plain GET of the OAuth host's authorize page: any answer means
        logins and refreshes can reach it. TransientError when nothing answers."""
        resp = self._send(
            "GET", "/oauth/authorize", "auth host", None, self._auth_base, allow_redirects=False
        )
        resp.close()
        return resp.status_code

    def revoke(self, token: str) -> None:
        body = {"token": token, **self._client_auth()}
        self._call("POST", "/oauth/revoke", "revoke", oauth=False, base=self._auth_base, json=body).close()


def _show_key(show: Show) -> str:
    key = next((show.ids[k] for k in ("trakt", "slug", "imdb") if show.ids.get(k)), None)
    if key is None:
        raise PermanentError(f"show lookup needs the show's trakt id, slug or imdb id: {show.title!r}")
    return quote(str(key), safe="")


def _token_dict(data: Any, what: str) -> dict[str, Any]:
    token = expect_object(data, what)
    if not isinstance(token.get("access_token"), str) or not isinstance(token.get("refresh_token"), str):
        raise PermanentError(f"{what}: the answer has no access_token/refresh_token")
    return token
