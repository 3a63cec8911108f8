"""The resume service's parts: the point book (a real SQLite file, the Trakt-like server over
HTTP on 127.0.0.1) and the resume thread (fakes for the resolver, the dispatcher and a player)."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrobblerd.errors import PlayerError, TransientError
from scrobblerd.models import (
    ActionKind,
    EventKind,
    Item,
    MediaRef,
    Movie,
    PlayerEvent,
    ResumeQuery,
    ScrobbleAction,
    SeekCommand,
)
from scrobblerd.players.kodi.command import seek_params
from scrobblerd.resume.book import PointBook
from scrobblerd.resume.service import Resumer
from scrobblerd.store import points
from scrobblerd.store.db import Store
from scrobblerd.store.history import HistoryRecord, history_insert
from scrobblerd.trakt.client import TraktClient
from tests.test_trakt import make_client
from tests.trakt_server import FakeTrakt

MATRIX_IDS = {"trakt": 481, "imdb": "tt0133093", "tmdb": 603}
MATRIX = Movie("The Matrix", 1999, dict(MATRIX_IDS))
MATRIX_BY_IMDB = Movie("The Matrix", 1999, {"imdb": "tt0133093"})  # as Kodi's library names it
FILE = MediaRef(path="/films/The.Matrix.1999.mkv")
PLAYER = "mpv:/tmp/mpvsocket"


@pytest.fixture
def fake() -> Iterator[FakeTrakt]:
    with FakeTrakt() as t:
        t.add_movie("The Matrix", 1999, MATRIX_IDS)
        yield t


@pytest.fixture
def client(fake: FakeTrakt, tmp_path: Path) -> Iterator[TraktClient]:
    api, manager = make_client(fake, tmp_path)
    yield api
    api.close()
    manager._oauth.close()  # type: ignore[attr-defined]


@pytest.fixture
def book(tmp_path: Path, client: TraktClient) -> Iterator[PointBook]:
    with Store.open(tmp_path / "db") as store:
        yield PointBook(store, client)


def point_paths(fake: FakeTrakt) -> list[str]:
    return [r.path for r in fake.requests if r.path.startswith("/sync/")]


def test_our_point_replaces_our_older_one_for_the_same_item(book: PointBook) -> None:
    book.note_pause(MATRIX, FILE.key, 20.0, 1000.0)
    book.note_pause(MATRIX_BY_IMDB, "/kodi/lib/Matrix.mkv", 41.0, 2000.0)
    [only] = points.all_points(book.store)
    assert (only.progress, only.source) == (41.0, "local")
    assert book.point_for(MATRIX, FILE.key) == only  # the same film, named by other ids


def test_an_unidentified_point_still_matches_its_file(book: PointBook) -> None:
    book.note_pause(None, FILE.key, 33.0, 1000.0)
    found = book.point_for(None, FILE.key)
    assert found is not None and found.progress == 33.0
    assert book.point_for(None, "/films/Other.mkv") is None


def test_a_point_older_than_the_last_watch_is_not_offered(book: PointBook) -> None:
    book.note_pause(MATRIX, FILE.key, 40.0, 1000.0)
    with book.store.write() as conn:
        # A watch still queued: identified by the ids recorded with it, not yet by a resolved item.
        history_insert(
            conn, HistoryRecord("v1", 0, 1500.0, "movie", "The Matrix", 1999, ids={"imdb": "tt0133093"})
        )
    assert book.point_for(MATRIX, FILE.key) is None
    book.note_pause(MATRIX, FILE.key, 12.0, 2000.0)
    found = book.point_for(MATRIX, FILE.key)
    assert found is not None and found.progress == 12.0


def test_unidentified_a_watch_of_the_same_file_hides_older_points(book: PointBook) -> None:
    book.note_pause(None, FILE.key, 40.0, 1000.0)
    with book.store.write() as conn:
        history_insert(conn, HistoryRecord("v1", 0, 1500.0, None, None, media=FILE.to_json()))
    assert book.point_for(None, FILE.key) is None


def test_trakts_points_are_fetched_only_when_last_activities_moved(
    book: PointBook, fake: FakeTrakt, client: TraktClient
) -> None:
    client.scrobble(ActionKind.PAUSE, MATRIX, 55.0)
    time.sleep(1.1)  # Trakt's stamps are whole seconds: the fetch must be in a later second
    assert book.refresh("movies") is True
    assert book.refresh("movies") is False
    assert point_paths(fake).count("/sync/playback/movies") == 1
    found = book.point_for(MATRIX_BY_IMDB, None)
    assert found is not None and (found.source, found.progress) == ("trakt", 55.0)
    client.scrobble(ActionKind.PAUSE, MATRIX, 61.0)
    assert book.refresh("movies") is True
    found = book.point_for(MATRIX, None)
    assert found is not None and found.progress == 61.0


def test_a_change_in_the_second_of_the_last_fetch_is_fetched_again(
    book: PointBook, client: TraktClient
) -> None:
    client.scrobble(ActionKind.PAUSE, MATRIX, 55.0)
    assert book.refresh("movies") is True  # same second as the pause: not proof of completeness
    assert book.refresh("movies") is True


def test_trakts_late_copy_of_an_older_pause_of_ours_does_not_outrank_our_newer_point(
    book: PointBook, fake: FakeTrakt
) -> None:
    now = time.time()
    book.note_pause(MATRIX, FILE.key, 20.0, now - 3)
    book.note_pause(MATRIX, FILE.key, 35.0, now - 1)  # still on its way to Trakt
    fake.add_playback({"movie": {"ids": {"trakt": 481}}}, 20.0, now)  # the first pause, arrived late
    book.refresh("movies")
    found = book.point_for(MATRIX, FILE.key)
    assert found is not None and (found.source, found.progress) == ("local", 35.0)
    fake.add_playback({"movie": {"ids": {"trakt": 481}}}, 50.0, now + 2)  # another device, later
    assert book.refresh("movies") is True
    found = book.point_for(MATRIX, FILE.key)
    assert found is not None and (found.source, found.progress) == ("trakt", 50.0)


def test_forget_clears_ours_and_deletes_trakts_on_trakt(book: PointBook, fake: FakeTrakt) -> None:
    book.note_pause(MATRIX, FILE.key, 40.0, 1000.0)
    trakt_id = fake.add_playback({"movie": {"ids": {"trakt": 481}}}, 30.0, time.time())
    assert book.forget(MATRIX_BY_IMDB, None) == 1
    assert fake.playback == {}
    assert [r.path for r in fake.requests if r.method == "DELETE"] == [f"/sync/playback/{trakt_id}"]
    assert points.all_points(book.store) == []


def test_kodi_seek_is_a_time_value() -> None:
    assert seek_params(1, 3723.456) == {
        "playerid": 1,
        "value": {"time": {"hours": 1, "minutes": 2, "seconds": 3, "milliseconds": 456}},
    }


# -- the resume thread ------------------------------------------------------------------------


class Harness:
    def __init__(self, book: PointBook, item: Item | None = MATRIX, fail_resolve: bool = False) -> None:
        self.events: queue.Queue[PlayerEvent] = queue.Queue()
        self.seeks: queue.Queue[SeekCommand] = queue.Queue()
        self.fail_seek = False

        def resolve(media: MediaRef, part: int) -> Item | None:
            if fail_resolve:
                raise TransientError("offline")
            return item

        def seek(cmd: SeekCommand) -> None:
            if self.fail_seek:
                raise PlayerError("mpv socket unreachable")
            self.seeks.put(cmd)

        self.resumer = Resumer(book, resolve, self.events.put, seek, threshold=80.0)


def test_a_lookup_answers_with_the_point_as_a_resume_event(book: PointBook) -> None:
    book.note_pause(MATRIX, FILE.key, 40.0, 1000.0)
    h = Harness(book)
    h.resumer.start()
    try:
        h.resumer.submit(ResumeQuery(PLAYER, "v", FILE, 5400.0, 5.0))
        event = h.events.get(timeout=5)
        assert (event.kind, event.player, event.media, event.point) == (EventKind.RESUME, PLAYER, FILE, 40.0)
        h.resumer.submit(SeekCommand(PLAYER, "v", FILE, 2160.0, 40.0, 6.0))
        assert h.seeks.get(timeout=5).position == 2160.0
    finally:
        h.resumer.stop()


def test_offline_the_lookup_still_answers_from_our_points(book: PointBook) -> None:
    book.note_pause(None, FILE.key, 25.0, 1000.0)
    h = Harness(book, fail_resolve=True)
    h.resumer.start()
    try:
        h.resumer.submit(ResumeQuery(PLAYER, "v", FILE, 5400.0, 5.0))
        assert h.events.get(timeout=5).point == 25.0
    finally:
        h.resumer.stop()


def test_pauses_below_the_threshold_become_our_points(book: PointBook) -> None:
    h = Harness(book)
    h.resumer.start()
    try:
        pause = ScrobbleAction(ActionKind.PAUSE, PLAYER, "v", FILE, 42.5, 1000.0)
        h.resumer.note(pause)
        h.resumer.note(ScrobbleAction(ActionKind.START, PLAYER, "v", FILE, 43.0, 1001.0))
        h.resumer.submit(ResumeQuery(PLAYER, "w", FILE, 5400.0, 1002.0))  # a barrier: jobs run in order
        assert h.events.get(timeout=5).point == 42.5
        assert [p.progress for p in points.all_points(book.store)] == [42.5]
    finally:
        h.resumer.stop()


def test_a_failed_seek_is_logged_and_the_service_carries_on(book: PointBook) -> None:
    h = Harness(book)
    h.fail_seek = True
    h.resumer.start()
    try:
        h.resumer.submit(SeekCommand(PLAYER, "v", FILE, 10.0, 1.0, 1.0))
        h.resumer.submit(ResumeQuery(PLAYER, "v", FILE, 5400.0, 5.0))
        assert h.events.get(timeout=5).point is None
        assert h.resumer.alive() and h.resumer.errors == 0
    finally:
        h.resumer.stop()


def test_a_watch_while_trakt_is_away_clears_its_points_when_trakt_answers_again(
    book: PointBook, fake: FakeTrakt
) -> None:
    trakt_id = fake.add_playback({"movie": {"ids": {"trakt": 481}}}, 30.0, time.time())
    h = Harness(book)
    fake.set_outage(True)
    h.resumer.start()
    try:
        h.resumer.note(ScrobbleAction(ActionKind.STOP, PLAYER, "v", FILE, 97.0, 1000.0, watched=True))
        h.resumer.submit(ResumeQuery(PLAYER, "w", FILE, 5400.0, 1001.0))  # a barrier: jobs run in order
        assert h.events.get(timeout=15).point is None  # our point is gone; Trakt's was never fetched
        assert book.pending_forgets() == 1 and fake.playback
        fake.set_outage(False)
        h.resumer.submit(ResumeQuery(PLAYER, "x", FILE, 5400.0, 1002.0))
        h.events.get(timeout=15)
        assert fake.wait_for(lambda t: t.playback == {}, 10), fake.playback
        assert f"/sync/playback/{trakt_id}" in [r.path for r in fake.requests if r.method == "DELETE"]
        deadline = time.monotonic() + 5
        while book.pending_forgets() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert book.pending_forgets() == 0
    finally:
        h.resumer.stop()
