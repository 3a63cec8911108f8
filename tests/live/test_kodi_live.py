"""The Kodi watcher against a real headless Kodi (Xvfb + llvmpipe), driven over JSON-RPC.

One Kodi per module; tests that quit or kill it come last and the fixture restarts it when
needed. Host network namespace: TCP JSON-RPC on 127.0.0.1 only, Kodi's web server off.

Defined behaviour checked here: Application.Quit while playing gives STOPPED (Kodi sends its own
OnStop before System.OnQuit), then the connection closes with no LOST; a killed Kodi gives LOST
at the extrapolated position.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from scrobblerd.doctor.players import kodi_check
from scrobblerd.models import EventKind, PlayerEvent, PlayerStatus
from scrobblerd.players.kodi import watcher as kodi_watcher
from scrobblerd.players.kodi.rpc import HttpRpc, KodiConnectionError
from scrobblerd.players.kodi.settings import KodiConfig
from scrobblerd.players.kodi.watcher import KodiWatcher
from scrobblerd.secret import Secret
from tests.conftest import require_binary
from tests.live.run_kodi import (
    KodiProcess,
    Library,
    build_library,
    free_port,
    kodi_binary,
    setup_private_network,
)

pytestmark = pytest.mark.live

MOVIE_NAME = "The.Matrix.1999.1080p.BluRay.x264.mkv"  # 90 s
EPISODE_NAME = "Breaking.Bad.S01E02.720p.mkv"  # 60 s
PLAIN_NAME = "Short.Sample.2020.mkv"  # 20 s, outside the library
EVENT_TIMEOUT = 10.0
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class KodiEnv:
    kodi: KodiProcess
    library: Library
    movieid: int
    episodeid: int
    plain: Path


@pytest.fixture(scope="module")
def kodi_env(tmp_path_factory: pytest.TempPathFactory, media_dir: Path) -> Iterator[KodiEnv]:
    require_binary("Xvfb")
    require_binary("kodi")
    if kodi_binary() is None:
        pytest.fail("the kodi package is installed but kodi.bin was not found")
    work = tmp_path_factory.mktemp("kodi")
    library = build_library(work / "library", media_dir / MOVIE_NAME, media_dir / EPISODE_NAME)
    kodi = KodiProcess(work)
    try:
        kodi.start()
        kodi.seed_library(library)
        movieid, episodeid = kodi.library_ids()
        yield KodiEnv(kodi, library, movieid, episodeid, media_dir / PLAIN_NAME)
    finally:
        kodi.close()


@pytest.fixture
def kodi(kodi_env: KodiEnv) -> KodiProcess:
    """The module's Kodi, running and idle."""
    if not kodi_env.kodi.running:
        kodi_env.kodi.start()
    kodi_env.kodi.stop_playback()
    return kodi_env.kodi


class Watch:
    """A KodiWatcher feeding a queue, with waits that time out."""

    def __init__(self, port: int, tick_interval: float = 3600.0, config: KodiConfig | None = None) -> None:
        if config is None:  # nothing listens on http_port: TCP only
            config = KodiConfig(enabled=True, port=port, http_port=free_port())
        self.events: queue.Queue[PlayerEvent] = queue.Queue()
        self.watcher = KodiWatcher(config, tick_interval=tick_interval)
        self.watcher.start(self.events.put)

    def status(self) -> PlayerStatus:
        return self.watcher.status()[self.watcher.player_id]

    def wait_status(self, predicate: Callable[[PlayerStatus], bool], timeout: float = EVENT_TIMEOUT) -> float:
        began = time.monotonic()
        while not predicate(self.status()):
            assert time.monotonic() - began < timeout, f"status stayed {self.status()}"
            time.sleep(0.05)
        return time.monotonic() - began

    def expect_any(self, timeout: float = EVENT_TIMEOUT) -> PlayerEvent:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no event within {timeout} s")

    def expect(self, kind: EventKind, timeout: float = EVENT_TIMEOUT) -> PlayerEvent:
        event = self.expect_any(timeout)
        assert event.kind == kind, f"expected {kind}, got {event}"
        assert event.player == self.watcher.player_id
        return event

    def assert_no_more(self) -> None:
        leftover = []
        while not self.events.empty():
            leftover.append(self.events.get_nowait())
        assert leftover == []

    def close(self) -> None:
        self.watcher.stop()


