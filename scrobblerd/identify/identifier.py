"""MediaRef -> Movie | Episode | None, explained.

Order: filters (include/exclude, built-in ignores), the user's override rules, player-supplied
ids, the cache, then the file name parse checked against a Trakt text search. Every answer
carries a reason naming the step, the rule and the candidates that lost. The Trakt client and
the cache are injected (`Searcher`, `Cache`); nothing here does I/O of its own.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog

from scrobblerd import metrics
from scrobblerd.config.settings import IdentifyConfig, OverrideRule
from scrobblerd.errors import TraktError
from scrobblerd.identify.extras import extra_reason
from scrobblerd.identify.fixes import FixBook
from scrobblerd.identify.names import stem_of
from scrobblerd.identify.parse import Guess, is_url, normalise_title, parse, path_components
from scrobblerd.identify.resolver import Resolution, Resolver
from scrobblerd.identify.search import Searcher
from scrobblerd.models import Episode, Item, MediaRef, Movie, item_from_json

__all__ = ["Cache", "Guess", "Identification", "Identifier", "Searcher", "excluded", "parse"]

log = structlog.get_logger()

CACHE_PREFIX = "identify:v3:"
EXTRA_REASON = "excluded: the name marks an opening, ending, preview or promotional clip"
COUNT_PARTS_MEMO = 1024  # file names whose part count is remembered in memory


class Cache(Protocol):
    """The identification cache (scrobblerd.store.db.Store implements it)."""

    def cache_get(self, key: str) -> dict[str, Any] | None: ...
    def cache_put(self, key: str, value: dict[str, Any], ttl: float) -> None: ...
    def cache_delete(self, key: str) -> None: ...
    def cache_clear(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Identification:
    """What `ref` is. `items` holds one item per part (S01E01E02 is two); empty for unknown."""

    ref: MediaRef
    items: tuple[Item, ...] = ()
    source: str | None = None  # "player" | "override" | "filename" | "search" | None
    reason: str | None = None
    guess: Guess | None = None
    offline: bool = False
    failed: bool = False  # Trakt could not be asked (network trouble); not cached

    @property
    def item(self) -> Item | None:
        return self.items[0] if self.items else None

    def to_json(self) -> dict[str, Any]:
        """The `scrobblerd identify --json` shape (INTERFACE.md), plus a few extra keys.

        `episodes` lists every episode the file holds (in-season numbers, or absolute ones when
        there is no season) and `episode` is the first; `absolute` and `date` keep what the name
        said even after Trakt mapped it to a season and episode."""
        item, guess = self.item, self.guess or Guess()
        numbers = list(guess.numbers) or None
        out: dict[str, Any] = {
            "path": self.ref.path or self.ref.title or self.ref.key,
            "type": guess.type if item is None else ("episode" if isinstance(item, Episode) else "movie"),
            "title": guess.title,
            "year": guess.year,
            "season": guess.season,
            "episode": numbers[0] if numbers else None,
            "episodes": numbers,
            "absolute": guess.absolute[0] if guess.absolute else None,
            "date": guess.date,
            "ids": None,
            "source": self.source,
            "reason": self.reason,
        }
        if isinstance(item, Movie):
            out.update(title=item.title, year=item.year, season=None, episode=None, episodes=None)
        elif isinstance(item, Episode):
            episodes = [e for e in self.items if isinstance(e, Episode)]
            held = [e.number for e in episodes if e.number is not None]
            held = held or [e.number_abs for e in episodes if e.number_abs is not None]
            out.update(title=item.show.title, year=item.show.year, season=item.season)
            out.update(episode=held[0] if held else None, episodes=held or None)
            if item.number_abs is not None:
                out["absolute"] = item.number_abs
            out.update(number_abs=item.number_abs, episode_title=item.title)
            out["show_ids"] = None if self.offline else dict(item.show.ids)
        if item is not None and not self.offline:
            out["ids"] = dict(item.ids)
        return out


def excluded(path: str | None, config: IdentifyConfig, *, builtin: bool = True) -> str | None:
    """Why `path` is never scrobbled ("excluded: ..."), or None. `builtin=False` checks only the
    user's identify.include/exclude, not the built-in ignores (extras, samples, recordings)."""
    if not path:
        return None
    if config.include and not any(_under(path, folder) for folder in config.include):
        return "excluded: not under any identify.include folder"
    for pattern in config.exclude:
        if re.search(pattern, path):
            return f"excluded: matches identify.exclude {pattern!r}"
    return builtin_ignore(path) if builtin else None


