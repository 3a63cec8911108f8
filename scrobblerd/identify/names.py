"""One name -> Guess: picks the reader that knows the naming convention, then repairs by class.

Daily shows (an air date, no season marker) are read by `daily`; fansub and CJK names by `fansub`
(anitopy); everything else by guessit, the de-facto scene-release parser. Both libraries are
imported on first use so an idle daemon never loads them.
"""

from __future__ import annotations

import os.path
import re
from dataclasses import replace
from datetime import date
from typing import Any

from scrobblerd.identify.daily import find_date
from scrobblerd.identify.fansub import (
    WESTERN_RE,
    cjk_markers,
    has_cjk_markers,
    is_fansub,
    parse_fansub,
    strip_groups,
)
from scrobblerd.identify.guess import MEDIA_EXTENSIONS, Guess, normalise_title

_PART_WORDS = (
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)
_ROMAN = {"i": 1, "v": 5, "x": 10}
PART_RE = re.compile(
    r"[ ._-](Part[ ._-]+(\d{1,2}|[IVX]{1,4}|" + "|".join(_PART_WORDS) + r"))(?=[ ._-]|$)", re.IGNORECASE
)
_VERSION_RE = re.compile(r"(?<=[Ee]\d\d)v\d(?![0-9])|(?<=[Ee]\d\d\d)v\d(?![0-9])")
# A leading release-site tag: "[www.site.org] - Title" or "www.site.org - Title".
_SITE_RE = re.compile(
    r"^\s*(?:\[\s*(?:www\.)?[\w-]+(?:\.[\w-]+)*\.[a-z]{2,6}\s*\]"  # "[ www.site.org ]"
    r"|(?i:www)\.[\w-]+\.[a-z]{2,6}(?=[ ._-])"  # "www.Site.ph.Title"
    r"|[\w-]+\.(?:com|org|net|to)(?=\s+-\s+))"  # "Site.com - Title"
    r"(?:\s*-\s*|[ ._]+)"
)
# "Original Title aka English Title", and a bracketed two-word alternate "Title (Other Title)".
_AKA_RE = re.compile(r"[ ._]+aka[ ._]+", re.I)
_ALT_IN_BRACKETS_RE = re.compile(r"^(?P<title>.+?)\s*\((?P<alt>[^()\d]+\s[^()\d]+)\)$")
# The title markers that name a country's version of a show (guessit says GB for UK).
_COUNTRY_MARKERS = {"GB": "UK"}
# Film began in the 1870s; guessit reads such a year ("Cendrillon.1899") as S18E99.
EARLIEST_YEAR = 1870
# guessit reads a leading three-digit number ("003. Name") as season 0 episode 3.
_LEADING_NUMBER_RE = re.compile(r"^\s*(\d{3,4})(?![0-9])")


def part_number(text: str) -> int | None:
    """ "3", "III", "Three" -> 3."""
    low = text.casefold()
    if low.isdigit():
        return int(low)
    if low in _PART_WORDS:
        return _PART_WORDS.index(low) + 1
    values = [_ROMAN[ch] for ch in low if ch in _ROMAN]
    if len(values) != len(low):
        return None
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def stem_of(component: str) -> str:
    base, ext = os.path.splitext(component)
    return base if ext.lstrip(".").lower() in MEDIA_EXTENSIONS else component


def parse_name(name: str) -> Guess:
    """The last path components `name` ("folder/folder/file.mkv") read into a Guess."""
    name = _strip_site(name)
    if alternate := re.search(r"(?:^|/)([^/]*\S)\s+/\s+(\S[^/]*)$", name):  # "Title / Other Title"
        other = parse_name(alternate.group(2))
        title = _clean(strip_groups(alternate.group(1)))
        aliases = (other.title,) if other.title else ()
        return replace(other, title=title, aliases=aliases + other.aliases, name=name)
    return _alternates(_parse_one(name))


def _parse_one(name: str) -> Guess:
    stem = stem_of(name.rsplit("/", 1)[-1])
    if not WESTERN_RE.search(stem) and (daily := find_date(stem)) is not None:
        title, day = daily
        return Guess(type="episode", title=title or None, date=day, name=name)
    if has_cjk_markers(stem):
        rest, season, episode = cjk_markers(stem)
        cjk_title = _clean(rest) or None
        if episode is not None:
            numbers = (episode,)
            if season is None:
                return Guess(type="episode", title=cjk_title, absolute=numbers, name=name)
            return Guess(type="episode", title=cjk_title, season=season, episodes=numbers, name=name)
    if is_fansub(stem) and (found := parse_fansub(stem)) is not None:
        return _from_fansub(found, name)
    return _from_guessit(name, stem)


def _strip_site(name: str) -> str:
    head, _, last = name.rpartition("/")
    last = _SITE_RE.sub("", last, count=1)
    return f"{head}/{last}" if head else last


def _alternates(guess: Guess) -> Guess:
    """`A aka B` and `A (Other Title)`: the first is the title, the others are searched too."""
    if not guess.title:
        return guess
    parts = _AKA_RE.split(guess.title)
    if len(parts) == 1 and (bracketed := _ALT_IN_BRACKETS_RE.match(guess.title)):
        parts = [bracketed.group("title"), bracketed.group("alt")]
    if len(parts) == 1:
        return guess
    return replace(guess, title=parts[0].strip(), aliases=tuple(p.strip() for p in parts[1:]) + guess.aliases)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[._]+", " ", text)).strip(" -_[]()")


