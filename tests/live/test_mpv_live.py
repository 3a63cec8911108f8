"""The mpv watcher against the real mpv: every transition a user makes, and every way mpv goes away."""

from __future__ import annotations

import queue
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scrobblerd.models import EventKind, PlayerEvent
from scrobblerd.players.base import RECONNECT_MAX_DELAY
from scrobblerd.players.mpv.settings import MpvConfig
from scrobblerd.players.mpv.watcher import MpvWatcher
from tests.conftest import require_binary
from tests.live.run_mpv import MpvFactory

pytestmark = pytest.mark.live

MATRIX = "The.Matrix.1999.1080p.BluRay.x264.mkv"  # 90 s
E02, E03, E04 = (f"Breaking.Bad.S01E0{n}.720p.mkv" for n in (2, 3, 4))  # 60 s each
SHORT = "Short.Sample.2020.mkv"  # 20 s
WAIT = 10.0  # seconds: generous upper bound for anything mpv does in milliseconds


class Events:
    """The sink: collects PlayerEvents; tests pull them in order with timeouts."""

    def __init__(self) -> None:
        self.queue: queue.Queue[PlayerEvent] = queue.Queue()

    def __call__(self, event: PlayerEvent) -> None:
        self.queue.put(event)

    def next(self, kind: EventKind | None = None, timeout: float = WAIT) -> PlayerEvent:
        """The next event that is not PROGRESS (or, with kind=PROGRESS, the next PROGRESS)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {kind or 'event'} within {timeout}s") from None
            if event.kind is EventKind.PROGRESS and kind is not EventKind.PROGRESS:
                continue
            if kind is not None:
                assert event.kind is kind, f"expected {kind}, got {event}"
            return event

    def pending(self) -> list[PlayerEvent]:
        events = []
        while not self.queue.empty():
            events.append(self.queue.get_nowait())
        return [e for e in events if e.kind is not EventKind.PROGRESS]


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> float:
    """Seconds it took for `condition` to hold (status is state, not an event stream)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture
def mpv(tmp_path: Path) -> Iterator[MpvFactory]:
    require_binary("mpv")
    factory = MpvFactory(tmp_path)
    yield factory
    factory.close()


WatcherFactory = Callable[..., tuple[MpvWatcher, Events]]


@pytest.fixture
def watch() -> Iterator[WatcherFactory]:
    started: list[MpvWatcher] = []

    def start(*paths: Path | str, tick_interval: float = 60.0) -> tuple[MpvWatcher, Events]:
        watcher = MpvWatcher(MpvConfig(ipc_path=tuple(str(p) for p in paths)), tick_interval=tick_interval)
        events = Events()
        watcher.start(events)
        started.append(watcher)
        return watcher, events

    yield start
    for watcher in started:
        watcher.stop(timeout=2.0)


def pid(path: Path) -> str:
    return f"mpv:{path}"


def connected(watcher: MpvWatcher, path: Path) -> Callable[[], bool]:
    return lambda: (s := watcher.status().get(pid(path))) is not None and s.connected


def waiting(watcher: MpvWatcher, path: Path) -> Callable[[], bool]:
    return lambda: (s := watcher.status().get(pid(path))) is not None and not s.connected


