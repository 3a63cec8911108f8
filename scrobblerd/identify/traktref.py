"""What a user may type to name a Trakt item: a trakt.tv URL, a Trakt id, an IMDb id, or a prefixed
id (`movie:481`, `show:1390`, `tmdb:603`, `tvdb:81189`). Pure parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# trakt.tv/movies/<slug>, trakt.tv/shows/<slug>[/seasons/<n>[/episodes/<m>]] (app.trakt.tv too)
_URL_RE = re.compile(
    r"^/(?:(?P<kind>movies|shows))/(?P<key>[^/?#]+)"
    r"(?:/seasons/(?P<season>\d+)(?:/episodes/(?P<number>\d+))?)?/?$"
)
_PREFIXED_RE = re.compile(r"^(?P<kind>movie|show|trakt|imdb|tmdb|tvdb):(?P<key>\S+)$", re.IGNORECASE)
TRAKT_HOSTS = ("trakt.tv", "www.trakt.tv", "app.trakt.tv")


class TraktRefError(ValueError):
    """The text names no Trakt item we can look up."""


@dataclass(frozen=True, slots=True)
class TraktRef:
    """`kind` is "movie", "show", "episode" or None (any); `id_type` says what `key` is: "trakt",
    "slug", "imdb", "tmdb" or "tvdb". Episodes carry their season and number."""

    kind: str | None
    id_type: str
    key: str
    season: int | None = None
    number: int | None = None

    def describe(self) -> str:
        where = f" season {self.season}" if self.season is not None else ""
        where += f" episode {self.number}" if self.number is not None else ""
        return f"{self.kind or 'item'} {self.id_type}={self.key}{where}"


def parse_trakt_ref(text: str) -> TraktRef:
    text = text.strip()
    if re.match(r"^https?://", text, re.IGNORECASE):
        return _from_url(text)
    if prefixed := _PREFIXED_RE.match(text):
        kind, key = prefixed.group("kind").lower(), prefixed.group("key")
        if kind in ("movie", "show"):
            return TraktRef(kind, "trakt" if key.isdigit() else "slug", key)
        return TraktRef(None, kind, key)
    if text.isdigit():
        return TraktRef(None, "trakt", text)
    if re.fullmatch(r"tt\d{5,}", text):
        return TraktRef(None, "imdb", text)
    raise TraktRefError(
        f"{text!r} is not a Trakt URL or id: use a trakt.tv link (https://trakt.tv/movies/the-matrix-1999, "
        "https://trakt.tv/shows/the-office/seasons/2/episodes/3), a Trakt id (481, movie:481, show:1390) "
        "or an IMDb id (tt0133093)"
    )


def _from_url(text: str) -> TraktRef:
    parts = urlsplit(text)
    if (parts.hostname or "").lower() not in TRAKT_HOSTS:
        raise TraktRefError(f"{text!r} is not a trakt.tv link")
    found = _URL_RE.match(unquote(parts.path))
    if found is None:
        raise TraktRefError(
            f"{text!r}: expected https://trakt.tv/movies/<slug>, /shows/<slug> or "
            "/shows/<slug>/seasons/<n>/episodes/<m>"
        )
    key = found.group("key")
    id_type = "trakt" if key.isdigit() else "slug"
    if found.group("kind") == "movies":
        return TraktRef("movie", id_type, key)
    if found.group("number") is not None:
        return TraktRef("episode", id_type, key, int(found.group("season")), int(found.group("number")))
    if found.group("season") is not None:
        raise TraktRefError(f"{text!r} names a whole season: link one episode, or the show")
    return TraktRef("show", id_type, key)
