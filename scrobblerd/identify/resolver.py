"""The Trakt-facing steps of identification: override rules, player ids, the text search, and
the episode lookups (season/episode, absolute number, air date) that give episodes their ids.
TraktError propagates to the Identifier."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from scrobblerd.config.settings import OverrideRule
from scrobblerd.identify.catalog import Catalog, CatalogCache
from scrobblerd.identify.fixes import Fix
from scrobblerd.identify.parse import Guess, normalise_title
from scrobblerd.identify.search import Choice, Searcher, SearchHit, choose, describe
from scrobblerd.models import Episode, Ids, Item, Movie, Show

# Trakt: GET /search/{id_type}/:id accepts these; slugs are used as they are.
SEARCHABLE_IDS = ("trakt", "imdb", "tmdb", "tvdb")
# Shows whose aliases are fetched when a search finds none under the name's title.
MAX_ALIAS_LOOKUPS = 3


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

    def __init__(
        self, searcher: Searcher, rules_file: str | None = None, cache: CatalogCache | None = None
    ) -> None:
        self.searcher = searcher
        self.rules_file = rules_file
        self.catalog = Catalog(searcher, cache)

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

    def by_fix(self, guess: Guess, fix: Fix, what: str, parts: int) -> Resolution:
        """A fix names a movie, an episode (the file's first part) or a show (the file name's
        episode numbers are looked up in it)."""
        target = fix.target
        if isinstance(target, Movie):
            return Resolution((target,), "override", f"{what} -> {describe(target)}")
        if isinstance(target, Show):
            return self._episodes(target, rule_numbers(guess, None), guess, source="override", what=what)
        found: list[Item] = [target]
        for extra in range(1, parts):  # a multi-episode file: the episodes after the fixed one
            ep = self.searcher.episode(target.show, target.season or 0, (target.number or 0) + extra)
            if ep is None:
                break
            found.append(ep)
        return Resolution(tuple(found), "override", f"{what} -> {_describe_item(target)}")

    @staticmethod
    def offline_fix(guess: Guess, fix: Fix, what: str) -> Resolution:
        target = fix.target
        if isinstance(target, Show):
            items = guess_items(replace(guess, title=target.title, year=target.year))
            items = tuple(replace(i, show=target) if isinstance(i, Episode) else i for i in items)
        else:
            items = (target,)
        return Resolution(items, "override", f"{what}; offline")

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
        choice = self._search_titles(guess, kind)
        what = f"search {kind} {guess.title!r}"
        if choice.chosen is None:
            return Resolution((), "search", f"{what}: {choice.reason}")
        if isinstance(choice.chosen, Movie):
            return Resolution(
                (choice.chosen,), "search", f"{what}: {choice.reason} -> {describe(choice.chosen)}"
            )
        what = f"{what}: {choice.reason}"
        return self._episodes(choice.chosen, rule_numbers(guess, None), guess, source="search", what=what)

    def _search_titles(self, guess: Guess, kind: str) -> Choice:
        """The title, then each alternate title the name gives (`A aka B`, `A / B`)."""
        first: Choice | None = None
        for title in (guess.title or "", *guess.aliases):
            choice = self._search(title, guess.year, kind, guess.country)
            if choice.chosen is not None:
                return (
                    choice
                    if title == guess.title
                    else Choice(choice.chosen, f"as {title!r}: {choice.reason}")
                )
            first = first or choice
        numbered = f"{guess.title} {guess.year}"
        if guess.year and normalise_title(numbered) in normalise_title(guess.name):  # "Space.1999.S01E01"
            choice = self._search(numbered, None, kind, guess.country)
            if choice.chosen is not None:
                return Choice(
                    choice.chosen, f"as {numbered!r} (the year is part of the title): {choice.reason}"
                )
        return first or Choice(None, "nothing to search for")

    def _search(self, title: str, year: int | None, kind: str, country: str | None = None) -> Choice:
        hits = self.searcher.search_text(title, (kind,), year=year)
        choice = choose(title, year, hits, kind, country)
        if choice.chosen is None and year is not None:  # Trakt's year may be off by one
            wider_hits = self.searcher.search_text(title, (kind,))
            wider = choose(title, year, wider_hits, kind, country)
            if wider.chosen is not None or not hits:
                return wider
        if choice.chosen is None and kind == "show" and hits:
            return self._by_alias(title, year, hits) or choice
        return choice

    def _by_alias(self, title: str, year: int | None, hits: Sequence[SearchHit]) -> Choice | None:
        """Trakt found shows but none under this title: accept the one whose aliases hold it
        exactly (a localized or original title) when the year, if known, agrees too."""
        want = normalise_title(title)
        shows = [h.item for h in hits if h.type == "show" and isinstance(h.item, Show)][:MAX_ALIAS_LOOKUPS]
        named = [
            s
            for s in shows
            if (year is None or s.year == year)
            and any(normalise_title(a) == want for a in self.searcher.show_aliases(s))
        ]
        if len(named) == 1:
            return Choice(named[0], f"{title!r} is an alias of {describe(named[0])}")
        return None

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
            return self._absolute(show, absolute, source=source, what=what)
        if guess.date:
            return self._daily(show, guess.date, source=source, what=what)
        return Resolution((), source, f"{what}; the name gives no episode number")

    def _absolute(self, show: Show, numbers: tuple[int, ...], *, source: str, what: str) -> Resolution:
        """Absolute numbers mapped to season/episode (with ids) from the show's episode list."""
        found: list[Item] = []
        for number in numbers:
            ep = self.catalog.by_absolute(show, number)
            if ep is None:
                missing = f"{describe(show)} has no {episode_label(None, None, number)} on Trakt"
                return Resolution((), source, f"{what}; {missing}")
            found.append(replace(ep, number_abs=ep.number_abs or number))
        first = found[0]
        assert isinstance(first, Episode)
        mapped = f"absolute {first.number_abs} is {episode_label(first.season, first.number)}"
        return Resolution(tuple(found), source, f"{what} -> {_describe_item(first)} ({mapped})")

    def _daily(self, show: Show, day: str, *, source: str, what: str) -> Resolution:
        """A daily show's episode by its air date (in the show's own time zone)."""
        aired = self.catalog.by_air_date(show, day)
        if len(aired) == 1:
            return Resolution((aired[0],), source, f"{what} -> {_describe_item(aired[0])} (aired {day})")
        if not aired:
            return Resolution((), source, f"{what}; {describe(show)} has no episode that aired on {day}")
        labels = ", ".join(episode_label(e.season, e.number) for e in aired)
        return Resolution((), source, f"{what}; several episodes aired on {day} ({labels}): add a rule")


def _describe_item(item: Movie | Show | Episode) -> str:
    if isinstance(item, Episode):
        return f"{describe(item.show)} {episode_label(item.season, item.number, item.number_abs)}"
    return describe(item)
