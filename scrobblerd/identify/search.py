"""Choosing among Trakt search results: exact titles and years beat popularity.

Pure: `choose` looks at what a search returned and either picks one candidate or explains why
none can be trusted. Ambiguity ("The Office" 2001 and 2005, no year known) is an honest
"unknown", never the top hit.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from scrobblerd.config.settings import OverrideRule
from scrobblerd.identify.parse import Guess, normalise_title
from scrobblerd.models import Episode, Ids, Item, Movie, Show

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


class Searcher(Protocol):
    """The part of the Trakt client identification needs (scrobblerd.trakt.client.TraktClient)."""

    def search_text(
        self, query: str, types: Sequence[str] = ("movie", "show"), year: int | None = None, limit: int = 10
    ) -> Sequence[SearchHit]: ...

    def search_id(self, id_type: str, value: str | int, type: str | None = None) -> Sequence[SearchHit]: ...

    def episode(self, show: Show, season: int, number: int) -> Episode | None: ...


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


def choose(title: str, year: int | None, hits: Sequence[SearchHit], kind: str) -> Choice:
    """Pick the candidate of type `kind` ("movie" | "show") that is certainly `title` (`year`)."""
    cands = [h.item for h in hits if h.type == kind and isinstance(h.item, Movie | Show)]
    if not cands:
        return Choice(None, f"no {kind} on Trakt matches {title!r}")
    want = normalise_title(title)
    why: dict[int, str] = {}
    exact = [c for c in cands if normalise_title(c.title) == want]
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


# Trakt: GET /search/{id_type}/:id accepts these; slugs are used as they are.
SEARCHABLE_IDS = ("trakt", "imdb", "tmdb", "tvdb")


@dataclass(frozen=True, slots=True)
class Resolution:
    """Items found by one step (empty: unknown), the step's name and its explanation."""

    items: tuple[Item, ...]
    source: str | None
    reason: str


def episode_label(season: int | None, number: int | None, number_abs: int | None = None) -> str:
    if season is not None and number is not None:
        return f"S{season:02d}E{number:02d}"
    return f"absolute episode {number_abs}" if number_abs is not None else "episode ?"


def rule_text(rule: OverrideRule, rules_file: str | None) -> str:
    where = f"{rules_file or 'config'}:{rule.line}" if rule.line else (rules_file or "config")
    match = f"path {rule.path!r}" if rule.path else f"title {rule.title!r}"
    target = ", ".join(f"{k}={v}" for k, v in rule_ids(rule).items())
    return f"override rule at {where} ({match} -> {rule.type} {target})"


def rule_ids(rule: OverrideRule) -> Ids:
    found = {"trakt": rule.trakt, "slug": rule.slug, "imdb": rule.imdb, "tmdb": rule.tmdb, "tvdb": rule.tvdb}
    return {k: v for k, v in found.items() if v not in (None, "")}


Numbers = tuple[int | None, tuple[int, ...], tuple[int, ...]]  # season, episodes, absolute


def rule_numbers(guess: Guess, rule: OverrideRule | None) -> Numbers:
    """(season, episodes, absolute) after the rule's forced season and offsets."""
    if rule is None:
        return guess.season, guess.episodes, guess.absolute
    numbers = guess.episodes or guess.absolute
    shifted = tuple(n + rule.episode_offset for n in numbers)
    if rule.season is not None:
        return rule.season, shifted, ()
    if guess.season is None and not rule.season_offset:
        return None, (), shifted  # absolute numbering stays absolute
    return (guess.season if guess.season is not None else 1) + rule.season_offset, shifted, ()


def guess_items(guess: Guess, rule: OverrideRule | None = None) -> tuple[Item, ...]:
    """Items built from the parse alone (offline): no Trakt ids beyond a rule's own."""
    ids = rule_ids(rule) if rule is not None else {}
    title = guess.title or str(ids.get("slug") or "")
    if not title:
        return ()
    kind = rule.type if rule is not None else ("show" if guess.type == "episode" else "movie")
    if kind == "movie":
        return (Movie(title, guess.year, ids),)
    show = Show(title, guess.year, ids)
    season, episodes, absolute = rule_numbers(guess, rule)
    if episodes:
        return tuple(Episode(show, season, n, guess.episode_title) for n in episodes)
    if absolute:
        return tuple(Episode(show, None, None, guess.episode_title, number_abs=n) for n in absolute)
    return (Episode(show, season, None, guess.episode_title),)


