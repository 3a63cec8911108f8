"""Trakt's resume points through the client: /sync/playback, DELETE /sync/playback/{id} and
/sync/last_activities, against the Trakt-like server over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scrobblerd.errors import PermanentError
from scrobblerd.models import ActionKind, Episode, Movie
from scrobblerd.trakt.client import TraktClient
from scrobblerd.trakt.playback import parse_playback
from tests.test_trakt import BB_S01E02, MATRIX, make_client
from tests.trakt_server import FakeTrakt


@pytest.fixture
def fake() -> Iterator[FakeTrakt]:
    with FakeTrakt() as t:
        t.add_movie("The Matrix", 1999, {"trakt": 481, "imdb": "tt0133093", "tmdb": 603})
        t.add_show(
            "Breaking Bad", 2008, {"trakt": 1388, "tvdb": 81189}, episodes={(1, 2): {"ids": {"tvdb": 349234}}}
        )
        yield t


@pytest.fixture
def client(fake: FakeTrakt, tmp_path: Path) -> Iterator[TraktClient]:
    api, manager = make_client(fake, tmp_path)
    yield api
    api.close()
    manager._oauth.close()  # type: ignore[attr-defined]


def test_a_pause_is_a_point_per_kind_with_its_id_item_and_time(fake: FakeTrakt, client: TraktClient) -> None:
    client.scrobble(ActionKind.PAUSE, MATRIX, 41.5)
    client.scrobble(ActionKind.PAUSE, BB_S01E02, 12.0)
    [movie] = client.playback_points("movies")
    [episode] = client.playback_points("episodes")
    assert isinstance(movie.item, Movie) and movie.item.ids["trakt"] == 481
    assert movie.progress == 41.5 and movie.id == fake.playback[("movie", 481)]["id"]
    assert abs(movie.paused_at - fake.requests[0].at) < 1.0
    assert isinstance(episode.item, Episode) and (episode.item.season, episode.item.number) == (1, 2)
    assert episode.item.show.ids["trakt"] == 1388
    assert [r.path for r in fake.requests[-2:]] == ["/sync/playback/movies", "/sync/playback/episodes"]


def test_remove_playback_deletes_the_point_and_says_when_it_was_already_gone(
    fake: FakeTrakt, client: TraktClient
) -> None:
    client.scrobble(ActionKind.PAUSE, MATRIX, 41.5)
    [point] = client.playback_points("movies")
    assert client.remove_playback(point.id) is True
    assert fake.requests[-1].method == "DELETE" and fake.requests[-1].path == f"/sync/playback/{point.id}"
    assert client.playback_points("movies") == []
    assert client.remove_playback(point.id) is False


def test_last_activities_move_when_a_point_is_made_or_removed(fake: FakeTrakt, client: TraktClient) -> None:
    before = client.playback_activity()
    assert before == {"movies": 0.0, "episodes": 0.0}
    client.scrobble(ActionKind.PAUSE, MATRIX, 41.5)
    paused = client.playback_activity()
    assert paused["movies"] > 0 and paused["episodes"] == 0.0
    client.scrobble(ActionKind.START, MATRIX, 41.5)  # Trakt deletes the point on start
    assert fake.playback == {}
    assert client.playback_activity()["movies"] >= paused["movies"]


def test_a_malformed_entry_is_skipped_and_a_non_list_is_an_error() -> None:
    good = {"id": 7, "progress": 10.0, "paused_at": "2026-01-02T03:04:05.000Z", "type": "movie",
            "movie": {"title": "X", "year": 2000, "ids": {"trakt": 1}}}  # fmt: skip
    entries = parse_playback([good, {"id": "x", "type": "movie"}, "junk"], "sync/playback")
    assert [e.id for e in entries] == [7]
    with pytest.raises(PermanentError):
        parse_playback({"error": "no"}, "sync/playback")