def builtin_ignore(path: str | None) -> str | None:
    """Why `path` is an extra, a sample or a personal recording ("excluded: ..."), or None."""
    parts = path_components(path or "")
    if not parts:
        return None
    why = extra_reason(parts[:-1], stem_of(parts[-1]))
    return f"excluded: {why}" if why else None


def _under(path: str, folder: str) -> bool:
    import os.path

    if is_url(path) or is_url(folder):
        return path.startswith(folder)
    root = os.path.normpath(os.path.expanduser(folder))
    full = os.path.normpath(os.path.expanduser(path))
    return full == root or full.startswith(root.rstrip(os.sep) + os.sep)


def match_rule(rules: tuple[OverrideRule, ...], ref: MediaRef, guess: Guess) -> OverrideRule | None:
    """The first override rule that applies: a path regex, or an exact (normalised) title."""
    for rule in rules:
        if rule.path and ref.path and re.search(rule.path, ref.path):
            return rule
        if rule.title and guess.title and normalise_title(rule.title) == normalise_title(guess.title):
            return rule
    return None


def cache_key(guess: Guess) -> str:
    if guess.ids or guess.show_ids:
        ids = json.dumps([guess.ids, guess.show_ids], sort_keys=True, default=str)
        return f"{CACHE_PREFIX}ids:{ids}:{guess.season}:{list(guess.episodes)}"
    fields: list[object] = [guess.type, normalise_title(guess.title), guess.year, guess.season]
    fields += [list(guess.episodes), list(guess.absolute), guess.date, guess.country, list(guess.aliases)]
    return CACHE_PREFIX + json.dumps(fields, ensure_ascii=False)


