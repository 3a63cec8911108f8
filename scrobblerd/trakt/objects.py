"""Trakt's JSON objects: the client's result types, and models to and from Trakt's shapes.

Pure: no requests, no URLs. scrobblerd.trakt.client sends what these build and parses what comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scrobblerd.errors import PermanentError
from scrobblerd.models import Episode, Ids, Item, Movie, Show
from scrobblerd.trakt.errors import shaped


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
    updated: int = 0  # Trakt: plays it already had and updated instead of adding


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
    country: str | None = None  # the movie's or show's country (lower-case ISO code), with extended=full


@dataclass(frozen=True)
class UserSettings:
    username: str
    vip: bool
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
    """One answer of /oauth/device/token: `status` is one of scrobblerd.trakt.oauth.DEVICE_POLL_ANSWERS."""

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


def as_item(value: Movie | Show | Episode) -> Item:
    if isinstance(value, Show):
        raise ValueError("a history entry without a movie or episode")
    return value


def _country(result: dict[str, Any]) -> str | None:
    body = result.get(str(result.get("type")))
    country = body.get("country") if isinstance(body, dict) else None
    return country.lower() if isinstance(country, str) and country else None


def parse_search_results(data: Any) -> list[SearchResult]:
    if not isinstance(data, list):
        raise PermanentError(f"search: expected a list, got {type(data).__name__}")
    return shaped(
        "search",
        lambda: [
            SearchResult(str(r["type"]), float(r.get("score") or 0.0), parse_item(r), _country(r))
            for r in data
            if r.get("type") in ("movie", "show", "episode")
        ],
    )


# ---- serialising -----------------------------------------------------------------------------
def media_object(item: Movie | Show) -> dict[str, Any]:
    body: dict[str, Any] = {"title": item.title}
    if item.year is not None:
        body["year"] = item.year
    if item.ids:
        body["ids"] = dict(item.ids)
    return body


EPISODE_ID_KEYS = ("trakt", "tvdb")  # Trakt's contract: an episode is named by its trakt or tvdb id


def episode_ids(ep: Episode) -> dict[str, Any] | None:
    """The ids the contract names an episode by (trakt, tvdb), or None when we know neither."""
    ids = {k: ep.ids[k] for k in EPISODE_ID_KEYS if isinstance(ep.ids.get(k), int)}
    return ids or None


def episode_object(ep: Episode) -> dict[str, Any]:
    """Trakt's episode object: {ids} (the contract's form) when the episode's trakt or tvdb id is
    known; otherwise the fallback Trakt still accepts beside the show: {season, number}, or
    {number_abs} when that is all we know."""
    ids = episode_ids(ep)
    if ids is not None:
        return {"ids": ids}
    if ep.number_abs is not None and (ep.season is None or ep.number is None):
        return {"number_abs": ep.number_abs}
    body: dict[str, Any] = {}
    if ep.season is not None:
        body["season"] = ep.season
    if ep.number is not None:
        body["number"] = ep.number
    return body


def scrobble_body(item: Item) -> dict[str, Any]:
    if isinstance(item, Movie):
        return {"movie": media_object(item)}
    if episode_ids(item) is not None:
        return {"episode": episode_object(item)}
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
        elif episode_ids(item) is not None or item.season is None or item.number is None:
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
