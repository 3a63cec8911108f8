"""Offline identification: what a MediaRef says about itself, and what its name says.

Pure functions only. The name readers (guessit, anitopy) load on first use, so an idle daemon
never loads them. Player hints (Kodi's library fields, mpv metadata tags) win over whatever the
file name suggests; folders fill in what a bare file name leaves out.
"""

from __future__ import annotations

import os.path
import re
from dataclasses import replace
from typing import Any

from scrobblerd.identify.fansub import cjk_markers
from scrobblerd.identify.guess import (
    MEDIA_EXTENSIONS,
    Guess,
    is_url,
    normalise_title,
    path_components,
)
from scrobblerd.identify.names import PART_RE, parse_name, part_number, stem_of
from scrobblerd.models import Ids, MediaRef

__all__ = ["MEDIA_EXTENSIONS", "Guess", "is_url", "normalise_title", "parse", "path_components"]

# Trakt id names a player may hand us in its metadata tags (e.g. mpv's file tags, Kodi uniqueid).
ID_NAMES = ("trakt", "imdb", "tmdb", "tvdb", "slug")

_BARE_NUMBER_RE = re.compile(r"^(?:e|ep|episode)?[\s._-]*(\d{1,4})(?:[\s._-].*)?$", re.IGNORECASE)
_SEASON_DIR_RE = re.compile(r"^(?:season|series|staffel|saison|s)[\s._-]*(\d{1,3})$", re.IGNORECASE)
_SPECIALS_DIR_RE = re.compile(r"^(?:specials?|season[\s._-]*0+)$", re.IGNORECASE)
# Library folders that hold television: a `Part N` file under one is an episode.
_TV_DIRS = frozenset({"tv", "tv shows", "tvshows", "shows", "series", "television", "miniseries"})
_GENERIC_STEMS = frozenset({"movie", "film", "video", "feature", "main", "index"})
_DISC_DIRS = frozenset({"video_ts", "bdmv"})
_YEAR_IN_DIR_RE = re.compile(r"[(\[.\s](19\d\d|20\d\d)[)\].\s]?$")


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
            return "/".join(_disc_root(parts)[-3:])
    return ref.title or None


def _disc_root(parts: list[str]) -> list[str]:
    """A DVD (`VIDEO_TS/VTS_01_1.VOB`) or Blu-ray (`BDMV/STREAM/00000.m2ts`) tree is named by the
    folder that holds it, never by its file names."""
    for index in range(len(parts) - 1, 0, -1):
        if parts[index].casefold() in _DISC_DIRS:
            return parts[:index]
    if len(parts) > 1 and stem_of(parts[-1]).casefold() in _GENERIC_STEMS:  # ".../Title (2011)/movie.mkv"
        return parts[:-1]
    return parts


def _has_media_extension(component: str) -> bool:
    return os.path.splitext(component)[1].lstrip(".").lower() in MEDIA_EXTENSIONS


def _parse_name(name: str) -> Guess:
    return _apply_folders(_miniseries(parse_name(name), name), name)


def _miniseries(guess: Guess, name: str) -> Guess:
    """`Show.Part.Two` is episode 2 of a mini-series when a folder says it is television (a TV
    library folder or a season folder); elsewhere `Part Two` belongs to a film's title."""
    parts = name.split("/")
    stem = stem_of(parts[-1])
    part = PART_RE.search(stem)
    if part is None or guess.numbers or guess.type == "extra":
        return guess
    folders = [p.casefold() for p in parts[:-1]]
    if not any(f in _TV_DIRS or _SEASON_DIR_RE.match(f) for f in folders):
        return guess
    number = part_number(part.group(2))
    if number is None:
        return guess
    title = re.sub(r"[._]+", " ", stem[: part.start()])
    title = re.sub(r"[ (\[]*(?:19|20)\d\d[)\]]*\s*$", "", title).strip(" -")
    guess = replace(guess, type="episode", title=title or guess.title, absolute=(number,), episodes=())
    return guess if guess.season is None else replace(guess, episodes=(number,), absolute=())


def _apply_folders(guess: Guess, name: str) -> Guess:
    """Bare files in season folders: `Show (2005)/Season 2/05.mkv` is Show S02E05."""
    parts = name.split("/")
    if len(parts) < 2:
        return guess
    stem = os.path.splitext(parts[-1])[0]
    bare = _BARE_NUMBER_RE.match(stem)
    season, show_dir = _season_dir(parts)
    if season is None:
        return guess
    if bare and not guess.episodes:
        guess = replace(guess, type="episode", season=season, episodes=(int(bare.group(1)),), absolute=())
    elif guess.type == "episode" and guess.season is None and guess.absolute:
        guess = replace(guess, season=season, episodes=guess.absolute, absolute=())
    if guess.type == "episode" and show_dir and (bare or not guess.title):
        return _title_from_show_dir(guess, show_dir)
    return guess


def _season_dir(parts: list[str]) -> tuple[int | None, str | None]:
    """(season, the show's folder) when the file's folder names a season, else (None, None).
    `Show/Season 2`, `Show/Specials`, and a CJK folder that is both: `庆余年第二季`."""
    folder = parts[-2]
    show_dir = parts[-3] if len(parts) >= 3 else None
    if _SPECIALS_DIR_RE.match(folder):
        return 0, show_dir
    if season_dir := _SEASON_DIR_RE.match(folder):
        return int(season_dir.group(1)), show_dir
    title, season, episode = cjk_markers(folder)
    if season is not None and episode is None and title:
        return season, title
    return None, None


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
