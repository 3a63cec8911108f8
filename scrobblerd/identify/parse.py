"""Offline identification: what a MediaRef says about itself, and what its name says.

Pure functions only. guessit (the de-facto release-name parser) is imported inside `parse` so an
idle daemon never loads it. Player hints (Kodi's library fields, mpv metadata tags) win over
whatever the file name suggests.
"""

from __future__ import annotations

import os.path
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from urllib.parse import unquote, urlsplit

from scrobblerd.models import Ids, MediaRef

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
# "Show - 1071 (1080p)" and "[Group] Show - 24": fansub style, where the number is absolute.
_ANIME_DASH_RE = re.compile(r"(?:^\[[^\]]+\]|\s-\s\d{1,4}(?:v\d)?(?:\s|\.|$|\[|\())")
_BARE_NUMBER_RE = re.compile(r"^(?:e|ep|episode)?[\s._-]*(\d{1,4})(?:[\s._-].*)?$", re.IGNORECASE)
_SEASON_DIR_RE = re.compile(r"^(?:season|series|staffel|saison|s)[\s._-]*(\d{1,3})$", re.IGNORECASE)
_SPECIALS_DIR_RE = re.compile(r"^(?:specials?|season[\s._-]*0+)$", re.IGNORECASE)
_PART_RE = re.compile(
    r"[ ._-](Part[ ._-]+(?:\d{1,2}|[IVX]{1,4}|One|Two|Three|Four|Five|Six))(?=[ ._-]|$)", re.IGNORECASE
)
_YEAR_IN_DIR_RE = re.compile(r"[(\[.\s](19\d\d|20\d\d)[)\].\s]?$")


@dataclass(frozen=True, slots=True)
class Guess:
    """What we believe before asking Trakt. `title` is the show's title for episodes.

    `episodes` are numbers within `season`; `absolute` are absolute numbers (anime) when the
    name carries no season. `date` is an ISO date for daily shows. `hints` names the fields a
    player supplied (they beat the file name).
    """

    type: str | None = None  # "movie" | "episode" | None
    title: str | None = None
    year: int | None = None
    season: int | None = None
    episodes: tuple[int, ...] = ()
    absolute: tuple[int, ...] = ()
    date: str | None = None
    episode_title: str | None = None
    country: str | None = None
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


def parse(ref: MediaRef) -> Guess:
    """The best offline guess for `ref`; never raises."""
    name = _name_to_parse(ref)
    guess = _parse_name(name) if name else Guess()
    return _apply_hints(guess, ref)


def _name_to_parse(ref: MediaRef) -> str | None:
    """The last few path components (or a URL's), or the player's title for streams."""
    if ref.path:
        parts = path_components(ref.path)
        if parts and (not is_url(ref.path) or _has_media_extension(parts[-1]) or not ref.title):
            return "/".join(parts[-3:])
    return ref.title or None


def _has_media_extension(component: str) -> bool:
    return os.path.splitext(component)[1].lstrip(".").lower() in MEDIA_EXTENSIONS


def _parse_name(name: str) -> Guess:
    from guessit import guessit  # heavy: loaded on first use only
    from guessit.api import GuessitException

    stem = name.rsplit("/", 1)[-1]
    options: dict[str, Any] = {}
    if _ANIME_DASH_RE.search(stem):
        options["episode_prefer_number"] = True
    try:
        found: dict[str, Any] = dict(guessit(name, options))
    except GuessitException:
        return Guess(name=name)
    guess = _fix_title(_guess_from_guessit(found, name), stem, found)
    return _apply_folders(guess, name)


def _ints(value: Any) -> tuple[int, ...]:
    values = value if isinstance(value, list) else [value]
    return tuple(v for v in values if isinstance(v, int) and not isinstance(v, bool))


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    return str(value).strip() or None if value is not None else None


def _guess_from_guessit(found: dict[str, Any], name: str) -> Guess:
    kind = found.get("type") if found.get("type") in ("movie", "episode") else None
    seasons = _ints(found.get("season"))
    episodes = _ints(found.get("episode"))
    absolute = _ints(found.get("absolute_episode"))
    day = found.get("date")
    season = seasons[0] if seasons else None
    if kind == "episode" and season is None and episodes and not absolute:
        absolute, episodes = episodes, ()
    year = _ints(found.get("year"))
    country = found.get("country")
    return Guess(
        type=kind,
        title=_text(found.get("title")),
        year=year[0] if year else None,
        season=season,
        episodes=episodes,
        absolute=absolute,
        date=day.isoformat() if isinstance(day, date) else None,
        episode_title=_text(found.get("episode_title")),
        country=getattr(country, "alpha2", None) if country is not None else None,
        name=name,
    )


