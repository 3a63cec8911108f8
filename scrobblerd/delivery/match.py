"""Which Trakt entries are which queued watches. Pure: no store, no client, no clock.

The delivery worker uses these to read Trakt's answers: `not_found` lists of /sync/history, and
the history around rows a crash left in flight.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scrobblerd.models import Episode, Item, Movie

SCROBBLE_SLACK = 60.0  # Trakt stamps a scrobble at its arrival: up to grace + this after watched_at


def _shares_id(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return any(k in b and a[k] not in (None, "") and str(a[k]) == str(b[k]) for k in a)


def same_item(a: Item, b: Item) -> bool:
    """Whether two items are the same movie/episode (ids first; an episode also by show + number)."""
    if isinstance(a, Episode) and isinstance(b, Episode):
        if a.ids and b.ids and any(k in b.ids for k in a.ids):
            return _shares_id(a.ids, b.ids)
        return _shares_id(a.show.ids, b.show.ids) and (a.season, a.number) == (b.season, b.number)
    if isinstance(a, Episode) or isinstance(b, Episode):
        return False
    return _shares_id(a.ids, b.ids)


def match_delivered(
    stuck: Sequence[tuple[int, Item, float, float]],
    remote: Sequence[tuple[Item, float]],
    local: Sequence[tuple[Item, float]],
    grace: float,
) -> set[int]:
    """Which interrupted rows Trakt already has. Pure.

    `stuck` is (row id, item, earliest, latest) where Trakt's entry may stand; `remote` is Trakt's
    history around them; `local` our delivered watches there, which first claim their own entries
    (a sync entry carries our watched_at, a scrobble its arrival up to grace later). Each remote
    entry proves at most one row, so a rewatch is never taken for a duplicate.
    """
    free = sorted(remote, key=lambda e: e[1])
    for item, at in local:
        near = [e for e in free if same_item(item, e[0]) and at - 2 <= e[1] <= at + grace + SCROBBLE_SLACK]
        if near:
            free.remove(min(near, key=lambda e: abs(e[1] - at)))
    found: set[int] = set()
    for row_id, item, lo, hi in sorted(stuck, key=lambda s: s[2]):
        hit = next((e for e in free if same_item(item, e[0]) and lo <= e[1] <= hi), None)
        if hit is not None:
            free.remove(hit)
            found.add(row_id)
    return found


def _names(entry: dict[str, Any], ids: dict[str, Any], title: str | None) -> bool:
    """Whether a raw Trakt object names the thing with these ids (else this title)."""
    theirs = dict(entry.get("ids") or {})
    if theirs and ids:
        return _shares_id(theirs, ids)
    return bool(title) and str(entry.get("title") or "").casefold() == str(title).casefold()


def _episode_listed(show_entry: dict[str, Any], ep: Episode) -> bool:
    seasons = show_entry.get("seasons")
    if not seasons:
        return True
    for season in seasons:
        if season.get("number") == ep.season:
            numbers = [e.get("number") for e in season.get("episodes") or []]
            return not numbers or ep.number in numbers
    return False


def not_found_names(not_found: dict[str, list[Any]], item: Item) -> bool:
    """Whether Trakt's `not_found` (raw movies/shows/episodes lists of /sync/history) names this item."""
    for key, entries in (not_found or {}).items():
        for entry in entries or []:
            if not isinstance(entry, dict):
                continue
            if isinstance(item, Movie):
                if key == "movies" and _names(entry, dict(item.ids), item.title):
                    return True
            elif key == "shows":
                if _names(entry, dict(item.show.ids), item.show.title) and _episode_listed(entry, item):
                    return True
            elif key == "episodes" and (
                _shares_id(dict(entry.get("ids") or {}), dict(item.ids))
                or (
                    (entry.get("season"), entry.get("number")) == (item.season, item.number)
                    and _names(dict(entry.get("show") or {}), dict(item.show.ids), item.show.title)
                )
            ):
                return True
    return False
