"""A show's episode list as Trakt publishes it (GET /shows/:id/seasons?extended=full,episodes):
what absolute numbers and air dates are mapped with. Pure parsing and (de)serialising."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scrobblerd.errors import PermanentError
from scrobblerd.models import Episode, Show
from scrobblerd.trakt.objects import parse_episode


@dataclass(frozen=True, slots=True)
class AiredEpisode:
    episode: Episode
    first_aired: str | None  # ISO-8601 UTC, as Trakt gives it


@dataclass(frozen=True, slots=True)
class ShowEpisodes:
    """Every episode of `show` with its ids, absolute number and first air time. `timezone` is
    the show's airs.timezone: air dates in file names are local dates there."""

    show: Show
    timezone: str | None
    episodes: tuple[AiredEpisode, ...]

    def by_absolute(self, number: int) -> Episode | None:
        found = [a.episode for a in self.episodes if a.episode.number_abs == number and a.episode.season]
        return found[0] if len(found) == 1 else None

    def by_air_date(self, day: str) -> list[Episode]:
        """The episodes first aired on `day` (YYYY-MM-DD) in the show's own time zone."""
        want = date.fromisoformat(day)
        return [a.episode for a in self.episodes if self._local_date(a.first_aired) == want]

    def _local_date(self, first_aired: str | None) -> date | None:
        if not first_aired:
            return None
        try:
            aired = datetime.fromisoformat(first_aired.replace("Z", "+00:00"))
        except ValueError:
            return None
        if self.timezone:
            try:
                return aired.astimezone(ZoneInfo(self.timezone)).date()
            except (ZoneInfoNotFoundError, ValueError):
                pass
        return aired.date()

    def to_json(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "episodes": [
                {
                    "season": a.episode.season,
                    "number": a.episode.number,
                    "number_abs": a.episode.number_abs,
                    "title": a.episode.title,
                    "ids": dict(a.episode.ids),
                    "first_aired": a.first_aired,
                }
                for a in self.episodes
            ],
        }

    @classmethod
    def from_json(cls, show: Show, data: dict[str, Any]) -> ShowEpisodes:
        eps = tuple(
            AiredEpisode(parse_episode(e, show), e.get("first_aired"))
            for e in data.get("episodes") or []
            if isinstance(e, dict)
        )
        timezone = data.get("timezone")
        return cls(show, timezone if isinstance(timezone, str) else None, eps)


def parse_show_episodes(seasons: Any, summary: Any, show: Show) -> ShowEpisodes:
    """The seasons listing (with episodes) and the show's summary (extended=full) in one object."""
    if not isinstance(seasons, list):
        raise PermanentError(f"seasons: expected a list, got {type(seasons).__name__}")
    airs = summary.get("airs") if isinstance(summary, dict) else None
    timezone = airs.get("timezone") if isinstance(airs, dict) else None
    episodes = [
        {**e, "first_aired": e.get("first_aired")}
        for season in seasons
        if isinstance(season, dict)
        for e in season.get("episodes") or []
        if isinstance(e, dict)
    ]
    return ShowEpisodes.from_json(show, {"timezone": timezone, "episodes": episodes})