class Resolver:
    """The Trakt-facing steps: override rules, player ids, text search; TraktError propagates."""

    def __init__(self, searcher: Searcher, rules_file: str | None = None) -> None:
        self.searcher = searcher
        self.rules_file = rules_file

    @staticmethod
    def offline(guess: Guess, rule: OverrideRule | None, rules_file: str | None = None) -> Resolution:
        items = guess_items(guess, rule)
        if rule is not None:
            return Resolution(items, "override", rule_text(rule, rules_file) + "; offline: ids not looked up")
        source = "player" if guess.hints else "filename"
        hinted = f" and the player's {', '.join(guess.hints)}" if guess.hints else ""
        reason = f"offline: parsed from the name{hinted}" if items else "offline: the name gives no title"
        return Resolution(items, source, reason)

    def by_rule(self, guess: Guess, rule: OverrideRule) -> Resolution:
        what = rule_text(rule, self.rules_file)
        ids = rule_ids(rule)
        kind = "movie" if rule.type == "movie" else "show"
        target = self._lookup(ids, kind) if any(k in ids for k in SEARCHABLE_IDS) else None
        if target is None and any(k in ids for k in SEARCHABLE_IDS):
            return Resolution((), "override", f"{what}: Trakt has no {kind} with these ids")
        if target is None:  # slug only: Trakt matches scrobbles by slug, no lookup needed
            built = guess_items(guess, rule)
            target = (
                built[0] if kind == "movie" and built else Show(guess.title or str(ids["slug"]), None, ids)
            )
        if isinstance(target, Movie):
            return Resolution((target,), "override", f"{what} -> {describe(target)}")
        if not isinstance(target, Show):
            return Resolution((), "override", f"{what}: not a show")
        return self._episodes(target, rule_numbers(guess, rule), guess, source="override", what=what)

    def by_player_ids(self, guess: Guess) -> Resolution:
        ids, show_ids = guess.ids, guess.show_ids
        shown = ", ".join(f"{k}={v}" for k, v in {**ids, **show_ids}.items())
        what = f"player ids ({shown})"
        hit = self._lookup(ids, "episode") if guess.type == "episode" and ids else None
        if isinstance(hit, Episode):
            return Resolution((hit,), "player", f"{what} -> {_describe_item(hit)}")
        if guess.type == "episode" and show_ids and isinstance(show := self._lookup(show_ids, "show"), Show):
            return self._episodes(show, rule_numbers(guess, None), guess, source="player", what=what)
        if guess.type != "episode" and ids and isinstance(movie := self._lookup(ids, "movie"), Movie):
            return Resolution((movie,), "player", f"{what} -> {describe(movie)}")
        return Resolution((), "player", f"{what} not found on Trakt")

    def by_search(self, guess: Guess) -> Resolution:
        if not guess.title:
            return Resolution((), None, "the name gives no title to search for")
        kind = "show" if guess.type == "episode" else "movie"
        choice = self._search(guess.title, guess.year, kind)
        what = f"search {kind} {guess.title!r}"
        if choice.chosen is None:
            return Resolution((), "search", f"{what}: {choice.reason}")
        if isinstance(choice.chosen, Movie):
            return Resolution(
                (choice.chosen,), "search", f"{what}: {choice.reason} -> {describe(choice.chosen)}"
            )
        what = f"{what}: {choice.reason}"
        return self._episodes(choice.chosen, rule_numbers(guess, None), guess, source="search", what=what)

    def _search(self, title: str, year: int | None, kind: str) -> Choice:
        hits = self.searcher.search_text(title, (kind,), year=year)
        choice = choose(title, year, hits, kind)
        if choice.chosen is None and year is not None:  # Trakt's year may be off by one
            wider = choose(title, year, self.searcher.search_text(title, (kind,)), kind)
            if wider.chosen is not None or not hits:
                return wider
        return choice

    def _lookup(self, ids: Ids, kind: str) -> Movie | Show | Episode | None:
        for id_type in SEARCHABLE_IDS:
            if id_type in ids:
                for hit in self.searcher.search_id(id_type, ids[id_type], kind):
                    if hit.type == kind:
                        return hit.item
        return None

    def _episodes(self, show: Show, numbers: Numbers, guess: Guess, *, source: str, what: str) -> Resolution:
        season, episodes, absolute = numbers
        if season is not None and episodes:
            found: list[Item] = []
            for number in episodes:
                ep = self.searcher.episode(show, season, number)
                if ep is None:
                    missing = f"{describe(show)} {episode_label(season, number)} is not on Trakt"
                    return Resolution((), source, f"{what}; {missing}")
                found.append(ep if ep.show.ids else replace(ep, show=show))
            return Resolution(tuple(found), source, f"{what} -> {_describe_item(found[0])}")
        if absolute:
            items = tuple(Episode(show, None, None, number_abs=n) for n in absolute)
            return Resolution(items, source, f"{what} -> {_describe_item(items[0])} (sent as number_abs)")
        if guess.date:
            why = f"a daily episode ({guess.date}) cannot be looked up by air date; add an override rule"
        else:
            why = "the name gives no episode number"
        return Resolution((), source, f"{what}; {why}")


def _describe_item(item: Movie | Show | Episode) -> str:
    if isinstance(item, Episode):
        return f"{describe(item.show)} {episode_label(item.season, item.number, item.number_abs)}"
    return describe(item)