def _from_fansub(found: dict[str, Any], name: str) -> Guess:
    if found["type"] == "extra":
        return Guess(type="extra", name=name)
    numbers: tuple[int, ...] = found["numbers"]
    season = found["season"]
    return Guess(
        type=found["type"],
        title=found["title"],
        year=found["year"],
        season=season,
        episodes=numbers if season is not None else (),
        absolute=numbers if season is None else (),
        episode_title=found.get("episode_title"),
        name=name,
    )


def _from_guessit(name: str, stem: str) -> Guess:
    from guessit import guessit  # heavy: loaded on first use only
    from guessit.api import GuessitException

    text = _VERSION_RE.sub("", name)
    head, _, last = text.rpartition("/")
    last = re.sub(r"^\s*\[[^\]]*\]\s*(?=\w)", "", last)  # a leading [Group] ("[0x539]" is no 0x539)
    text = f"{head}/{last}" if head else last
    try:
        found: dict[str, Any] = dict(guessit(text, {"episode_prefer_number": False}))
    except GuessitException:
        return Guess(name=name)
    return _title_from_stem(_fix_title(_guess_from_guessit(found, name), stem, found), stem)


def _title_from_stem(guess: Guess, stem: str) -> Guess:
    """`random_folder/The.Wire.S01E01.mkv`: a file name that names its show beats its folder."""
    marker = WESTERN_RE.search(stem)
    if marker is None or not guess.title:
        return guess
    prefix = _clean(_SITE_RE.sub("", stem[: marker.start()]))
    if not prefix or normalise_title(guess.title) in normalise_title(stem):
        return guess
    year = guess.year if guess.year and str(guess.year) in stem else None
    return replace(guess, title=re.sub(r"\s*\(?(?:19|20)\d\d\)?$", "", prefix) or prefix, year=year)


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
    country = getattr(found.get("country"), "alpha2", None)
    return Guess(
        type=kind,
        title=_text(found.get("title")),
        year=year[0] if year else None,
        season=season,
        episodes=episodes,
        absolute=absolute,
        date=day.isoformat() if isinstance(day, date) else None,
        episode_title=_text(found.get("episode_title")),
        country=_COUNTRY_MARKERS.get(country, country) if country else None,
        name=name,
    )


def _fix_title(guess: Guess, stem: str, found: dict[str, Any]) -> Guess:
    """Repairs for guessit's slips, each for a class of names."""
    guess = _fix_season(guess, stem)
    numbered = guess.season is not None or guess.episodes or guess.absolute or guess.date
    if guess.type == "episode" and not numbered:  # "Blade.Runner.1982.The.Final.Cut": an edition
        guess = replace(guess, type="movie", episode_title=None)
    if guess.type == "episode" and guess.year and re.match(rf"{guess.year}[ ._-]+S\d", stem, re.I):
        guess = replace(guess, title=str(guess.year), year=None)  # "1923.S01E01"
    part = PART_RE.search(stem)
    if guess.type == "movie" and guess.title and "part" in found and part:
        before = normalise_title(stem[: part.start()])
        if before.endswith(normalise_title(guess.title)):
            guess = replace(guess, title=f"{guess.title} {re.sub(r'[._-]+', ' ', part.group(1))}")
    return _fix_country(_fix_number_title(guess, stem), stem)


def _fix_country(guess: Guess, stem: str) -> Guess:
    """A country marker right after the title picks the show (`The.Office.US`); elsewhere it is
    the release's origin (`The.Stranger.1946.US.Bluray`) and says nothing about the title."""
    if not guess.title or not guess.country:
        return guess
    codes = {guess.country, *(k for k, v in _COUNTRY_MARKERS.items() if v == guess.country)}
    for found in re.finditer(r"[ ._(\[-]+(" + "|".join(codes) + r")(?=[ ._)\]-]|$)", stem, re.IGNORECASE):
        if normalise_title(stem[: found.start()]).endswith(normalise_title(guess.title)):
            return guess
    return replace(guess, country=None)


def _fix_season(guess: Guess, stem: str) -> Guess:
    """A year or a leading "003." read as a season: with no season marker it is not one."""
    season = guess.season
    marker = rf"(?:S|season[ ._-]*)0*{season}(?![0-9])|(?<![0-9]){season}x\d"
    if season is None or re.search(marker, stem, re.I):
        return guess
    numbers = guess.episodes or guess.absolute
    early = season * 100 + numbers[0] if len(numbers) == 1 else 0
    if EARLIEST_YEAR <= early < 1900 and re.search(rf"(?<![0-9]){early}(?![0-9])", stem):
        return replace(guess, type="movie", season=None, episodes=(), absolute=(), year=early)
    if season >= 1900:
        return replace(guess, season=None, year=guess.year or season, episodes=(), absolute=numbers)
    three_digits = len(numbers) == 1 and re.search(rf"(?<![0-9])0{numbers[0]:02d}(?![0-9])", stem)
    if season == 0 and (_LEADING_NUMBER_RE.match(stem) or three_digits):  # "Bleach 001": not S00E01
        return replace(guess, season=None, episodes=(), absolute=numbers)
    return guess


def _fix_number_title(guess: Guess, stem: str) -> Guess:
    """`(500) Days of Summer`: a number in brackets before the title belongs to it."""
    lead = re.match(r"^\s*\((\d{1,4})\)[ ._]+", stem)
    if lead and guess.title and not stem[lead.end() :].startswith(lead.group(1)):
        title = f"({lead.group(1)}) {guess.title}"
        if guess.absolute == (int(lead.group(1)),):
            return replace(guess, type="movie", title=title, absolute=())
        return replace(guess, title=title)
    return guess