def test_play_pause_resume_seek_stop(mpv: MpvFactory, watch: WatcherFactory, media_dir: Path) -> None:
    player = mpv()
    watcher, events = watch(player.socket_path)
    wait_until(connected(watcher, player.socket_path))

    player.loadfile(media_dir / MATRIX)
    playing = events.next(EventKind.PLAYING)
    assert playing.player == pid(player.socket_path)
    assert playing.media is not None
    assert playing.media.path == str(media_dir / MATRIX)
    assert playing.media.title == MATRIX  # mpv's media-title falls back to the file name
    assert playing.media.tags == {}
    assert playing.media.kind is None
    assert playing.position is not None and playing.position < 1.0
    assert playing.duration == pytest.approx(90.0, abs=0.2)
    assert playing.paused is False
    assert watcher.status()[pid(player.socket_path)].state == "playing"

    player.set("pause", True)
    paused = events.next(EventKind.PAUSED)
    assert paused.paused is True and paused.media == playing.media
    assert paused.position is not None and paused.position < 3.0

    player.set("pause", False)
    resumed = events.next(EventKind.PLAYING)
    assert resumed.media == playing.media and resumed.paused is False
    assert resumed.position == pytest.approx(paused.position, abs=0.2)

    player.command("seek", 85, "absolute-percent+exact")
    seeked = events.next(EventKind.SEEKED)
    assert seeked.position == pytest.approx(0.85 * 90.046, abs=0.3)
    assert seeked.duration == pytest.approx(90.0, abs=0.2)

    player.command("stop")
    stopped = events.next(EventKind.STOPPED)
    assert stopped.media == playing.media
    assert seeked.position is not None
    assert stopped.position == pytest.approx(seeked.position + 0.3, abs=0.5)
    wait_until(lambda: watcher.status()[pid(player.socket_path)].state == "idle")
    assert events.pending() == []


def test_loaded_paused_reports_paused(mpv: MpvFactory, watch: WatcherFactory, media_dir: Path) -> None:
    player = mpv()
    watcher, events = watch(player.socket_path)
    wait_until(connected(watcher, player.socket_path))
    player.loadfile(media_dir / E02, options="pause=yes,start=30")
    paused = events.next(EventKind.PAUSED)
    assert paused.position == pytest.approx(30.0, abs=0.2) and paused.paused is True
    player.set("pause", False)
    assert events.next(EventKind.PLAYING).position == pytest.approx(30.0, abs=0.3)


def test_playlist_next_and_natural_end(mpv: MpvFactory, watch: WatcherFactory, media_dir: Path) -> None:
    player = mpv()
    watcher, events = watch(player.socket_path)
    wait_until(connected(watcher, player.socket_path))

    player.loadfile(media_dir / E02)
    assert events.next(EventKind.PLAYING).media.path == str(media_dir / E02)  # type: ignore[union-attr]
    player.loadfile(media_dir / E03, "append")
    player.command("playlist-next")
    stopped = events.next(EventKind.STOPPED)
    assert stopped.media is not None and stopped.media.path == str(media_dir / E02)
    second = events.next(EventKind.PLAYING)
    assert second.media is not None and second.media.path == str(media_dir / E03)

    # A file that plays to its end, then the playlist moves on by itself.
    player.loadfile(media_dir / SHORT, options="start=95%")
    player.loadfile(media_dir / E04, "append")
    assert events.next(EventKind.STOPPED).media == second.media
    short = events.next(EventKind.PLAYING)
    assert short.media is not None and short.media.path == str(media_dir / SHORT)
    assert short.position == pytest.approx(19.0, abs=0.3)
    ended = events.next(EventKind.ENDED)
    assert ended.media == short.media
    assert ended.position == ended.duration == pytest.approx(20.0, abs=0.2)
    nxt = events.next(EventKind.PLAYING)
    assert nxt.media is not None and nxt.media.path == str(media_dir / E04)
    assert nxt.position is not None and nxt.position < 1.0


def test_quit_then_restart_on_same_socket(mpv: MpvFactory, watch: WatcherFactory, media_dir: Path) -> None:
    player = mpv()
    watcher, events = watch(player.socket_path)
    wait_until(connected(watcher, player.socket_path))
    player.loadfile(media_dir / MATRIX, options="start=10")
    events.next(EventKind.PLAYING)

    assert player.quit() == 0
    stopped = events.next(EventKind.STOPPED)
    assert stopped.position == pytest.approx(10.0, abs=0.5)
    wait_until(waiting(watcher, player.socket_path))
    assert events.pending() == []  # quit ended the file cleanly: no LOST

    again = mpv(player.socket_path.name)
    found = wait_until(connected(watcher, player.socket_path))
    assert found < RECONNECT_MAX_DELAY + 1.0
    again.loadfile(media_dir / E02)
    assert events.next(EventKind.PLAYING).media.path == str(media_dir / E02)  # type: ignore[union-attr]