class Identifier:
    """Resolves MediaRefs. `searcher` is the Trakt client (None: offline only); `cache` the store."""

    def __init__(
        self,
        config: IdentifyConfig,
        searcher: Searcher | None = None,
        cache: Cache | None = None,
        *,
        min_duration: float = 0.0,
        rules_file: str | None = None,
        fixes_file: Path | None = None,
    ) -> None:
        self.config = config
        self.cache = cache
        self.min_duration = min_duration
        self.rules_file = rules_file
        self.fixes = FixBook(fixes_file)
        self._resolver = Resolver(searcher, rules_file, cache) if searcher is not None else None
        self._parts: OrderedDict[str, int] = OrderedDict()

    def identify(
        self, ref: MediaRef, *, offline: bool = False, refresh: bool = False, duration: float | None = None
    ) -> Identification:
        """Never raises: Trakt trouble becomes an unknown with `failed` set (and is not cached)."""
        why = self._excluded(ref, duration)
        if why:
            return Identification(ref, source=None, reason=why, offline=offline)
        guess = parse(ref)
        if (why := self._ignored(ref, guess)) is not None:
            return Identification(ref, reason=why, offline=offline)
        try:
            return self._identify(ref, guess, offline=offline, refresh=refresh)
        except TraktError as exc:
            log.warning("identify_failed", path=ref.path, error=str(exc))
            metrics.count(metrics.IDENTIFY, source="search", result="failed")
            reason = f"Trakt could not be asked ({exc}); try again later or use --offline"
            return Identification(ref, guess=guess, reason=reason, failed=True)

    def resolve_for_delivery(self, ref: MediaRef, part: int = 0) -> Item | None:
        """The item for part `part` of `ref`, None for unknown; TraktError propagates."""
        guess = parse(ref)
        if self._excluded(ref, None) or self._ignored(ref, guess):
            return None
        found = self._identify(ref, guess, offline=False, refresh=False)
        item = found.items[part] if 0 <= part < len(found.items) else None
        record = getattr(self.cache, "identified_put", None)
        if item is not None and ref.path and callable(record):
            record(ref.path, part, found.source, found.reason)
        return item

    def count_parts(self, ref: MediaRef) -> int:
        """How many items the file holds (offline; remembered per file)."""
        key = ref.key
        if key not in self._parts:
            self._parts[key] = parse(ref).parts
            if len(self._parts) > COUNT_PARTS_MEMO:
                self._parts.popitem(last=False)
        return self._parts[key]

    def clear_cache(self) -> int:
        return self.cache.cache_clear() if self.cache is not None else 0

    def _ignored(self, ref: MediaRef, guess: Guess) -> str | None:
        """Built-in ignores (extras, samples, personal recordings); a user's rule overrides them."""
        if match_rule(self.config.overrides, ref, guess) is not None or self.fixes.match(ref) is not None:
            return None
        if guess.type == "extra":
            return EXTRA_REASON
        return builtin_ignore(ref.path)

    def _excluded(self, ref: MediaRef, duration: float | None) -> str | None:
        why = excluded(ref.path, self.config, builtin=False)
        if why is None and duration is not None and 0 < duration < self.min_duration:
            limit = f"scrobble.min_duration ({self.min_duration:.0f} s)"
            why = f"excluded: {duration:.0f} s is shorter than {limit}"
        return why

    def _identify(self, ref: MediaRef, guess: Guess, *, offline: bool, refresh: bool) -> Identification:
        rule = match_rule(self.config.overrides, ref, guess)
        fixed = self.fixes.match(ref) if rule is None else None
        resolver = self._resolver
        if fixed is not None:  # per file, so never cached under the name's key
            what = f"fix #{fixed[0]} in {self.fixes.path} ({fixed[1].ref})"
            if offline or resolver is None:
                return self._answer(ref, guess, Resolver.offline_fix(guess, fixed[1], what), offline=True)
            return self._answer(ref, guess, resolver.by_fix(guess, fixed[1], what, guess.parts))
        if offline or resolver is None:
            return self._offline(ref, guess, rule, offline=offline)
        key = cache_key(guess)
        if rule is not None:
            ruled = resolver.by_rule(guess, rule)
            self._remember(key, ruled)  # a correction replaces whatever was cached
            return self._answer(ref, guess, ruled)
        if not refresh and (cached := self._cached(key)) is not None:
            return self._answer(ref, guess, cached, cached=True)
        by_ids = resolver.by_player_ids(guess) if guess.ids or guess.show_ids else None
        found = by_ids
        if found is None or not found.items:
            searched = resolver.by_search(guess)
            before = by_ids.reason + "; " if by_ids is not None else ""
            found = Resolution(searched.items, searched.source, before + searched.reason)
        self._remember(key, found)
        return self._answer(ref, guess, found)

    def _offline(
        self, ref: MediaRef, guess: Guess, rule: OverrideRule | None, *, offline: bool
    ) -> Identification:
        found = Resolver.offline(guess, rule, self.rules_file)
        if not offline:
            found = Resolution(found.items, found.source, found.reason + " (no Trakt client: parse only)")
        return self._answer(ref, guess, found, offline=True)

    def _answer(
        self, ref: MediaRef, guess: Guess, found: Resolution, *, cached: bool = False, offline: bool = False
    ) -> Identification:
        reason = f"cached: {found.reason}" if cached else found.reason
        if not offline:
            result = "found" if found.items else "unknown"
            metrics.count(metrics.IDENTIFY, source=found.source or "none", result=result)
        log.debug("identified", path=ref.path, source=found.source, found=bool(found.items), cached=cached)
        return Identification(ref, found.items, found.source, reason, guess, offline=offline)

    def _cached(self, key: str) -> Resolution | None:
        if self.cache is None:
            return None
        value = self.cache.cache_get(key)
        if not value:
            return None
        items = tuple(item_from_json(i) for i in value.get("items") or [])
        return Resolution(items, value.get("source"), str(value.get("reason") or ""))

    def _remember(self, key: str, found: Resolution) -> None:
        if self.cache is None:
            return
        value = {"items": [i.to_json() for i in found.items], "source": found.source, "reason": found.reason}
        ttl = self.config.cache_ttl if found.items else self.config.negative_ttl
        self.cache.cache_put(key, value, ttl)
