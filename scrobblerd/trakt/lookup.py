"""Identification's calls: text and id search, an episode, a movie or show summary, a show's
episode list and aliases. A part of TraktClient."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from scrobblerd.errors import PermanentError
from scrobblerd.models import Episode, Movie, Show
from scrobblerd.trakt.calls import ClientPart
from scrobblerd.trakt.episodes import ShowEpisodes, parse_show_episodes
from scrobblerd.trakt.errors import expect_object, json_body, shaped
from scrobblerd.trakt.objects import (
    SearchResult,
    parse_episode,
    parse_movie,
    parse_search_results,
    parse_show,
)

SOLR_SPECIAL = set('+-&|!(){}[]^"~*?:/\\')  # Trakt: search characters to escape with a backslash


def search_escape(query: str) -> str:
    return "".join("\\" + ch if ch in SOLR_SPECIAL else ch for ch in query)


class LookupCalls(ClientPart):
    """Mixed into TraktClient, whose transport these use."""

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


def _show_key(show: Show) -> str:
    key = next((show.ids[k] for k in ("trakt", "slug", "imdb") if show.ids.get(k)), None)
    if key is None:
        raise PermanentError(f"show lookup needs the show's trakt id, slug or imdb id: {show.title!r}")
    return quote(str(key), safe="")