def test_kill_9_while_playing_is_lost(mpv: MpvFactory, watch: WatcherFactory, media_dir: Path) -> None:
    player = mpv()
    watcher, events = watch(player.socket_path)
    wait_until(connected(watcher, player.socket_path))
    player.loadfile(media_dir / MATRIX, options="start=45")
    playing = events.next(EventKind.PLAYING)
    assert playing.position == pytest.approx(45.0, abs=0.2)
    started = time.monotonic()
    player.wait_playing()
    played = player.get("time-pos") - 45.0

    player.kill()
    elapsed = time.monotonic() - started
    lost = events.next(EventKind.LOST)
    assert lost.media == playing.media
    assert lost.duration == pytest.approx(90.0, abs=0.2)
    assert lost.position is not None
    assert 45.0 + played - 0.3 <= lost.position <= 45.0 + elapsed + 0.3
    wait_until(waiting(watcher, player.socket_path))
    assert watcher.status()[pid(player.socket_path)].state == "waiting"


def test_mpv_started_after_the_watcher(mpv: MpvFactory, watch: WatcherFactory, media_dir: Path) -> None:
    sock = mpv.socket()
    watcher, events = watch(sock)
    wait_until(waiting(watcher, sock))
    assert watcher.status()[pid(sock)].state == "waiting"

    started = time.monotonic()
    player = mpv()
    wait_until(connected(watcher, sock))
    assert time.monotonic() - started < RECONNECT_MAX_DELAY + 1.0
    player.loadfile(media_dir / E02)
    assert events.next(EventKind.PLAYING).player == pid(sock)


def test_stale_socket_file(mpv: MpvFactory, watch: WatcherFactory, media_dir: Path) -> None:
    sock = mpv.socket()
    with socket.socket(socket.AF_UNIX) as leftover:
        leftover.bind(str(sock))  # closed without unlink: what a killed mpv leaves behind
    assert sock.exists()
    watcher, events = watch(sock)
    wait_until(waiting(watcher, sock))
    assert watcher.status()[pid(sock)].detail == "Connection refused"

    player = mpv()
    wait_until(connected(watcher, sock), timeout=RECONNECT_MAX_DELAY + 2.0)
    player.loadfile(media_dir / SHORT)
    assert events.next(EventKind.PLAYING).media.path == str(media_dir / SHORT)  # type: ignore[union-attr]


def test_attach_to_an_mpv_already_playing(mpv: MpvFactory, watch: WatcherFactory, media_dir: Path) -> None:
    player = mpv()
    player.loadfile(media_dir / MATRIX, options="start=40")
    position = player.wait_playing()
    watcher, events = watch(player.socket_path)
    playing = events.next(EventKind.PLAYING)
    assert playing.media is not None and playing.media.path == str(media_dir / MATRIX)
    assert playing.position is not None and position <= playing.position < position + 1.0
    assert playing.duration == pytest.approx(90.0, abs=0.2)

    watcher.stop()  # a daemon restart while the movie is paused
    player.set("pause", True)
    paused_at = player.get("time-pos")
    _, events = watch(player.socket_path)
    paused = events.next(EventKind.PAUSED)
    assert paused.position == pytest.approx(paused_at, abs=0.05) and paused.paused is True


def test_two_instances_through_a_glob(mpv: MpvFactory, watch: WatcherFactory, media_dir: Path) -> None:
    first, second = mpv("mpv-a.sock"), mpv("mpv-b.sock")
    watcher, events = watch(mpv.directory / "mpv-*.sock")
    wait_until(lambda: all(connected(watcher, m.socket_path)() for m in (first, second)))

    first.loadfile(media_dir / MATRIX)
    a = events.next(EventKind.PLAYING)
    second.loadfile(media_dir / E02)
    b = events.next(EventKind.PLAYING)
    assert (a.player, a.media.path) == (pid(first.socket_path), str(media_dir / MATRIX))  # type: ignore[union-attr]
    assert (b.player, b.media.path) == (pid(second.socket_path), str(media_dir / E02))  # type: ignore[union-attr]

    first.set("pause", True)
    assert events.next(EventKind.PAUSED).player == pid(first.socket_path)
    second.kill()
    lost = events.next(EventKind.LOST)
    assert lost.player == pid(second.socket_path)
    status = watcher.status()
    assert status[pid(first.socket_path)].state == "paused"

    third = mpv("mpv-c.sock")  # a new instance is found by re-reading the glob
    wait_until(connected(watcher, third.socket_path), timeout=RECONNECT_MAX_DELAY + 2.0)


