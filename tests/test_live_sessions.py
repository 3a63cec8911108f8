"""Live viewings survive the daemon: saved at each transition, carried on after a kill.

The pure half (saved_state / restored / transition_of) needs no threads; the dispatcher half runs
the real dispatcher thread over a real SQLite SessionBook."""

from __future__ import annotations

import queue
import time
from pathlib import Path

import pytest

from scrobblerd.models import ActionKind, EventKind, MediaRef, PlayerEvent, ScrobbleAction
from scrobblerd.playback import machine as state
from scrobblerd.playback.dispatcher import Dispatcher
from scrobblerd.store.db import Store
from scrobblerd.store.sessions import MAX_AGE, SessionBook

MOVIE = MediaRef(path="/media/The.Matrix.1999.mkv")
OTHER = MediaRef(path="/media/Heat.1995.mkv")
RULES = state.Rules(min_duration=60, preview_time=60, debounce=0.0)
T0 = 1_800_000_000.0


def play(session: state.Session, at: float, pos: float, kind: EventKind = EventKind.PLAYING) -> state.Session:
    event = PlayerEvent(kind, session.player, at, MOVIE, position=pos, duration=1000.0)
    return state.step(session, event, at, RULES)[0]


def test_a_saved_viewing_reads_back_as_the_same_session() -> None:
    s = play(state.new_session("mpv:/s"), T0, 0.0)
    s = play(s, T0 + 5, 300.0, EventKind.PAUSED)
    data = state.saved_state(s)
    assert data is not None
    back = state.restored("mpv:/s", data)
    assert back == s


def test_nothing_is_saved_without_a_viewing_and_garbage_restores_as_none() -> None:
    assert state.saved_state(state.new_session("p")) is None
    assert state.restored("p", {"viewing": "x"}) is None
    assert (
        state.restored("p", {**state.saved_state(play(state.new_session("p"), T0, 0.0)), "sent": "?"}) is None
    )


def test_progress_reports_are_no_transition_but_a_pause_and_a_seek_are() -> None:
    s = play(state.new_session("p"), T0, 0.0)
    later = state.step(s, PlayerEvent(EventKind.PROGRESS, "p", T0 + 30, MOVIE, 30.0, 1000.0), T0 + 30, RULES)[
        0
    ]
    assert state.transition_of(later) == state.transition_of(s)
    paused = play(later, T0 + 31, 31.0, EventKind.PAUSED)
    assert state.transition_of(paused) != state.transition_of(later)
    sought = state.step(s, PlayerEvent(EventKind.SEEKED, "p", T0 + 31, MOVIE, 500.0, 1000.0), T0 + 31, RULES)[
        0
    ]
    assert state.transition_of(sought) != state.transition_of(s)


def test_a_restored_viewing_at_95_percent_is_no_preview_and_counts_when_it_ends() -> None:
    """The bug this guards: a daemon restarted at 95 % took its own viewing for a preview."""
    s = play(state.new_session("p"), T0, 0.0)
    s = state.step(s, PlayerEvent(EventKind.SEEKED, "p", T0 + 10, MOVIE, 950.0, 1000.0), T0 + 10, RULES)[0]
    data = state.saved_state(s)
    assert data is not None
    back = state.restored("p", data)
    assert back is not None
    again, _ = state.step(
        back, PlayerEvent(EventKind.PLAYING, "p", T0 + 20, MOVIE, 960.0, 1000.0), T0 + 20, RULES
    )
    _, acts = state.step(
        again, PlayerEvent(EventKind.ENDED, "p", T0 + 60, MOVIE, 1000.0, 1000.0), T0 + 60, RULES
    )
    stops = [a for a in acts if isinstance(a, ScrobbleAction) and a.kind is ActionKind.STOP]
    assert [a.watched for a in stops] == [True]
    assert not stops[0].late
    # the same events on a fresh session (no saved viewing) are a preview that stays silent
    fresh, _ = state.step(
        state.new_session("p"),
        PlayerEvent(EventKind.PLAYING, "p", T0 + 20, MOVIE, 960.0, 1000.0),
        T0 + 20,
        RULES,
    )
    _, acts = state.step(
        fresh, PlayerEvent(EventKind.ENDED, "p", T0 + 60, MOVIE, 1000.0, 1000.0), T0 + 60, RULES
    )
    assert not [a for a in acts if isinstance(a, ScrobbleAction) and a.kind is ActionKind.STOP and a.watched]


