"""The Trakt API v2 client: the only module that knows URLs.

Every HTTP outcome is translated here, once, into scrobblerd.errors: TransientError (network,
timeouts, 429 with Retry-After, 5xx, Cloudflare 52x, unreadable bodies), PermanentError (other
4xx) and UnauthorizedError (401 after one refresh). A 409 on a scrobble is "already recorded":
a result, not an error.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import requests
import structlog

import scrobblerd
from scrobblerd.errors import AuthError, PermanentError, TransientError, UnauthorizedError
from scrobblerd.models import ActionKind, Episode, Ids, Item, Movie, Show
from scrobblerd.settings import TraktConfig

log = structlog.get_logger()

API_VERSION = "2"  # Trakt: trakt-api-version header
OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"  # Trakt: redirect_uri for device/out-of-band apps
HISTORY_PAGE_LIMIT = 100  # items per page when reading history (fewer round trips)
MAX_PAGES = 100  # a safety stop for pagination that never ends
SOLR_SPECIAL = set('+-&|!(){}[]^"~*?:/\\')  # Trakt: search characters to escape with a backslash
DEVICE_POLL_ANSWERS = frozenset({200, 400, 404, 409, 410, 418, 429})  # Trakt: /oauth/device/token
BODY_EXCERPT = 200  # characters of an error body kept in an exception message

T = TypeVar("T")


class TokenSource(Protocol):
    def access_token(self) -> str:
        """The current access token; raises AuthError when there is none."""
        ...

    def refresh_after_401(self, rejected: str) -> str:
        """A new access token after `rejected` got a 401; raises UnauthorizedError when that fails."""
        ...


@dataclass(frozen=True)
class ScrobbleResult:
    action: str  # "start" | "pause" | "scrobble"
    history_id: int | None
    progress: float
    conflict: bool = False  # 409: the item was just scrobbled; `watched_at` says when
    watched_at: str | None = None
    expires_at: str | None = None


@dataclass(frozen=True)
class SyncResult:
    added_movies: int
    added_episodes: int
    not_found: dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class HistoryEntry:
    history_id: int
    watched_at: datetime
    item: Item


@dataclass(frozen=True)
class SearchResult:
    type: str
    score: float
    item: Movie | Show | Episode


@dataclass(frozen=True)
class UserSettings:
    username: str
    ratings_mode: str  # "advanced" | "simple"
    raw: dict[str, Any]


@dataclass(frozen=True)
class DeviceCode:
    device_code: str
    user_code: str
    verification_url: str
    expires_in: float
    interval: float


@dataclass(frozen=True)
class DevicePoll:
    """One answer of /oauth/device/token: `status` is one of DEVICE_POLL_ANSWERS."""

    status: int
    token: dict[str, Any] | None = None


# ---- parsing ---------------------------------------------------------------------------------
def _ids(data: Any) -> Ids:
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, int | str) and v != ""}


def parse_movie(data: dict[str, Any]) -> Movie:
    return Movie(str(data["title"]), data.get("year"), _ids(data.get("ids")))


def parse_show(data: dict[str, Any]) -> Show:
    return Show(str(data["title"]), data.get("year"), _ids(data.get("ids")))


def parse_episode(data: dict[str, Any], show: Show) -> Episode:
    return Episode(
        show=show,
        season=data.get("season"),
        number=data.get("number"),
        title=data.get("title"),
        ids=_ids(data.get("ids")),
        number_abs=data.get("number_abs"),
    )


def parse_item(data: dict[str, Any]) -> Movie | Show | Episode:
    """The movie/episode/show inside a search, history or playback entry."""
    if isinstance(data.get("episode"), dict):
        return parse_episode(data["episode"], parse_show(data["show"]))
    if isinstance(data.get("movie"), dict):
        return parse_movie(data["movie"])
    return parse_show(data["show"])


def parse_time(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def utc_iso(dt: datetime) -> str:
    dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _shaped(what: str, parse: Callable[[], T]) -> T:
    """Run a parser over a response; a body of the wrong shape is a clear error, not a crash."""
    try:
        return parse()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PermanentError(
            f"Trakt sent an unexpected {what} response ({type(exc).__name__}: {exc})"
        ) from None


# ---- serialising -----------------------------------------------------------------------------
def media_object(item: Movie | Show) -> dict[str, Any]:
    body: dict[str, Any] = {"title": item.title}
    if item.year is not None:
        body["year"] = item.year
    if item.ids:
        body["ids"] = dict(item.ids)
    return body


def episode_object(ep: Episode) -> dict[str, Any]:
    """Trakt's episode object: {season, number, ids}, or {number_abs} when that is all we know."""
    if ep.number_abs is not None and not ep.ids and (ep.season is None or ep.number is None):
        return {"number_abs": ep.number_abs}
    body: dict[str, Any] = {}
    if ep.season is not None:
        body["season"] = ep.season
    if ep.number is not None:
        body["number"] = ep.number
    if ep.ids:
        body["ids"] = dict(ep.ids)
    return body


