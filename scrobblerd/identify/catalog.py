"""A show's episode list, cached per show in the store: absolute numbers and air dates become
the season/episode Trakt knows, with the episode's own ids (Trakt's scrobble and history
bodies want episode ids). The list is fetched once per show and day; a number or date it does
not hold yet (a daily show's newest episode) fetches it once more."""

from __future__ import annotations

from typing import Any, Protocol

from scrobblerd.models import Episode, Show
from scrobblerd.trakt.episodes import ShowEpisodes

CATALOG_PREFIX = "identify:show-episodes:v1:"
SHOW_TTL = 86400.0  # seconds a show's episode list is reused; daily shows gain one a day


class EpisodeLister(Protocol):
    def show_episodes(self, show: Show) -> ShowEpisodes: ...


class CatalogCache(Protocol):
    def cache_get(self, key: str) -> dict[str, Any] | None: ...
    def cache_put(self, key: str, value: dict[str, Any], ttl: float) -> None: ...


class Catalog:
    def __init__(self, lister: EpisodeLister, cache: CatalogCache | None) -> None:
        self.lister = lister
        self.cache = cache

    def by_absolute(self, show: Show, number: int) -> Episode | None:
        """The episode with absolute number `number`: Trakt's number_abs, or, for a show whose
        episodes carry none, the `number`-th episode outside season 0 in airing order."""
        for fresh in (False, True):
            listing, cached = self._episodes(show, fresh=fresh)
            found = listing.by_absolute(number) or _by_position(listing, number)
            if found is not None or not cached:
                return found
        return None

    def by_air_date(self, show: Show, day: str) -> list[Episode]:
        for fresh in (False, True):
            listing, cached = self._episodes(show, fresh=fresh)
            found = listing.by_air_date(day)
            if found or not cached:
                return found
        return []

    def _episodes(self, show: Show, *, fresh: bool) -> tuple[ShowEpisodes, bool]:
        key = CATALOG_PREFIX + str(show.ids.get("trakt") or show.ids.get("slug") or show.title)
        if not fresh and self.cache is not None and (value := self.cache.cache_get(key)):
            return ShowEpisodes.from_json(show, value), True
        listing = self.lister.show_episodes(show)
        if self.cache is not None:
            self.cache.cache_put(key, listing.to_json(), SHOW_TTL)
        return listing, False


def _by_position(listing: ShowEpisodes, number: int) -> Episode | None:
    if any(a.episode.number_abs is not None for a in listing.episodes):
        return None  # Trakt numbers this show itself; a gap is not ours to fill
    regular = sorted(
        (a.episode for a in listing.episodes if a.episode.season and a.episode.number is not None),
        key=lambda e: (e.season or 0, e.number or 0),
    )
    return regular[number - 1] if 0 < number <= len(regular) else None
