"""The real daemon watching a real headless VLC over its HTTP interface (127.0.0.1)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import MATRIX_IDS, authorise, daemon_config
from tests.e2e.harness import DaemonProcess
from tests.live.run_vlc import VlcProcess
from tests.trakt_server import FakeTrakt

pytestmark = pytest.mark.e2e

MATRIX = "The.Matrix.1999.1080p.BluRay.x264.mkv"
WATCHED_AT_SLACK = 3.0  # seconds; includes the watcher's poll interval


@pytest.fixture
def vlc(media_dir: Path) -> Iterator[VlcProcess]:
    with VlcProcess(media_dir) as player:
        yield player


def start_daemon(tmp_path: Path, trakt: FakeTrakt, vlc: VlcProcess) -> DaemonProcess:
    authorise(trakt, tmp_path / "state")
    players = {
        "mpv": {"enabled": False},
        "vlc": {"enabled": True, "url": vlc.url, "password": vlc.password, "poll_interval": 0.5},
    }
    daemon = DaemonProcess(daemon_config(tmp_path, trakt, players=players, log={"level": "info"}))
    assert daemon.wait_event("daemon_ready", 30), daemon.log_text()
    return daemon


def test_watch_a_movie_to_the_end_in_vlc(
    tmp_path: Path, trakt: FakeTrakt, vlc: VlcProcess, media_dir: Path
) -> None:
    daemon = start_daemon(tmp_path, trakt, vlc)
    try:
        vlc.play(media_dir / MATRIX)
        assert trakt.wait_for(lambda t: any(s["action"] == "start" for s in t.scrobbles), 15), (
            daemon.log_text()
        )
        vlc.command("seek", val="96%")
        vlc.wait_for(lambda s: s["state"] == "stopped", 30)
        ended = time.time()
        assert trakt.wait_for(lambda t: len(t.history) == 1, 30), daemon.log_text()
        [entry] = trakt.history
        assert entry["item"]["movie"]["ids"]["trakt"] == MATRIX_IDS["trakt"]
        assert abs(entry["at"] - ended) <= WATCHED_AT_SLACK
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert len(trakt.history) == 1


def test_vlc_stopped_at_half_records_nothing_then_killed_past_the_threshold_counts(
    tmp_path: Path, trakt: FakeTrakt, vlc: VlcProcess, media_dir: Path
) -> None:
    daemon = start_daemon(tmp_path, trakt, vlc)
    try:
        vlc.play(media_dir / MATRIX)
        assert trakt.wait_for(lambda t: len(t.scrobbles) == 1, 15), trakt.scrobbles
        vlc.command("seek", val="50%")
        assert trakt.wait_for(lambda t: any(s["progress"] >= 49 for s in t.scrobbles), 15), trakt.scrobbles
        vlc.command("pl_stop")
        assert trakt.wait_for(lambda t: t.scrobbles[-1]["action"] == "pause", 10), trakt.scrobbles
        assert trakt.history == []

        vlc.play(media_dir / MATRIX)
        starts = len(trakt.scrobbles)
        assert trakt.wait_for(lambda t: len(t.scrobbles) > starts and t.scrobbles[-1]["progress"] < 10, 15)
        vlc.command("seek", val="90%")
        assert trakt.wait_for(
            lambda t: t.scrobbles[-1]["action"] == "start" and t.scrobbles[-1]["progress"] >= 89, 15
        )
        time.sleep(0.6)  # at least one poll sees it playing on
        killed = time.time()
        vlc.kill()
        assert trakt.wait_for(lambda t: len(t.history) == 1, 30), daemon.log_text()
        assert abs(trakt.history[0]["at"] - killed) <= WATCHED_AT_SLACK
        stop = [r for r in trakt.requests if r.path == "/scrobble/stop"][-1]
        assert 89 <= stop.json["progress"] <= 94
        assert daemon.stop() == 0
    finally:
        daemon.kill()