def _fix_title(guess: Guess, stem: str, found: dict[str, Any]) -> Guess:
    """Repairs for guessit's known slips on titles made of numbers and sequel parts."""
    numbered = guess.season is not None or guess.episodes or guess.absolute or guess.date
    if guess.type == "episode" and not numbered:  # "Blade.Runner.1982.The.Final.Cut": an edition
        guess = replace(guess, type="movie", episode_title=None)
    if guess.type == "episode" and guess.year and re.match(rf"{guess.year}[ ._-]+S\d", stem, re.I):
        guess = replace(guess, title=str(guess.year), year=None)  # "1923.S01E01"
    part = _PART_RE.search(stem)
    if guess.type == "movie" and guess.title and "part" in found and part:
        before = normalise_title(stem[: part.start()])
        if before.endswith(normalise_title(guess.title)):
            guess = replace(guess, title=f"{guess.title} {re.sub(r'[._-]+', ' ', part.group(1))}")
    return guess


def _apply_folders(guess: Guess, name: str) -> Guess:
    """Bare files in season folders: `Show (2005)/Season 2/05.mkv` is Show S02E05."""
    parts = name.split("/")
    if len(parts) < 2:
        return guess
    stem = os.path.splitext(parts[-1])[0]
    bare = _BARE_NUMBER_RE.match(stem)
    season_dir = _SEASON_DIR_RE.match(parts[-2])
    if _SPECIALS_DIR_RE.match(parts[-2]):
        season = 0
    elif season_dir:
        season = int(season_dir.group(1))
    else:
        return guess
    show_dir = parts[-3] if len(parts) >= 3 else None
    if bare and not guess.episodes:
        guess = replace(guess, type="episode", season=season, episodes=(int(bare.group(1)),), absolute=())
    elif guess.type == "episode" and guess.season is None and guess.absolute:
        guess = replace(guess, season=season, episodes=guess.absolute, absolute=())
    if guess.type == "episode" and show_dir and (bare or not guess.title):
        return _title_from_show_dir(guess, show_dir)
    return guess


def _title_from_show_dir(guess: Guess, show_dir: str) -> Guess:
    year_match = _YEAR_IN_DIR_RE.search(show_dir)
    title = show_dir[: year_match.start()] if year_match else show_dir
    title = re.sub(r"[._]+", " ", title).strip(" -")
    year = int(year_match.group(1)) if year_match else guess.year
    return replace(guess, title=title or guess.title, year=year)


def _apply_hints(guess: Guess, ref: MediaRef) -> Guess:
    """Player-supplied fields beat the file name."""
    hints: list[str] = []
    updates: dict[str, Any] = {}
    tags = {k.casefold(): v for k, v in ref.tags.items() if v not in (None, "")}
    kind = ref.kind if ref.kind in ("movie", "episode") else None
    show_title = ref.show_title or tags.get("show") or tags.get("series")
    season = ref.season if ref.season is not None else _tag_int(tags, "season_number", "season")
    episode = ref.episode if ref.episode is not None else _tag_int(tags, "episode_sort", "episode")
    if kind is None and show_title and episode is not None:
        kind = "episode"
    if kind:
        updates["type"] = kind
        hints.append("kind")
    if kind == "episode" and show_title:
        updates["title"] = show_title
        hints.append("show_title")
    elif kind == "movie" and ref.title and not _looks_like_file(ref):
        updates["title"] = ref.title
        hints.append("title")
    if season is not None and kind != "movie":
        updates["season"] = season
        hints.append("season")
    if episode is not None and kind != "movie":
        updates.update(episodes=(episode,), absolute=())
        hints.append("episode")
    year = ref.year if ref.year is not None else _tag_int(tags, "year")
    if year is not None:
        updates["year"] = year
        hints.append("year")
    ids, show_ids = _hint_ids(ref, tags)
    if ids or show_ids:
        updates.update(ids=ids, show_ids=show_ids)
        hints.append("ids")
    return replace(guess, hints=tuple(hints), **updates) if updates else guess


def _looks_like_file(ref: MediaRef) -> bool:
    """mpv's media-title falls back to the file name; that is no hint."""
    parts = path_components(ref.path or "")
    return bool(parts) and ref.title in (parts[-1], os.path.splitext(parts[-1])[0])


def _tag_int(tags: dict[str, str], *names: str) -> int | None:
    for key in names:
        match = re.match(r"\s*(\d{1,4})", str(tags.get(key, "")))
        if match:
            return int(match.group(1))
    return None


def _hint_ids(ref: MediaRef, tags: dict[str, str]) -> tuple[Ids, Ids]:
    ids: Ids = {k: v for k, v in ref.ids.items() if k in ID_NAMES and v not in (None, "")}
    for key in ID_NAMES:
        value = tags.get(key) or tags.get(key + "_id")
        if value and key not in ids:
            ids[key] = int(value) if str(value).isdigit() and key != "imdb" else str(value)
    show_ids: Ids = {k: v for k, v in ref.show_ids.items() if k in ID_NAMES and v not in (None, "")}
    return ids, show_ids