def scrobble_body(item: Item) -> dict[str, Any]:
    if isinstance(item, Movie):
        return {"movie": media_object(item)}
    return {"episode": episode_object(item), "show": media_object(item.show)}


def sync_body(entries: Sequence[tuple[Movie | Show | Episode, dict[str, Any]]]) -> dict[str, Any]:
    """The movies/shows/episodes arrays of /sync/history and /sync/ratings, each entry with `extra`
    (watched_at, rating, rated_at). Episodes with ids go to `episodes`; the rest under their show."""
    body: dict[str, list[dict[str, Any]]] = {"movies": [], "shows": [], "episodes": []}
    shows: dict[str, dict[str, Any]] = {}
    for item, extra in entries:
        if isinstance(item, Movie):
            body["movies"].append({**media_object(item), **extra})
        elif isinstance(item, Show):
            body["shows"].append({**media_object(item), **extra})
        elif item.ids or item.season is None or item.number is None:
            ep = {**episode_object(item), **extra}
            if "ids" not in ep:
                ep["show"] = media_object(item.show)
            body["episodes"].append(ep)
        else:
            key = repr(sorted(media_object(item.show).items()))
            show = shows.setdefault(key, {**media_object(item.show), "seasons": []})
            season = next((s for s in show["seasons"] if s["number"] == item.season), None)
            if season is None:
                season = {"number": item.season, "episodes": []}
                show["seasons"].append(season)
            season["episodes"].append({"number": item.number, **extra})
    body["shows"].extend(shows.values())
    return {k: v for k, v in body.items() if v}


# ---- HTTP outcome mapping --------------------------------------------------------------------
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


def _excerpt(resp: requests.Response) -> str:
    text = " ".join(resp.text.split())
    return text[:BODY_EXCERPT] + ("..." if len(text) > BODY_EXCERPT else "")


def raise_for_status(resp: requests.Response, what: str) -> None:
    """Map a non-success status to our errors; return quietly for 2xx."""
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
        raise TransientError(f"{detail}: {_excerpt(resp)}", status, retry_after)
    if status == 401:
        raise UnauthorizedError(f"{detail}: run `scrobblerd auth`", status)
    raise PermanentError(f"{detail}: {_excerpt(resp)}", status)


def json_body(resp: requests.Response, what: str) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        raise TransientError(
            f"{what}: HTTP {resp.status_code} with a body that is not JSON: {_excerpt(resp)}",
            resp.status_code,
        ) from None


def search_escape(query: str) -> str:
    return "".join("\\" + ch if ch in SOLR_SPECIAL else ch for ch in query)