def test_relative_path_and_container_tags(
    mpv: MpvFactory, watch: WatcherFactory, media_dir: Path, tmp_path: Path
) -> None:
    tagged = tmp_path / "movie.mkv"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(media_dir / SHORT), "-c", "copy",
         "-metadata", "title=The Matrix", "-metadata", "DATE_RELEASED=1999-03-31",
         "-metadata", "IMDB=tt0133093", str(tagged)],
        check=True, timeout=60,
    )  # fmt: skip
    player = mpv(cwd=tmp_path)
    watcher, events = watch(player.socket_path)
    wait_until(connected(watcher, player.socket_path))
    player.loadfile("movie.mkv")
    playing = events.next(EventKind.PLAYING)
    assert playing.media is not None
    assert playing.media.path == str(tagged)
    assert playing.media.title == "The Matrix"
    assert playing.media.tags == {"title": "The Matrix", "year": "1999", "imdb": "tt0133093"}


def test_progress_ticks_only_while_playing(mpv: MpvFactory, watch: WatcherFactory, media_dir: Path) -> None:
    player = mpv()
    watcher, events = watch(player.socket_path, tick_interval=0.2)
    wait_until(connected(watcher, player.socket_path))
    player.loadfile(media_dir / MATRIX)
    events.next(EventKind.PLAYING)
    one = events.next(EventKind.PROGRESS)
    two = events.next(EventKind.PROGRESS)
    assert one.position is not None and two.position is not None and two.position > one.position
    assert one.paused is False and one.media is not None

    player.set("pause", True)
    events.next(EventKind.PAUSED)
    deadline = time.monotonic() + 0.6  # three ticks' worth: none may be a PROGRESS
    while time.monotonic() < deadline:
        with pytest.raises(queue.Empty):
            events.queue.get(timeout=max(0.0, deadline - time.monotonic()))


def test_stop_is_prompt_and_leaves_nothing_behind(mpv: MpvFactory, watch: WatcherFactory) -> None:
    before = set(threading.enumerate())
    player = mpv()
    watcher, _ = watch(player.socket_path, mpv.directory / "absent.sock")
    wait_until(connected(watcher, player.socket_path))
    started = time.monotonic()
    watcher.stop(timeout=2.0)
    assert time.monotonic() - started < 1.0
    assert set(threading.enumerate()) <= before
    assert watcher.status() == {}
    player.set("pause", True)  # mpv is unaffected by the watcher going away


def test_keep_open_end_is_ended(mpv: MpvFactory, watch: WatcherFactory, media_dir: Path) -> None:
    player = mpv("mpv.sock", "--keep-open=yes")  # at eof mpv pauses on the last frame: no end-file
    watcher, events = watch(player.socket_path)
    wait_until(connected(watcher, player.socket_path))
    player.loadfile(media_dir / SHORT, options="start=95%")
    events.next(EventKind.PLAYING)
    ended = events.next(EventKind.ENDED)
    assert ended.position == ended.duration == pytest.approx(20.0, abs=0.2)
    player.command("seek", 95, "absolute-percent+exact")  # back from the held last frame
    again = events.next()
    assert again.kind in (EventKind.PLAYING, EventKind.PAUSED)
    assert again.position == pytest.approx(19.0, abs=0.3) and again.media == ended.media
    if again.kind is EventKind.PLAYING:
        assert events.next(EventKind.ENDED).position == pytest.approx(20.0, abs=0.2)
    player.loadfile(media_dir / E02)  # leaving a kept-open file is an end-file "stop": nothing more
    nxt = events.next()
    assert nxt.kind in (EventKind.PLAYING, EventKind.PAUSED)
    assert nxt.media is not None and nxt.media.path == str(media_dir / E02)
    assert events.pending() == []
