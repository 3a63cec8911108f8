"""Resume points across players: one daemon watching a real Kodi, mpv and VLC at once, the
Trakt-like server on 127.0.0.1. A point left in one player is where the film opens in the next:
Kodi -> mpv -> Kodi -> VLC -> Kodi (each player's point resumes elsewhere, and the other way).

Kodi plays the library copy (identified by its NFO ids), mpv and VLC the plain file (identified
by name through Trakt search): the same film by Trakt's ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scrobblerd.players.vlc.parse import STOPPED_MAX_INTERVAL
from tests.conftest import require_binary
from tests.e2e.conftest import authorise, daemon_config
from tests.e2e.harness import DaemonProcess, MpvPlayer
from tests.live.run_kodi import KodiProcess, build_library, free_port, kodi_binary
from tests.live.run_vlc import VlcProcess, filename, make_readable
from tests.trakt_server import FakeTrakt

pytestmark = pytest.mark.e2e

MOVIE = "The.Matrix.1999.1080p.BluRay.x264.mkv"
EPISODE = "Breaking.Bad.S01E02.720p.mkv"
RESUME_WITHIN = 2.0  # seconds from the start of a viewing to playing at the saved point
# VLC pushes nothing: a VLC that sat stopped is polled every STOPPED_MAX_INTERVAL at most, so its
# viewing starts (for the daemon) up to that long after the file was opened.
VLC_NOTICE = STOPPED_MAX_INTERVAL
TOLERANCE = 1.0  # percent


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


@pytest.fixture
def vlc(media_dir: Path) -> Iterator[VlcProcess]:
    with VlcProcess(media_dir) as player:
        yield player


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `check` until true; returns when it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.time()
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


def last_pause(trakt: FakeTrakt, since: int) -> float:
    ok = trakt.wait_for(lambda t: any(s["action"] == "pause" for s in t.scrobbles[since:]), 10)
    assert ok, trakt.scrobbles
    return float([s for s in trakt.scrobbles[since:] if s["action"] == "pause"][-1]["progress"])


class Kodi:
    def __init__(self, process: KodiProcess, movieid: int) -> None:
        self.process, self.movieid = process, movieid

    def percent(self) -> float:
        player = self.process.active_video_player()
        if player is None:
            return -1.0
        return float(
            self.process.rpc("Player.GetProperties", {"playerid": player, "properties": ["percentage"]})[
                "percentage"
            ]
        )

    def open(self) -> float:
        # Wait for OnPlay, not OnAVStart: the daemon's seek may come before the first frame, and
        # Kodi then reports the start as OnAVChange.
        client = self.process.client
        assert client is not None
        mark = client.mark()
        opened = time.time()
        self.process.rpc("Player.Open", {"item": {"movieid": self.movieid}})
        client.wait_notification("Player.OnPlay", mark, 15)
        return opened

    def leave_at(self, percent: float) -> None:
        player = self.process.active_video_player()
        self.process.rpc("Player.Seek", {"playerid": player, "value": {"percentage": percent - 1.5}})
        wait_until(lambda: self.percent() >= percent, 10, "Kodi reaches the point")
        self.process.rpc("Player.PlayPause", {"playerid": player, "play": False})

    def stop(self) -> None:
        self.process.stop_playback()


class Mpv:
    def __init__(self, player: MpvPlayer, media: Path) -> None:
        self.player, self.media = player, media

    def percent(self) -> float:
        pos = self.player.get("percent-pos") if self.player.get("filename") == MOVIE else None
        return -1.0 if pos is None else float(pos)

    def open(self) -> float:
        return self.player.load(self.media)

    def leave_at(self, percent: float) -> None:
        self.player.seek_percent(percent - 1.5)
        wait_until(lambda: self.percent() >= percent, 10, "mpv reaches the point")
        self.player.set("pause", True)

    def stop(self) -> None:
        self.player.command("stop")
        self.player.wait_idle(10)
        self.player.set("pause", False)


class Vlc:
    def __init__(self, player: VlcProcess, media: Path) -> None:
        self.player, self.media = player, media

    def percent(self) -> float:
        status: dict[str, Any] = self.player.status()
        if status.get("state") != "playing" or filename(status) != MOVIE:
            return -1.0
        return float(status["position"]) * 100.0

    def open(self) -> float:
        make_readable(self.media.parent)  # VLC runs as its own uid; pytest may have tightened /tmp again
        opened = time.time()
        self.player.play(self.media)
        return opened

    def leave_at(self, percent: float) -> None:
        self.player.command("seek", val=f"{percent - 1.5}%")
        wait_until(lambda: self.percent() >= percent, 10, "VLC reaches the point")
        self.player.command("pl_forcepause")

    def stop(self) -> None:
        self.player.command("pl_stop")
        self.player.wait_for(lambda s: s["state"] == "stopped", 10)


def test_a_point_left_in_one_player_resumes_in_the_others(  # noqa: PLR0917 - one fixture per player
    tmp_path: Path, trakt: FakeTrakt, kodi: tuple[KodiProcess, int], mpv: MpvPlayer, vlc: VlcProcess,
    media_dir: Path,
) -> None:  # fmt: skip
    process, movieid = kodi
    authorise(trakt, tmp_path / "state")
    players = {
        "mpv": {"enabled": True, "ipc_path": str(mpv.ipc_path)},
        "vlc": {"enabled": True, "url": vlc.url, "password": vlc.password, "poll_interval": 0.5},
        "kodi": {"enabled": True, "host": "127.0.0.1", "port": process.port, "http_port": free_port()},
    }
    config = daemon_config(tmp_path, trakt, players=players, resume={"enabled": True}, log={"level": "info"})
    daemon = DaemonProcess(config)
    try:
        assert daemon.wait_event("daemon_ready", 30), daemon.log_text()
        for name in ("mpv", "vlc", "kodi"):
            assert daemon.wait_log(
                lambda r, n=name: r.get("event") == "player_found" and str(r.get("player", "")).startswith(n),
                15,
            ), daemon.log_text()
        in_kodi, in_mpv, in_vlc = (
            Kodi(process, movieid),
            Mpv(mpv, media_dir / MOVIE),
            Vlc(vlc, media_dir / MOVIE),
        )

        # Kodi: a first viewing, left at 40 %.
        in_kodi.open()
        assert trakt.wait_for(lambda t: any(s["action"] == "start" for s in t.scrobbles), 15), (
            daemon.log_text()
        )
        mark = len(trakt.scrobbles)
        in_kodi.leave_at(40)
        point = last_pause(trakt, mark)
        in_kodi.stop()

        for here, left_at in ((in_mpv, 60), (in_kodi, 30), (in_vlc, 50), (in_kodi, None)):
            opened = here.open()
            late = VLC_NOTICE if here is in_vlc else 0.0
            reached = wait_until(
                lambda h=here, p=point: abs(h.percent() - p) <= TOLERANCE,
                RESUME_WITHIN + late + 1,
                f"resume at {point}",
            )
            lookup = daemon.wait_log(
                lambda r, o=opened: r.get("event") == "resume_lookup" and r["began"] >= o - 0.5, 5
            )
            assert lookup is not None and lookup["point"] == point, daemon.log_text()
            began = max(opened, lookup["began"]) if here is in_vlc else opened
            assert reached - began <= RESUME_WITHIN, (type(here).__name__, reached - began)
            if left_at is None:
                break
            mark = len(trakt.scrobbles)
            here.leave_at(left_at)
            point = last_pause(trakt, mark)
            assert abs(point - left_at) <= 2 * TOLERANCE, point
            here.stop()
        assert daemon.wait_log(
            lambda r: (
                r.get("event") == "resume_seek" and r["player"].startswith("kodi") and r["progress"] == point
            ),
            5,
        )
        seeks = [r for r in daemon.lines if r.get("event") == "resume_seek"]
        assert [r["player"].split(":")[0] for r in seeks] == ["mpv", "kodi", "vlc", "kodi"]
        assert daemon.stop() == 0
    finally:
        daemon.kill()
