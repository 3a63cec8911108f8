"""What we believe about a file before asking Trakt, and the text helpers every parser shares."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from scrobblerd.models import Ids

# Extensions that mark the last URL path component as a media file name worth parsing.
MEDIA_EXTENSIONS = frozenset(
    {
        "mkv",
        "mp4",
        "m4v",
        "avi",
        "mov",
        "wmv",
        "mpg",
        "mpeg",
        "ts",
        "m2ts",
        "webm",
        "flv",
        "ogv",
        "ogm",
        "divx",
        "iso",
        "vob",
        "3gp",
        "rmvb",
    }
)
# Trakt id names a player may hand us in its metadata tags (e.g. mpv's file tags, Kodi uniqueid).
ID_NAMES = ("trakt", "imdb", "tmdb", "tvdb", "slug")

_URL_RE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Guess:
    """What we believe before asking Trakt. `title` is the show's title for episodes.

    `episodes` are numbers within `season`; `absolute` are absolute numbers (anime) when the
    name carries no season. `date` is an ISO date for daily shows. `hints` names the fields a
    player supplied (they beat the file name).
    """

    type: str | None = None  # "movie" | "episode" | "extra" (never scrobbled) | None
    title: str | None = None
    year: int | None = None
    season: int | None = None
    episodes: tuple[int, ...] = ()
    absolute: tuple[int, ...] = ()
    date: str | None = None
    episode_title: str | None = None
    country: str | None = None  # a title's country marker: "US", "UK", ...
    aliases: tuple[str, ...] = ()  # alternate titles the name gives ("A aka B", "A / B")
    ids: Ids = field(default_factory=dict)
    show_ids: Ids = field(default_factory=dict)
    hints: tuple[str, ...] = ()
    name: str | None = None  # the text that was parsed

    @property
    def episode(self) -> int | None:
        return self.episodes[0] if self.episodes else None

    @property
    def parts(self) -> int:
        """How many Trakt items this one file holds (S01E01E02 is two)."""
        return max(len(self.episodes), len(self.absolute), 1)

    @property
    def numbers(self) -> tuple[int, ...]:
        """Every episode number the file holds: in-season ones, else absolute ones."""
        return self.episodes or self.absolute

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "title": self.title,
            "year": self.year,
            "season": self.season,
            "episodes": list(self.episodes),
            "absolute": list(self.absolute),
            "date": self.date,
            "episode_title": self.episode_title,
            "country": self.country,
            "aliases": list(self.aliases),
            "hints": list(self.hints),
        }


def is_url(path: str) -> bool:
    return bool(_URL_RE.match(path))


def path_components(path: str) -> list[str]:
    """The path (or a URL's decoded path) split into non-empty components."""
    if is_url(path):
        path = unquote(urlsplit(path).path)
    return [part for part in re.split(r"[\\/]+", path) if part]


def normalise_title(title: str | None) -> str:
    """A title reduced to what identifies it: case, accents, punctuation, "&", a leading "The"."""
    if not title:
        return ""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace("&", " and ").replace("'", "").replace("\u2019", "")
    text = re.sub(r"[\W_]+", " ", text).strip()
    text = re.sub(r"^(?:the|a|an) ", "", text)
    return re.sub(r"\s+", " ", text)
