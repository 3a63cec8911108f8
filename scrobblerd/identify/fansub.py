"""Fansub and CJK names: `[Group] Show - 07v2 [1080p]`, `Show 01-12`, `【Group】Title 第07話`.

These names carry absolute episode numbers, version suffixes, batches and bracketed groups that a
scene-release parser reads as seasons, years or titles. anitopy (a port of Anitomy, the parser
anime trackers use) reads them well; it is imported on first use only. CJK season and episode
markers (第2季, 第07話, シーズン2) are read here because neither parser knows them.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# A western season/episode marker: such names go to guessit even when they carry a [Group].
WESTERN_RE = re.compile(r"(?<![A-Za-z0-9])(?:S\d{1,4}[ ._-]?E\d{1,4}|\d{1,2}x\d{2,3})(?![0-9])", re.I)
_FANSUB_CUES = (
    re.compile(r"^\s*[\[【]"),  # a leading [Group] / 【Group】
    re.compile(r"[\[(][0-9A-F]{8}[\])]"),  # a CRC32 checksum
    re.compile(r"(?:\s|_)-(?:\s|_)\(?\d{1,4}(?:v\d)?(?:-\d{1,4}(?:v\d)?)?\)?(?:[\s_.\[(]|$)"),  # " - 07"
    re.compile(r"(?<=[\s_])\d{1,4}v\d(?![0-9])"),  # "07v2"
    re.compile(r"(?<=[\s_])\d{1,4}\s?[~-]\s?\d{1,4}(?=[\s_\[(]|$)"),  # a batch "01-12"
    re.compile(r"(?:^|[\s_.])(?:ep|episode|epis[oó]dio)[\s_.]*\d{1,4}", re.I),  # "Episode 1089"
    re.compile(r"\d(?:st|nd|rd|th)[\s_]season", re.I),  # "2nd Season 24"
    re.compile(r"#\d{1,4}"),
)
_SEASON_WORD_RE = re.compile(r"(?:season|stagione|staffel|saison|temporada)[\s_.]*\d", re.I)
_CJK_EPISODE_RE = re.compile(r"第\s*([0-9一二三四五六七八九十百零\u3007]+)\s*[話话集回]")
_CJK_SEASON_RE = re.compile(r"第\s*([0-9一二三四五六七八九十百零\u3007]+)\s*季|シーズン\s*([0-9]+)")
_CJK_DIGITS = {
    "零": 0,
    "\u3007": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
# anitopy types that mark an opening, ending, preview or promotional clip: never a watch.
EXTRA_TYPES = frozenset({"op", "ed", "ncop", "nced", "pv", "preview", "cm", "menu", "trailer", "teaser"})
_TITLE_TYPES = re.compile(r"[\s_](?:\((?:TV|OVA|ONA|OAD|Movie|Specials?)\)|OVA|ONA|OAD)$", re.I)
# anitopy leaves long numbers in the title: "One Piece - 1071-1072", "One Piece - 1009v2".
_TRAILING_NUMBER_RE = re.compile(
    r"^(?P<title>.+?)(?:\s+-\s+|-ep\.?)(?P<first>\d{1,4})(?:v\d)?(?:\s?-\s?(?P<last>\d{1,4})(?:v\d)?)?$"
)
# Release-group banners between stars: "★04月新番★".
_BANNER_RE = re.compile(r"★[^★]*★")
_LEADING_GROUPS_RE = re.compile(r"^(?:\s*[\[【][^\]】]*[\]】])+\s*")
_TRAILING_JUNK_RE = re.compile(r"\s*(?:[\[(「『].*)?$")


def cjk_number(text: str) -> int | None:
    """ "07", "十一", "二十三", "百" -> an int; None when it is not a number."""
    text = unicodedata.normalize("NFKC", text)
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for ch in text:
        if ch in _CJK_DIGITS:
            current = _CJK_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


def is_fansub(stem: str) -> bool:
    """Whether `stem` follows fansub conventions (and has no western SxxEyy marker)."""
    if WESTERN_RE.search(stem):
        return False
    if _SEASON_WORD_RE.search(stem):  # "Show - Stagione 6 - Episodio 13": a western layout
        return any(cue.search(stem) for cue in _FANSUB_CUES[:2])
    return any(cue.search(stem) for cue in _FANSUB_CUES)


def has_cjk_markers(text: str) -> bool:
    return bool(_CJK_EPISODE_RE.search(text) or _CJK_SEASON_RE.search(text))


def strip_groups(text: str) -> str:
    """`[Group] 【Group】 Title [1080p]「Episode title」` -> `Title`."""
    text = _LEADING_GROUPS_RE.sub("", _BANNER_RE.sub("", text))
    return _TRAILING_JUNK_RE.sub("", text).strip(" ._-")


def cjk_markers(text: str) -> tuple[str, int | None, int | None]:
    """(title without the markers, season, episode) from 第2季 / シーズン2 / S2 / 第07話."""
    season = episode = None
    text = unicodedata.normalize("NFKC", text).replace("【", "[").replace("】", "]")
    if found := re.search(r"(?<![A-Za-z0-9])S(\d{1,2})(?![0-9A-Za-z])", text):
        season = int(found.group(1))
        text = text[: found.start()] + " " + text[found.end() :]
    if found := _CJK_SEASON_RE.search(text):
        season = cjk_number(found.group(1) or found.group(2))
        text = text[: found.start()] + " " + text[found.end() :]
    if found := _CJK_EPISODE_RE.search(text):
        episode = cjk_number(found.group(1))
        text = text[: found.start()] + " " + text[found.end() :]
    return strip_groups(re.sub(r"\s+", " ", text)), season, episode


def _numbers(value: Any) -> tuple[int, ...]:
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        match = re.match(r"\d+", str(v)) if v is not None else None
        if match:
            out.append(int(match.group(0)))
    if len(out) == 2 and out[0] < out[1]:  # a batch "01-12" names every episode between
        return tuple(range(out[0], out[1] + 1))
    return tuple(out)


def _plausible(title: str | None) -> bool:
    if not title or not any(ch.isalpha() for ch in title):
        return False
    return not re.fullmatch(r"(?:encoded by .*|[\W\d_]+)", title, re.I)


_GROUP_RE = re.compile(r"\[([^\]]*)\]")
_EPISODE_GROUP_RE = re.compile(r"^\s*(\d{1,4})(?:v\d)?\s*(?:\(END\)|END)?\s*$", re.I)
_QUALITY_WORDS_RE = re.compile(r"(?:\s+(?:HD|BD|DVD|REMASTER(?:ED)?|TV))+$", re.I)


def _bracketed(text: str) -> dict[str, Any] | None:
    """`[Group][Title][07][1080p]` and `[Title].148.[Xvid]`: every field in its own brackets."""
    text = re.sub(r"\]\s*[.★]*\s*(\d{1,4})\s*[.]*\s*\[", r"][\1][", text.replace("★", ""))
    groups = _GROUP_RE.findall(text)
    number_at = next((i for i, g in enumerate(groups) if i and _EPISODE_GROUP_RE.match(g)), None)
    if number_at is None:
        return None
    before = [g for g in groups[:number_at] if any(ch.isalpha() for ch in g)]
    named = [g for g in before[1:] if len(g.strip()) > 2] or before
    if not named:
        return None
    match = _EPISODE_GROUP_RE.match(groups[number_at])
    number = int(match.group(1)) if match else 0
    title = _QUALITY_WORDS_RE.sub("", named[-1].replace("_", " ")).strip()
    return {"type": "episode", "title": title, "year": None, "season": None, "numbers": (number,)}


def parse_fansub(stem: str) -> dict[str, Any] | None:
    """anitopy's reading of `stem` in our terms, or None when it finds no believable title.

    Keys: type ("episode" | "movie" | "extra"), title, year, season, numbers (episode numbers,
    in-season when `season` is set, else absolute).
    """
    import anitopy  # heavy enough to load on first use only

    text = _BANNER_RE.sub("", unicodedata.normalize("NFKC", stem).replace("【", "[").replace("】", "]"))
    try:
        found: dict[str, Any] = dict(anitopy.parse(text, options={"parse_file_extension": False}) or {})
    except (AttributeError, IndexError, TypeError, ValueError):  # anitopy trips on some token runs
        return None
    kinds = found.get("anime_type") or []
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if any(str(k).casefold() in EXTRA_TYPES for k in kinds):
        return {"type": "extra"}
    title = found.get("anime_title")
    if not _plausible(title):
        return _bracketed(text)
    title = _TITLE_TYPES.sub("", str(title)).strip(" -_")
    numbers = _numbers(found.get("episode_number"))
    if not numbers and (trailing := _TRAILING_NUMBER_RE.match(title)):
        title = trailing.group("title")
        numbers = _numbers([trailing.group("first"), trailing.group("last")])
    season = _numbers(found.get("anime_season"))
    year = _numbers(found.get("anime_year"))
    return {
        "type": "episode" if numbers else "movie",
        "title": title,
        "year": year[0] if year else None,
        "season": season[0] if season and numbers else None,
        "numbers": numbers,
        "episode_title": found.get("episode_title"),
    }