@pytest.fixture
def watch(kodi: KodiProcess) -> Iterator[Watch]:
    w = Watch(kodi.port)
    try:
        w.wait_status(lambda s: s.connected)
        yield w
    finally:
        w.close()


def player(kodi: KodiProcess) -> int:
    playerid = kodi.active_video_player()
    assert playerid is not None
    return playerid


def play_pause(kodi: KodiProcess, play: bool) -> None:
    kodi.rpc("Player.PlayPause", {"playerid": player(kodi), "play": play})


def seek(kodi: KodiProcess, percent: float) -> None:
    kodi.rpc("Player.Seek", {"playerid": player(kodi), "value": {"percentage": percent}})


def test_library_movie_pause_resume_seek_stop(kodi: KodiProcess, kodi_env: KodiEnv, watch: Watch) -> None:
    kodi.open({"movieid": kodi_env.movieid})
    playing = watch.expect(EventKind.PLAYING)
    media = playing.media
    assert media is not None
    assert (media.kind, media.title, media.year) == ("movie", "The Matrix", 1999)
    assert media.ids == {"imdb": "tt0133093", "tmdb": 603}
    assert media.path == str(kodi_env.library.movie_file)
    assert playing.position is not None and 0 <= playing.position < 3
    assert playing.duration == pytest.approx(90, abs=0.5)
    assert playing.paused is False
    assert watch.status().state == "playing"

    play_pause(kodi, False)
    paused = watch.expect(EventKind.PAUSED)
    assert paused.paused is True and paused.media == media
    assert paused.position is not None and 0 <= paused.position < 6

    play_pause(kodi, True)
    resumed = watch.expect(EventKind.PLAYING)
    assert resumed.paused is False
    assert resumed.position == pytest.approx(paused.position, abs=0.5)

    seek(kodi, 85)
    seeked = watch.expect(EventKind.SEEKED)
    assert seeked.position == pytest.approx(76.5, abs=1.5)
    assert seeked.media == media

    kodi.stop_playback()
    stopped = watch.expect(EventKind.STOPPED)
    assert stopped.position is not None and seeked.position is not None
    assert seeked.position - 0.5 <= stopped.position <= seeked.position + 8
    assert stopped.duration == pytest.approx(90, abs=0.5)
    watch.assert_no_more()
    assert watch.status().state == "connected"


def test_library_episode_natural_end(kodi: KodiProcess, kodi_env: KodiEnv, watch: Watch) -> None:
    kodi.open({"episodeid": kodi_env.episodeid})
    playing = watch.expect(EventKind.PLAYING)
    media = playing.media
    assert media is not None
    assert media.kind == "episode"
    assert (media.show_title, media.title, media.season, media.episode) == (
        "Breaking Bad",
        "Cat's in the Bag...",
        1,
        2,
    )
    assert media.ids == {"imdb": "tt1054724", "tvdb": 349232}
    assert media.show_ids == {"tvdb": 81189, "imdb": "tt0903747", "tmdb": 1396}
    assert playing.duration == pytest.approx(60, abs=0.5)

    seek(kodi, 97)
    seeked = watch.expect(EventKind.SEEKED)
    assert seeked.position == pytest.approx(58.2, abs=1.5)
    ended = watch.expect(EventKind.ENDED, timeout=15)
    assert ended.position == ended.duration == pytest.approx(60, abs=0.5)
    assert ended.media == media
    watch.assert_no_more()


