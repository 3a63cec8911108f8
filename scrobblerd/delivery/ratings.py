"""Ratings: parsing what the user typed, what to rate, how to show it, and sending it.

The retired v1 `rate/movies` and `rate/episodes` took "love"/"hate", 1..10, or "unrate"/0; v2
takes 1..10 on POST /sync/ratings and removals on /sync/ratings/remove. We keep v1's words:
love = 10 and hate = 1 (the ends of the advanced scale), 0/unrate removes.

Trakt keeps one 1..10 value per item and its contract has no ratings mode in /users/settings,
so a rating is always shown as "8/10".

Queued ratings are rows of kind "rating" whose payload says what to rate (`target`, a resolved
item) or, when the item could not be identified offline, which media to identify (`media`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from scrobblerd.errors import PermanentError
from scrobblerd.models import Episode, Item, MediaRef, Show, item_from_json
from scrobblerd.store.history import HistoryRecord
from scrobblerd.timefmt import iso_utc, parse_time

RATING_KIND = "rating"  # queue row kind (scrobblerd.store.deliveries.RATING)
RATING_MIN, RATING_MAX = 1, 10  # Trakt: /sync/ratings accepts integers 1..10
UNRATE = 0  # Trakt v1 rate/*: "send unrate or 0 to undo a rating"
WORDS = {"love": 10, "hate": 1, "unrate": UNRATE}  # Trakt v1 rate/*: the love/hate words


def parse_rating(text: str) -> int:
    """1..10, "love" (10), "hate" (1), or 0/"unrate" (0: remove the rating)."""
    word = text.strip().lower()
    if word in WORDS:
        return WORDS[word]
    if word.isdigit():
        value = int(word)
        if value == UNRATE or RATING_MIN <= value <= RATING_MAX:
            return value
    raise ValueError(
        f"invalid rating {text!r}: use a whole number from {RATING_MIN} to {RATING_MAX}, "
        "love (10), hate (1), or 0/unrate to remove a rating"
    )


def describe_rating(rating: int) -> str:
    """`rating` as shown: "8/10", or "not rated"."""
    if rating == UNRATE:
        return "not rated"
    return f"{rating}/{RATING_MAX}"


def describe_target(target: Item | Show) -> str:
    """ "The Matrix (1999)", "Breaking Bad S01E02", "Breaking Bad (2008) (the show)"."""
    if isinstance(target, Episode):
        show = target.show.title
        if target.season is not None and target.number is not None:
            return f"{show} S{target.season:02d}E{target.number:02d}"
        return f"{show} #{target.number_abs}" if target.number_abs is not None else show
    name = f"{target.title} ({target.year})" if target.year else target.title
    return f"{name} (the show)" if isinstance(target, Show) else name


# -- what to rate ---------------------------------------------------------------------------------


def choose_target(item: Item, show: bool) -> Item | Show:
    """The item itself, or with `show` its show (only for an episode)."""
    if not show:
        return item
    if isinstance(item, Episode):
        return item.show
    raise ValueError(f"--show rates an episode's show, but {describe_target(item)} is a movie")


def last_watch(records: Sequence[HistoryRecord]) -> HistoryRecord | None:
    """The newest local watch (history is newest first)."""
    return records[0] if records else None


def record_item(record: HistoryRecord) -> Item | None:
    """The resolved Trakt item of a local watch; None while it is not identified yet."""
    return item_from_json(record.item) if record.item else None


def target_to_json(target: Item | Show) -> dict[str, Any]:
    if isinstance(target, Show):
        return {"type": "show", **target.to_json()}
    return target.to_json()


def target_from_json(data: Mapping[str, Any]) -> Item | Show:
    if data.get("type") == "show":
        return Show(str(data.get("title") or ""), data.get("year"), dict(data.get("ids") or {}))
    return item_from_json(dict(data))


def rating_payload(target: Item | Show, rating: int, rated_at: float) -> dict[str, Any]:
    """A queue payload for a resolved item."""
    return {"target": target_to_json(target), "rating": rating, "rated_at": iso_utc(rated_at)}


def media_payload(media: MediaRef, part: int, show: bool, rating: int, rated_at: float) -> dict[str, Any]:
    """A queue payload for media still to be identified (rated while Trakt was unreachable)."""
    return {
        "media": media.to_json(),
        "part": part,
        "show": show,
        "rating": rating,
        "rated_at": iso_utc(rated_at),
    }


# -- sending -------------------------------------------------------------------------------------


class RatingsApi(Protocol):
    """The part of scrobblerd.trakt.client.TraktClient ratings use."""

    def add_ratings(self, ratings: Sequence[tuple[Item | Show, int, datetime]]) -> dict[str, Any]: ...

    def remove_ratings(self, items: Sequence[Item | Show]) -> dict[str, Any]: ...


Resolve = Callable[[MediaRef, int], Item | None]


@dataclass(frozen=True)
class Sent:
    target: Item | Show
    rating: int


def send_rating(client: RatingsApi, target: Item | Show, rating: int, rated_at: datetime) -> None:
    """POST the rating (or its removal); PermanentError when Trakt does not know the item."""
    if rating == UNRATE:
        answer = client.remove_ratings([target])
    else:
        answer = client.add_ratings([(target, rating, rated_at)])
    missing = answer.get("not_found") or {}
    if isinstance(missing, dict) and any(missing.values()):
        raise PermanentError(f"Trakt does not know {describe_target(target)} (not_found)")


def deliver_rating(client: RatingsApi, payload: Mapping[str, Any], resolve: Resolve | None = None) -> Sent:
    """Send one queued rating. Raises TransientError/PermanentError/AuthError as the client does;
    a payload that names media is identified first with `resolve` (PermanentError when unknown)."""
    rating = int(payload["rating"])
    if rating != UNRATE and not RATING_MIN <= rating <= RATING_MAX:
        raise PermanentError(f"queued rating {rating} is outside {RATING_MIN}..{RATING_MAX}")
    target = _payload_target(payload, resolve)
    rated_at = _parse_iso(str(payload.get("rated_at") or iso_utc(time.time())))
    send_rating(client, target, rating, rated_at)
    return Sent(target, rating)


def rating_handler(client: RatingsApi, resolve: Resolve | None = None) -> Callable[[dict[str, Any]], None]:
    """The DeliveryWorker handler for rows of kind "rating"."""

    def handle(payload: dict[str, Any]) -> None:
        deliver_rating(client, payload, resolve)

    return handle


def _payload_target(payload: Mapping[str, Any], resolve: Resolve | None) -> Item | Show:
    if payload.get("target"):
        return target_from_json(payload["target"])
    media = MediaRef.from_json(dict(payload.get("media") or {}))
    what = media.path or media.title or "unknown media"
    if resolve is None:
        raise PermanentError(f"cannot identify {what} for its rating here")
    item = resolve(media, int(payload.get("part") or 0))
    if item is None:
        raise PermanentError(f"unidentified: {what} (correct it with `scrobblerd identify --fix`)")
    try:
        return choose_target(item, bool(payload.get("show")))
    except ValueError as exc:
        raise PermanentError(str(exc)) from None


def _parse_iso(value: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError:
        raise PermanentError(f"queued rating has an unreadable rated_at {value!r}") from None
