"""Choosing among Trakt search results: exact titles and years beat popularity.

Pure: `choose` looks at what a search returned and either picks one candidate or explains why
none can be trusted. Ambiguity ("The Office" 2001 and 2005, no year known) is an honest
"unknown", never the top hit.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from scrobblerd.identify.parse import normalise_title
from scrobblerd.models import Episode, Movie, Show
from scrobblerd.trakt.episodes import ShowEpisodes

# How many losing candidates a reason names before "and N more".
MAX_LOSERS_NAMED = 4
# Release years differ by country and festival premiere: a title that matches exactly is
# accepted one year off when it is the only such candidate.
YEAR_SLACK = 1
FIX_HINT = "(put the year in the folder name, e.g. 'Title (2005)', or add an identify.overrides rule)"


class SearchHit(Protocol):
    """One search result: scrobblerd.trakt.client.SearchResult satisfies this."""

    @property
    def type(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def item(self) -> Movie | Show | Episode: ...

    @property
    def country(self) -> str | None: ...


class Searcher(Protocol):
    """The part of the Trakt client identification needs (scrobblerd.trakt.client.TraktClient)."""

    def search_text(
        self, query: str, types: Sequence[str] = ("movie", "show"), year: int | None = None, limit: int = 10
    ) -> Sequence[SearchHit]: ...

    def search_id(self, id_type: str, value: str | int, type: str | None = None) -> Sequence[SearchHit]: ...

    def episode(self, show: Show, season: int, number: int) -> Episode | None: ...

    def show_episodes(self, show: Show) -> ShowEpisodes: ...

    def show_aliases(self, show: Show) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Choice:
    """The outcome of scoring: the chosen Movie/Show (or None) and why."""

    chosen: Movie | Show | None
    reason: str


def describe(item: Movie | Show) -> str:
    year = f" ({item.year})" if item.year else ""
    trakt = item.ids.get("trakt")
    return f"{item.title}{year}" + (f" [trakt {trakt}]" if trakt is not None else "")


def _non_latin(text: str) -> bool:
    return any(ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN") for ch in text)


def _losers(cands: Sequence[Movie | Show], chosen: Movie | Show | None, why: dict[int, str]) -> str:
    rest = [c for c in cands if c is not chosen]
    named = [f"{describe(c)}: {why.get(id(c), 'not chosen')}" for c in rest[:MAX_LOSERS_NAMED]]
    if len(rest) > MAX_LOSERS_NAMED:
        named.append(f"and {len(rest) - MAX_LOSERS_NAMED} more")
    return "; rejected " + ", ".join(named) if named else ""


# The country markers release names use, as Trakt's lower-case ISO 3166 codes.
COUNTRY_CODES = {"UK": "gb"}


def choose(
    title: str, year: int | None, hits: Sequence[SearchHit], kind: str, country: str | None = None
) -> Choice:
    """Pick the candidate of type `kind` ("movie" | "show") that is certainly `title` (`year`).
    A country marker in the name (`The.Office.US`) settles between same-titled candidates."""
    cands = [h.item for h in hits if h.type == kind and isinstance(h.item, Movie | Show)]
    if not cands:
        return Choice(None, f"no {kind} on Trakt matches {title!r}")
    want = normalise_title(title)
    why: dict[int, str] = {}
    exact = [c for c in cands if normalise_title(c.title) == want]
    if country and len(exact) > 1:
        code = COUNTRY_CODES.get(country.upper(), country.lower())
        countries = {id(h.item): getattr(h, "country", None) for h in hits}
        local = [c for c in exact if countries.get(id(c)) == code]
        if len(local) == 1 and (year is None or local[0].year == year):
            for c in exact:
                if c is not local[0]:
                    why[id(c)] = f"country is not {country}"
            return Choice(local[0], f"exact title, the one from {country}" + _losers(cands, local[0], why))
    for c in cands:
        if c not in exact:
            why[id(c)] = "title differs"
    chosen, how = _by_year(exact, year, why) if exact else _by_partial(title, year, cands, why)
    if chosen is None:
        return Choice(None, how + _losers(cands, None, why))
    return Choice(chosen, how + _losers(cands, chosen, why))


def _by_year(
    exact: list[Movie | Show], year: int | None, why: dict[int, str]
) -> tuple[Movie | Show | None, str]:
    if year is None:
        if len(exact) == 1:
            return exact[0], "exact title, the only one"
        for c in exact:
            why[id(c)] = "same title"
        return None, "ambiguous: several with this title and no year in the name or folder " + FIX_HINT
    same = [c for c in exact if c.year == year]
    near = [c for c in exact if c.year is not None and abs(c.year - year) <= YEAR_SLACK]
    for c in exact:
        if c.year != year:
            why[id(c)] = f"year {c.year} is not {year}"
    if len(same) == 1:
        return same[0], "exact title and year"
    if len(same) > 1:
        for c in same:
            why[id(c)] = "same title and year"
        return None, "ambiguous: several with this title and year " + FIX_HINT
    if len(near) == 1:
        return near[0], f"exact title, year {near[0].year} within {YEAR_SLACK} of {year}"
    return None, "title matches but no year agrees"


def _by_partial(
    title: str, year: int | None, cands: list[Movie | Show], why: dict[int, str]
) -> tuple[Movie | Show | None, str]:
    """No exact title: accept only what the year confirms, else refuse the weak match."""
    if year is None:
        return None, "no exact title (weak matches are refused)"
    want = set(normalise_title(title).split())
    dated = [c for c in cands if c.year == year]
    partial = [
        c for c in dated if (have := set(normalise_title(c.title).split())) and (want <= have or have <= want)
    ]
    if len(partial) == 1:
        return partial[0], "title words agree and the year matches"
    if _non_latin(title) and len(dated) == 1:
        return dated[0], "original-language title, the only result of that year"
    return None, "no exact title (weak matches are refused)"