class TraktClient:
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
        self._app = {"app_version": app_version, "app_date": app_date}
        self._session = requests.Session()
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
    def _send(self, method: str, path: str, what: str, token: str | None, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        started = time.monotonic()
        try:
            resp = self._session.request(
                method, self._base + path, headers=headers, timeout=self._config.timeout, verify=True, **kw
            )
        except requests.Timeout:
            raise TransientError(f"{what}: no answer within {self._config.timeout:g} s") from None
        except (
            requests.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            raise TransientError(f"{what}: connection failed ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise PermanentError(f"{what}: request failed ({type(exc).__name__})") from None
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
        **kw: Any,
    ) -> requests.Response:
        """One request with our headers; with `oauth` a 401 triggers one refresh and one retry.
        Statuses in `accept` are returned to the caller instead of raised."""
        token = self._token() if oauth else None
        resp = self._send(method, path, what, token, **kw)
        if resp.status_code == 401 and token is not None and self._tokens is not None:
            resp.close()
            log.info("trakt_unauthorized", path=path, action="refresh")
            token = self._tokens.refresh_after_401(token)
            resp = self._send(method, path, what, token, **kw)
        if resp.status_code not in accept:
            raise_for_status(resp, what)
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
            return _shaped(
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
        return _shaped(
            what,
            lambda: ScrobbleResult(
                str(data["action"]), int(data["id"]) or None, float(data.get("progress", progress))
            ),
        )

    def add_history(self, watches: Sequence[tuple[Item, datetime]]) -> SyncResult:
        body = sync_body([(item, {"watched_at": utc_iso(at)}) for item, at in watches])
        data = self._json("POST", "/sync/history", "sync/history", json=body)
        return _shaped(
            "sync/history",
            lambda: SyncResult(
                int(data["added"].get("movies", 0)),
                int(data["added"].get("episodes", 0)),
                {k: list(v) for k, v in (data.get("not_found") or {}).items() if v},
            ),
        )

    def get_history(self, kind: str, start_at: datetime, end_at: datetime) -> list[HistoryEntry]:
        if kind not in ("movies", "episodes"):
            raise ValueError(f"history kind must be movies or episodes, not {kind!r}")
        params = {"start_at": utc_iso(start_at), "end_at": utc_iso(end_at), "limit": HISTORY_PAGE_LIMIT}
        rows = self._pages(f"/sync/history/{kind}", "sync/history", params)
        return _shaped(
            "sync/history",
            lambda: [
                HistoryEntry(int(r["id"]), parse_time(r["watched_at"]), _as_item(parse_item(r))) for r in rows
            ],
        )

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

    def get_playback(self) -> list[dict[str, Any]]:
        data = self._json("GET", "/sync/playback", "sync/playback")
        if not isinstance(data, list):
            raise PermanentError("sync/playback: expected a list")
        return data

    def add_ratings(self, ratings: Sequence[tuple[Item | Show, int, datetime]]) -> dict[str, Any]:
        body = sync_body([(item, {"rating": int(r), "rated_at": utc_iso(at)}) for item, r, at in ratings])
        return _dict(self._json("POST", "/sync/ratings", "sync/ratings", json=body), "sync/ratings")

    def remove_ratings(self, items: Sequence[Item | Show]) -> dict[str, Any]:
        body = sync_body([(item, {}) for item in items])
        return _dict(self._json("POST", "/sync/ratings/remove", "sync/ratings/remove", json=body), "ratings")

    def user_settings(self) -> UserSettings:
        data = self._json("GET", "/users/settings", "users/settings")
        return _shaped(
            "users/settings",
            lambda: UserSettings(
                str(data["user"]["username"]),
                str(((data.get("viewing") or {}).get("ratings") or {}).get("mode") or "advanced"),
                dict(data),
            ),
        )

    # ---- identification --------------------------------------------------------------------
    def search_text(
        self, query: str, types: Sequence[str] = ("movie", "show"), year: int | None = None, limit: int = 10
    ) -> list[SearchResult]:
        params: dict[str, Any] = {"query": search_escape(query), "fields": "title", "limit": limit}
        if year is not None:
            params["years"] = year
        data = self._json("GET", "/search/" + ",".join(types), "search", oauth=False, params=params)
        return _results(data)

    def search_id(self, id_type: str, value: str | int, type: str | None = None) -> list[SearchResult]:
        if id_type not in ("trakt", "imdb", "tmdb", "tvdb"):
            raise ValueError(f"unknown id type {id_type!r}")
        params = {"type": type} if type else {}
        data = self._json(
            "GET", f"/search/{id_type}/{quote(str(value), safe='')}", "search", oauth=False, params=params
        )
        return _results(data)

    def episode(self, show: Show, season: int, number: int) -> Episode | None:
        key = next((show.ids[k] for k in ("trakt", "slug", "imdb") if show.ids.get(k)), None)
        if key is None:
            raise PermanentError(f"episode lookup needs the show's trakt id, slug or imdb id: {show.title!r}")
        path = f"/shows/{quote(str(key), safe='')}/seasons/{season}/episodes/{number}"
        resp = self._call("GET", path, "episode", oauth=False, accept=(404,))
        if resp.status_code == 404:
            return None
        data = json_body(resp, "episode")
        return _shaped("episode", lambda: parse_episode(data, show))

    # ---- OAuth (used by scrobblerd.auth) ----------------------------------------------------
    def _client_auth(self) -> dict[str, str]:
        return {"client_id": self._config.client_id, "client_secret": self._config.client_secret}

    def device_code(self) -> DeviceCode:
        body = {"client_id": self._config.client_id}
        data = self._json("POST", "/oauth/device/code", "device code", oauth=False, json=body)
        return _shaped(
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
        resp = self._call("POST", "/oauth/token", "token refresh", oauth=False, json=body, accept=(400,))
        if resp.status_code == 400:
            raise UnauthorizedError(f"token refresh: HTTP 400: {_excerpt(resp)}", 400)
        return _token_dict(json_body(resp, "token refresh"), "token refresh")

    def revoke(self, token: str) -> None:
        body = {"token": token, **self._client_auth()}
        self._call("POST", "/oauth/revoke", "revoke", oauth=False, json=body).close()


def _as_item(value: Movie | Show | Episode) -> Item:
    if isinstance(value, Show):
        raise ValueError("a history entry without a movie or episode")
    return value


def _dict(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PermanentError(f"{what}: expected an object, got {type(data).__name__}")
    return data


def _results(data: Any) -> list[SearchResult]:
    if not isinstance(data, list):
        raise PermanentError(f"search: expected a list, got {type(data).__name__}")
    return _shaped(
        "search",
        lambda: [
            SearchResult(str(r["type"]), float(r.get("score") or 0.0), parse_item(r))
            for r in data
            if r.get("type") in ("movie", "show", "episode")
        ],
    )


def _token_dict(data: Any, what: str) -> dict[str, Any]:
    token = _dict(data, what)
    if not isinstance(token.get("access_token"), str) or not isinstance(token.get("refresh_token"), str):
        raise PermanentError(f"{what}: the answer has no access_token/refresh_token")
    return token
