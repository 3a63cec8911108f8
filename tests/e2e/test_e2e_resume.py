"""Resume points with the real daemon, a real mpv and the Trakt-like server on 127.0.0.1.

A 90 s film: paused at 40 % and stopped, it opens again at 40 % (within 2 s); opened mid-file, or
with resume off, it is left alone; a watch past the threshold clears the item's points on Trakt.
The same across players is in test_e2e_resume_players.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import free_port
from tests.e2e.conftest import MATRIX_IDS, authorise, mpv_config
from tests.e2e.harness import DaemonProcess, MpvPlayer
from tests.trakt_server import FakeTrakt

pytestmark = pytest.mark.e2e

MATRIX = "The.Matrix.1999.1080p.BluRay.x264.mkv"
RESUME_WITHIN = 2.0  # seconds from opening the file to playing at the saved point (the bar)
TOLERANCE = 1.0  # percent
RESUME_ON = {"enabled": True}


@pytest.fixture
def web_port() -> int:
    return free_port()


@pytest.fixture
def start_daemon(
    tmp_path: Path, trakt: FakeTrakt, mpv_socket: Path, web_port: int
) -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(**overrides: Any) -> DaemonProcess:
        authorise(trakt, tmp_path / "state")
        daemon = DaemonProcess(
            mpv_config(
                tmp_path,
                trakt,
                mpv_socket,
                log={"level": "info"},
                web={"listen": f"127.0.0.1:{web_port}"},
                **overrides,
            )
        )
        started.append(daemon)
        assert daemon.wait_event("daemon_ready", 30), daemon.log_text()
        assert daemon.wait_event("player_found", 15), daemon.log_text()
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


def wait_scrobble(
    trakt: FakeTrakt, action: str, pred: Callable[[dict[str, Any]], bool], timeout: float
) -> None:
    ok = trakt.wait_for(lambda t: any(s["action"] == action and pred(s) for s in t.scrobbles), timeout)
    assert ok, f"no {action} scrobble; got {[(s['action'], s['progress']) for s in trakt.scrobbles]}"


def near(target: float) -> Callable[[dict[str, Any]], bool]:
    return lambda s: abs(s["progress"] - target) <= TOLERANCE


def daemon_sees(web_port: int, state: str, percent: float) -> Callable[[MpvPlayer], bool]:
    """Whether the daemon's live status (/api/status) has mpv's film in `state` at `percent`."""

    def check(_: MpvPlayer) -> bool:
        report = requests.get(f"http://127.0.0.1:{web_port}/api/status", timeout=5).json()
        playing = [
            i["now_playing"] for i in report["players"]["mpv"]["instances"].values() if i["now_playing"]
        ]
        return any(p["state"] == state and abs(p["progress"] - percent) <= TOLERANCE for p in playing)

    return check


def pause_at(mpv: MpvPlayer, trakt: FakeTrakt, percent: float, web_port: int) -> None:
    """Play the film from the start, pause, move to `percent` while paused and stop once the
    daemon has seen it there: Trakt is told the new point when the viewing ends."""
    mpv.wait_playing(MATRIX)
    wait_scrobble(trakt, "start", lambda s: True, 15)
    mpv.set("pause", True)
    mpv.seek_percent(percent)
    mpv.wait_for(daemon_sees(web_port, "paused", percent), 10)
    mpv.command("stop")
    mpv.wait_idle(10)
    mpv.set("pause", False)
    wait_scrobble(trakt, "pause", near(percent), 10)


def at_percent(mpv: MpvPlayer, target: float) -> Callable[[MpvPlayer], bool]:
    def check(p: MpvPlayer) -> bool:
        pos = p.get("percent-pos")
        return p.get("filename") == MATRIX and pos is not None and abs(pos - target) <= TOLERANCE

    return check


def test_a_film_paused_at_40_percent_opens_again_at_40_percent(
    start_daemon: Callable[..., DaemonProcess],
    mpv: MpvPlayer,
    trakt: FakeTrakt,
    media_dir: Path,
    web_port: int,
) -> None:
    daemon = start_daemon(resume=RESUME_ON)
    mpv.load(media_dir / MATRIX)
    pause_at(mpv, trakt, 40, web_port)
    opened = mpv.load(media_dir / MATRIX)
    mpv.wait_for(at_percent(mpv, 40), RESUME_WITHIN)
    assert time.time() - opened <= RESUME_WITHIN
    seek = daemon.wait_event("resume_seek", 5)
    assert seek is not None and abs(seek["progress"] - 40) <= TOLERANCE, daemon.log_text()
    # Trakt heard where the viewing really starts: the saved point, not 0 %.
    wait_scrobble(trakt, "start", near(40), 10)
    starts = [s for s in trakt.scrobbles if s["action"] == "start"]
    assert starts[-1]["progress"] >= 40 - TOLERANCE


def test_no_seek_when_the_film_is_opened_mid_file(
    start_daemon: Callable[..., DaemonProcess],
    mpv: MpvPlayer,
    trakt: FakeTrakt,
    media_dir: Path,
    web_port: int,
) -> None:
    daemon = start_daemon(resume=RESUME_ON)
    mpv.load(media_dir / MATRIX)
    pause_at(mpv, trakt, 40, web_port)
    count = len(trakt.scrobbles)
    mpv.load(media_dir / MATRIX, options="start=20%")
    # The START goes out once the machine has settled on no lookup; any seek would come first.
    ok = trakt.wait_for(lambda t: any(s["action"] == "start" for s in t.scrobbles[count:]), 15)
    assert ok, trakt.scrobbles
    assert next(s["progress"] for s in trakt.scrobbles[count:] if s["action"] == "start") < 25
    assert 20 - TOLERANCE <= mpv.get("percent-pos") < 30
    assert daemon.wait_event("resume_seek", 0) is None
    assert daemon.wait_event("resume_lookup", 0, media=str(media_dir / MATRIX)) is not None  # the first open


def test_no_seek_when_resume_is_off(
    start_daemon: Callable[..., DaemonProcess],
    mpv: MpvPlayer,
    trakt: FakeTrakt,
    media_dir: Path,
    web_port: int,
) -> None:
    daemon = start_daemon()
    mpv.load(media_dir / MATRIX)
    pause_at(mpv, trakt, 40, web_port)
    count = len(trakt.scrobbles)
    mpv.load(media_dir / MATRIX)
    ok = trakt.wait_for(lambda t: any(s["action"] == "start" for s in t.scrobbles[count:]), 15)
    assert ok, trakt.scrobbles
    assert mpv.get("percent-pos") < 10
    assert daemon.wait_event("resume_lookup", 0) is None
    assert daemon.wait_event("resume_seek", 0) is None


def test_a_watch_past_the_threshold_removes_the_items_points_on_trakt(
    start_daemon: Callable[..., DaemonProcess], mpv: MpvPlayer, trakt: FakeTrakt, media_dir: Path
) -> None:
    daemon = start_daemon(resume=RESUME_ON)
    mpv.load(media_dir / MATRIX)
    mpv.wait_playing(MATRIX)
    wait_scrobble(trakt, "start", lambda s: True, 15)
    mpv.seek_percent(92)
    wait_scrobble(trakt, "start", lambda s: s["progress"] >= 91, 10)
    # Meanwhile another device left a point for the same film (after our last start, which
    # would have removed it).
    elsewhere = trakt.add_playback({"movie": {"ids": {"trakt": MATRIX_IDS["trakt"]}}}, 30.0, time.time())
    mpv.wait_idle(30)
    assert trakt.wait_for(lambda t: len(t.history) == 1, 30), trakt.history
    assert trakt.wait_for(lambda t: t.playback == {}, 15), trakt.playback
    deletes = [r.path for r in trakt.requests if r.method == "DELETE"]
    assert deletes == [f"/sync/playback/{elsewhere}"]
    cleared = daemon.wait_event("resume_points_cleared", 5)
    assert cleared is not None and cleared["trakt"] == 1
