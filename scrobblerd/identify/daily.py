"""Daily shows: `Show.2024.03.15.Guest.720p`, `Show - 2024-03-15`, `Show - March 15, 2024`.

A talk show or a newscast is numbered by its air date; Trakt knows each episode's first air date,
so the date is what identifies the episode. Pure functions.
"""

from __future__ import annotations

import re
from datetime import date

_SEP = r"[ ._-]"
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "(?P<month_name>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_PATTERNS = (
    re.compile(rf"(?<![0-9])(?P<year>(?:19|20)\d\d){_SEP}(?P<month>\d\d){_SEP}(?P<day>\d\d)(?![0-9])"),
    re.compile(rf"(?<![0-9])(?P<day>\d\d){_SEP}(?P<month>\d\d){_SEP}(?P<year>(?:19|20)\d\d)(?![0-9])"),
    re.compile(
        rf"(?<![A-Za-z]){_MONTH}{_SEP}+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?{_SEP}+(?P<year>(?:19|20)\d\d)",
        re.I,
    ),
    re.compile(rf"(?<![0-9])(?P<day>\d{{1,2}}){_SEP}+{_MONTH}{_SEP}+(?P<year>(?:19|20)\d\d)(?![0-9])", re.I),
)


def find_date(stem: str) -> tuple[str, str] | None:
    """(the title before the date, ISO date) when `stem` names an air date, else None."""
    for pattern in _PATTERNS:
        for found in pattern.finditer(stem):
            day = _valid(found)
            if day is not None:
                title = re.sub(r"[._]+", " ", stem[: found.start()])
                title = re.sub(r"\s+", " ", title).strip(" -([")
                return title, day.isoformat()
    return None


def _valid(found: re.Match[str]) -> date | None:
    groups = found.groupdict()
    month = _MONTHS[groups["month_name"].casefold()] if groups.get("month_name") else int(groups["month"])
    try:
        return date(int(groups["year"]), month, int(groups["day"]))
    except ValueError:
        return None