def test_plain_file_outside_library_with_progress(kodi: KodiProcess, kodi_env: KodiEnv) -> None:
    w = Watch(kodi.port, tick_interval=1.0)
    try:
        w.wait_status(lambda s: s.connected)
        kodi.open({"file": str(kodi_env.plain)})
        playing = w.expect(EventKind.PLAYING)
        assert playing.media is not None
        assert playing.media.path == str(kodi_env.plain)
        assert (playing.media.kind, playing.media.title, playing.media.ids) == (None, None, {})
        assert playing.duration == pytest.approx(20, abs=0.5)
        first = w.expect(EventKind.PROGRESS, timeout=3)
        second = w.expect(EventKind.PROGRESS, timeout=3)
        assert first.position is not None and second.position is not None
        assert second.position > first.position and second.at - first.at == pytest.approx(1.0, abs=0.5)
        assert second.paused is False
        kodi.stop_playback()
        while (event := w.expect_any()).kind == EventKind.PROGRESS:
            pass
        assert event.kind == EventKind.STOPPED
        assert event.media is not None and event.media.path == str(kodi_env.plain)
    finally:
        w.close()


def test_connect_while_kodi_already_plays(kodi: KodiProcess, kodi_env: KodiEnv) -> None:
    kodi.open({"movieid": kodi_env.movieid})
    seek(kodi, 50)
    play_pause(kodi, False)
    w = Watch(kodi.port)
    try:
        paused = w.expect(EventKind.PAUSED)
        assert paused.media is not None and paused.media.ids["imdb"] == "tt0133093"
        assert paused.position == pytest.approx(45, abs=2)
        play_pause(kodi, True)
        assert w.expect(EventKind.PLAYING).position == pytest.approx(paused.position, abs=0.5)
        kodi.stop_playback()
        w.expect(EventKind.STOPPED)
        w.assert_no_more()
    finally:
        w.close()


def test_quit_while_playing_stops_then_player_lost(
    kodi: KodiProcess, kodi_env: KodiEnv, watch: Watch
) -> None:
    kodi.open({"file": str(kodi_env.plain)})
    watch.expect(EventKind.PLAYING)
    kodi.quit()
    stopped = watch.expect(EventKind.STOPPED)
    assert stopped.media is not None and stopped.media.path == str(kodi_env.plain)
    watch.wait_status(lambda s: not s.connected)
    watch.assert_no_more()  # nothing was playing any more when the connection closed: no LOST


def test_kodi_started_after_the_watcher(kodi_env: KodiEnv) -> None:
    kodi = kodi_env.kodi
    kodi.kill()
    w = Watch(kodi.port)
    try:
        w.wait_status(lambda s: s.state == "waiting")
        kodi.start()
        found = w.wait_status(lambda s: s.connected, timeout=8)
        assert found < 6  # reconnect backoff is capped at 5 s
        kodi.open({"file": str(kodi_env.plain)})
        assert w.expect(EventKind.PLAYING).media is not None
        kodi.stop_playback()
        w.expect(EventKind.STOPPED)
    finally:
        w.close()


def test_kodi_killed_while_playing(kodi: KodiProcess, kodi_env: KodiEnv, watch: Watch) -> None:
    kodi.open({"movieid": kodi_env.movieid})
    seek(kodi, 50)
    seeked = (watch.expect(EventKind.PLAYING), watch.expect(EventKind.SEEKED))[1]
    kodi.kill()
    lost = watch.expect(EventKind.LOST)
    assert lost.media is not None and lost.media.ids["tmdb"] == 603
    assert lost.position is not None and seeked.position is not None
    assert seeked.position <= lost.position <= seeked.position + 5
    watch.wait_status(lambda s: not s.connected)
    watch.assert_no_more()


