"""The dispatcher thread: events in order through the state machine, timers, a clean close."""

from __future__ import annotations

import queue
import threading
import time

from scrobblerd.models import ActionKind, EventKind, MediaRef, PlayerEvent, ScrobbleAction
from scrobblerd.playback import machine as state
from scrobblerd.playback.dispatcher import Dispatcher
from scrobblerd.players.base import ThreadedWatcher

MOVIE = MediaRef(path="/media/The.Matrix.1999.mkv")
RULES = state.Rules(min_duration=60, preview_time=5, debounce=0.2)


def collect() -> tuple[queue.Queue[ScrobbleAction], Dispatcher]:
    out: queue.Queue[ScrobbleAction] = queue.Queue()
    return out, Dispatcher(RULES, out.put)


def test_play_then_close_gives_start_then_watched_stop() -> None:
    out, dispatcher = collect()
    dispatcher.start()
    now = time.time()
    dispatcher.submit(PlayerEvent(EventKind.PLAYING, "p", now, MOVIE, position=50.0, duration=600.0))
    first = out.get(timeout=5)
    assert first.kind is ActionKind.START
    dispatcher.submit(PlayerEvent(EventKind.SEEKED, "p", time.time(), MOVIE, position=540.0, duration=600.0))
    dispatcher.stop(5)  # shutdown closes the open viewing: 90 % -> a watched stop
    actions = []
    while not out.empty():
        actions.append(out.get_nowait())
    stops = [a for a in actions if a.kind is ActionKind.STOP]
    assert len(stops) == 1 and stops[0].watched
    assert stops[0].progress >= 89.0
    assert not dispatcher.alive()


def test_an_event_that_breaks_delivery_is_logged_and_skipped() -> None:
    calls: list[ScrobbleAction] = []

    def flaky(action: ScrobbleAction) -> None:
        calls.append(action)
        if len(calls) == 1:
            raise RuntimeError("boom")

    dispatcher = Dispatcher(RULES, flaky)
    dispatcher.start()
    now = time.time()
    dispatcher.submit(PlayerEvent(EventKind.PLAYING, "a", now, MOVIE, position=10.0, duration=600.0))
    dispatcher.submit(PlayerEvent(EventKind.PLAYING, "b", now, MOVIE, position=10.0, duration=600.0))
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert dispatcher.alive()
    assert dispatcher.errors == 1
    assert [c.player for c in calls] == ["a", "b"]
    dispatcher.stop(5)


def test_timers_fire_without_events() -> None:
    """A pause that is followed by nothing still reaches Trakt once the debounce window closes."""
    out, dispatcher = collect()
    dispatcher.start()
    now = time.time()
    dispatcher.submit(PlayerEvent(EventKind.PLAYING, "p", now, MOVIE, position=10.0, duration=600.0))
    assert out.get(timeout=5).kind is ActionKind.START
    dispatcher.submit(PlayerEvent(EventKind.PAUSED, "p", time.time(), MOVIE, position=11.0, duration=600.0))
    assert out.get(timeout=5).kind is ActionKind.PAUSE
    dispatcher.stop(5)


def test_multi_episode_files_are_counted_once() -> None:
    counted: list[str] = []

    def count(media: MediaRef) -> int:
        counted.append(media.key)
        return 2

    out: queue.Queue[ScrobbleAction] = queue.Queue()
    dispatcher = Dispatcher(RULES, out.put, count_parts=count)
    dispatcher.start()
    double = MediaRef(path="/tv/Show.S01E01E02.mkv")
    single = MediaRef(path="/tv/Show.S01E03.mkv")
    now = time.time()
    for media in (double, double, single):
        dispatcher.submit(PlayerEvent(EventKind.PLAYING, "p", now, media, position=1.0, duration=2400.0))
    dispatcher.stop(5)
    assert counted == [double.key]  # a plain S01E03 never pays for a full parse
    actions = [out.get_nowait() for _ in range(out.qsize())]
    assert any(a.parts == 2 for a in actions)


class _Crashy(ThreadedWatcher):
    name = "crashy"

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0
        self.running = threading.Event()

    def run(self, sink, stop):  # type: ignore[no-untyped-def]
        self.runs += 1
        if self.runs == 1:
            raise RuntimeError("first run breaks")
        self.running.set()
        stop.wait()


def test_a_watcher_that_raises_is_restarted(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from scrobblerd.players import base

    monkeypatch.setattr(base, "CRASH_MIN_DELAY", 0.05)
    watcher = _Crashy()
    watcher.start(lambda event: None)
    assert watcher.running.wait(5)
    assert watcher.runs == 2 and watcher.restarts == 1
    watcher.stop(2)


def test_a_dead_dispatcher_thread_can_be_started_again() -> None:
    """The daemon's supervision job restarts the dispatcher if its thread ever ended."""
    out, dispatcher = collect()
    dispatcher.start()
    dispatcher.start()  # already running: no second thread
    assert sum(t.name == "dispatcher" for t in threading.enumerate()) == 1
    dispatcher.stop(5)
    assert not dispatcher.alive()
    dispatcher.start()
    assert dispatcher.alive()
    dispatcher.submit(PlayerEvent(EventKind.PLAYING, "p", time.time(), MOVIE, position=10.0, duration=600.0))
    assert out.get(timeout=5).kind is ActionKind.START
    dispatcher.stop(5)
