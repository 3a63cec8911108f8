"""The real daemon watching a real headless Kodi (JSON-RPC over TCP on 127.0.0.1).

Kodi is heavy (~250 MB, 1-7 s to start), so there is one scenario: a library movie (ids from its
NFO, so identification uses Kodi's ids) watched to the end, with a pause at the credits on the way.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.e2e.conftest import MATRIX_IDS, authorise, daemon_config
from tests.e2e.harness import DaemonProcess
from tests.live.run_kodi import KodiProcess, build_library, free_port, kodi_binary
from tests.trakt_server import FakeTrakt

pytestmark = pytest.mark.e2e

MOVIE = "The.Matrix.1999.1080p.BluRay.x264.mkv"
EPISODE = "Breaking.Bad.S01E02.720p.mkv"
WATCHED_AT_SLACK = 3.0


@pytest.fixture
def kodi(tmp_path: Path, media_dir: Path) -> Iterator[tuple[KodiProcess, int]]:
    require_binary("kodi")
    if kodi_binary() is None:
        pytest.fail("the kodi package is installed but kodi.bin was not found")
    work = tmp_path / "kodi"
    work.mkdir()
    library = build_library(work / "library", media_dir / MOVIE, media_dir / EPISODE)
    process = KodiProcess(work)
    try:
        process.start()
        process.seed_library(library)
        movieid, _ = process.library_ids()
        yield process, movieid
    finally:
        process.close()


def test_watch_a_library_movie_in_kodi(
    tmp_path: Path, trakt: FakeTrakt, kodi: tuple[KodiProcess, int]
) -> None:
    process, movieid = kodi
    assert process.client is not None
    authorise(trakt, tmp_path / "state")
    players = {
        "mpv": {"enabled": False},
        "kodi": {"enabled": True, "host": "127.0.0.1", "port": process.port, "http_port": free_port()},
    }
    daemon = DaemonProcess(daemon_config(tmp_path, trakt, players=players, log={"level": "info"}))
    try:
        assert daemon.wait_event("daemon_ready", 30), daemon.log_text()
        assert daemon.wait_event("player_found", 15), daemon.log_text()
        process.open({"movieid": movieid})
        assert trakt.wait_for(lambda t: any(s["action"] == "start" for s in t.scrobbles), 15), (
            daemon.log_text()
        )
        playerid = process.active_video_player()
        process.rpc("Player.Seek", {"playerid": playerid, "value": {"percentage": 92}})
        assert trakt.wait_for(lambda t: t.scrobbles[-1]["progress"] >= 91, 10), trakt.scrobbles
        process.rpc("Player.PlayPause", {"playerid": playerid, "play": False})
        assert trakt.wait_for(lambda t: t.scrobbles[-1]["action"] == "pause", 10), trakt.scrobbles
        assert trakt.history == []  # paused at the credits is not a watch yet
        mark = process.client.mark()
        process.rpc("Player.PlayPause", {"playerid": playerid, "play": True})
        process.client.wait_notification("Player.OnStop", mark, 30)
        ended = time.time()
        assert trakt.wait_for(lambda t: len(t.history) == 1, 30), daemon.log_text()
        [entry] = trakt.history
        assert entry["item"]["movie"]["ids"]["trakt"] == MATRIX_IDS["trakt"]
        assert abs(entry["at"] - ended) <= WATCHED_AT_SLACK
        stop = [r for r in trakt.requests if r.path == "/scrobble/stop"]
        assert len(stop) == 1 and stop[0].json["progress"] >= 95
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert len(trakt.history) == 1