def test_http_fallback_against_real_kodi_in_private_netns(tmp_path: Path, media_dir: Path) -> None:
    """Kodi's web server binds 0.0.0.0, so this Kodi and the watcher run in a private network
    namespace (loopback plus an unconnected tap device); the watcher's TCP port is closed."""
    require_binary("unshare")
    require_binary("ip")
    if subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("network namespaces are not permitted here")
    command = [sys.executable, "-m", "tests.live.test_kodi_live", str(tmp_path), str(media_dir / PLAIN_NAME)]
    proc = subprocess.run(
        ["unshare", "--net", "--", *command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(next(line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")))
    assert result["connected"] == "via http"
    assert [e["kind"] for e in result["events"]] == ["playing", "paused", "playing", "seeked", "stopped"]
    playing, paused, resumed, seeked, stopped = result["events"]
    assert playing["path"] == str(media_dir / PLAIN_NAME)
    assert playing["duration"] == pytest.approx(20, abs=0.5)
    assert paused["paused"] is True and resumed["paused"] is False
    assert seeked["position"] == pytest.approx(10, abs=2)
    assert stopped["position"] == pytest.approx(seeked["position"], abs=3)
    assert result["wrong_password"] == "unauthorized"
    # scrobblerd doctor against the same Kodi: the web server's login right, then wrong
    right, wrong = result["doctor"]["right"], result["doctor"]["wrong_password"]
    assert right["ok"] is True and "web server on" in right["detail"], right
    assert wrong["ok"] is False and "refused the login (HTTP 401)" in wrong["detail"]
    assert "players.kodi.username/password" in wrong["fix"]


def http_fallback_scenario(work: Path, plain: Path) -> dict[str, Any]:
    """Runs inside `unshare --net` (see the test above): Kodi with its web server, a watcher whose
    TCP port is closed, play/pause/resume/seek/stop, then a watcher with a wrong password."""
    setup_private_network()
    kodi_watcher.HTTP_POLL_PLAYING = kodi_watcher.HTTP_POLL_IDLE = 0.5
    web_port = free_port()
    with KodiProcess(work, web_port=web_port) as kodi:
        http = HttpRpc(f"http://127.0.0.1:{web_port}/jsonrpc", "kodi", "kodi")
        deadline = time.monotonic() + 20
        while True:
            try:
                http.call("JSONRPC.Ping")
                break
            except KodiConnectionError:
                assert time.monotonic() < deadline, "Kodi's web server never answered"
                time.sleep(0.1)
        http.close()
        config = KodiConfig(enabled=True, port=free_port(), http_port=web_port, password="kodi")
        w = Watch(config.port, config=config)
        try:
            w.wait_status(lambda s: s.connected)
            connected = w.status().detail
            kodi.open({"file": str(plain)})
            events = [w.expect(EventKind.PLAYING)]
            play_pause(kodi, False)
            events.append(w.expect(EventKind.PAUSED))
            play_pause(kodi, True)
            events.append(w.expect(EventKind.PLAYING))
            seek(kodi, 50)
            events.append(w.expect(EventKind.SEEKED))
            kodi.stop_playback()
            events.append(w.expect(EventKind.STOPPED))
        finally:
            w.close()
        bad = Watch(config.port, config=KodiConfig(enabled=True, port=config.port, http_port=web_port))
        try:
            bad.wait_status(lambda s: s.state == "unauthorized")
            wrong_password = bad.status().state
        finally:
            bad.close()
        tcp_on = KodiConfig(enabled=True, port=kodi.port, http_port=web_port, password=Secret("kodi"))
        doctor = {
            "right": kodi_check(tcp_on).to_json(),
            "wrong_password": kodi_check(replace(tcp_on, password=Secret("guess"))).to_json(),
        }
    return {
        "connected": connected,
        "wrong_password": wrong_password,
        "doctor": doctor,
        "events": [
            {"kind": e.kind.value, "position": e.position, "duration": e.duration, "paused": e.paused}
            | {"path": e.media.path if e.media else None}
            for e in events
        ],
    }


if __name__ == "__main__":
    print("RESULT " + json.dumps(http_fallback_scenario(Path(sys.argv[1]), Path(sys.argv[2]))), flush=True)