@pytest.fixture
def book(tmp_path: Path) -> SessionBook:
    return SessionBook(Store.open(tmp_path))


def test_the_book_keeps_one_viewing_per_player_and_only_for_the_same_file(book: SessionBook) -> None:
    book.save("p", MOVIE.key, {"a": 1}, T0)
    assert book.load("p", MOVIE.key, T0 + 1) == {"a": 1}
    assert book.load("p", OTHER.key, T0 + 1) is None
    assert book.load("q", MOVIE.key, T0 + 1) is None
    assert book.load("p", MOVIE.key, T0 + MAX_AGE + 1) is None
    book.forget("p")
    assert book.load("p", MOVIE.key, T0 + 1) is None


def _drain(out: queue.Queue[ScrobbleAction], timeout: float = 5.0) -> list[ScrobbleAction]:
    got = [out.get(timeout=timeout)]
    while not out.empty():
        got.append(out.get_nowait())
    return got


def test_a_dispatcher_killed_mid_viewing_is_carried_on_by_the_next_one(book: SessionBook) -> None:
    first_out: queue.Queue[ScrobbleAction] = queue.Queue()
    first = Dispatcher(RULES, first_out.put, saved=book)
    first.start()
    now = time.time()
    first.submit(PlayerEvent(EventKind.PLAYING, "p", now, MOVIE, position=0.0, duration=1000.0))
    assert _drain(first_out)[0].kind is ActionKind.START
    first.submit(PlayerEvent(EventKind.SEEKED, "p", now + 1, MOVIE, position=950.0, duration=1000.0))
    assert _drain(first_out)[-1].kind is ActionKind.START  # the start after the seek
    assert book.load("p", MOVIE.key, time.time()) is not None
    # "killed": never stopped, never closed. A new dispatcher on the same book:
    second_out: queue.Queue[ScrobbleAction] = queue.Queue()
    second = Dispatcher(RULES, second_out.put, saved=book)
    second.start()
    second.submit(PlayerEvent(EventKind.PLAYING, "p", time.time(), MOVIE, position=960.0, duration=1000.0))
    second.submit(PlayerEvent(EventKind.ENDED, "p", time.time(), MOVIE, position=1000.0, duration=1000.0))
    stops = [a for a in _drain(second_out) if a.kind is ActionKind.STOP]
    assert [a.watched for a in stops] == [True]
    second.stop(5)
    assert book.load("p", MOVIE.key, time.time()) is None  # ended: forgotten
    first.stop(5)


def test_a_book_that_cannot_save_is_logged_once_and_decisions_go_on(tmp_path: Path) -> None:
    class Full:
        saves = 0

        def save(self, player: str, media_key: str, state: dict[str, object], now: float) -> None:
            self.saves += 1
            raise OSError("database or disk is full")

        def forget(self, player: str) -> None:
            raise OSError("database or disk is full")

        def load(self, player: str, media_key: str, now: float) -> None:
            return None

    full = Full()
    out: queue.Queue[ScrobbleAction] = queue.Queue()
    dispatcher = Dispatcher(RULES, out.put, saved=full)  # type: ignore[arg-type]
    dispatcher.start()
    now = time.time()
    dispatcher.submit(PlayerEvent(EventKind.PLAYING, "p", now, MOVIE, position=0.0, duration=1000.0))
    assert _drain(out)[0].kind is ActionKind.START
    dispatcher.submit(PlayerEvent(EventKind.PAUSED, "p", now + 1, MOVIE, position=1.0, duration=1000.0))
    assert _drain(out)[0].kind is ActionKind.PAUSE
    assert full.saves >= 2 and dispatcher.errors == 0 and dispatcher.alive()
    dispatcher.stop(5)
