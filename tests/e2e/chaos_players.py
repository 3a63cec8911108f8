"""The real players of the chaos run, each behind the same small adapter: make a viewing's file,
open it at a percent and wait until it plays, seek, play to the end, stop, kill -9 and restart.

mpv and VLC play a symlink named like a release (identified by name through Trakt search); Kodi
plays a library copy whose NFO carries the movie's tmdb id (identified by that id), so every
viewing is still a distinct movie. `Viewing.path` is the path as the player reports it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from tests.conftest import free_port, require_binary
from tests.e2e.harness import MpvPlayer
from tests.live.run_kodi import KodiClient, KodiProcess, Library, kodi_binary
from tests.live.run_vlc import VlcProcess, filename, make_readable

OPEN_TIMEOUT = 15.0  # seconds for a file to play, a seek to land or a stop to be seen
END_TIMEOUT = 30.0  # seconds from the seek to 98 % to the natural end
SEEK_LANDED = 3.0  # percent: a seek has landed once the player is this close to the target
KODI_SCAN_TIMEOUT = 180.0  # seconds; metadata.local scans a few hundred NFOs in well under that

MOVIE_NFO = """<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>
<movie>
    <title>{title}</title>
    <year>{year}</year>
    <uniqueid type="tmdb" default="true">{tmdb}</uniqueid>
</movie>
"""


def release_name(title: str, year: int) -> str:
    return f"{title.replace(' ', '.')}.{year}.720p.mkv"


def wait_percent(read: Callable[[], float | None], low: float, high: float, what: str) -> float:
    """Poll the player's percent (None: not playing) until it is in [low, high]; returns it."""
    deadline = time.monotonic() + OPEN_TIMEOUT
    while time.monotonic() < deadline:
        percent = read()
        if percent is not None and low <= percent <= high:
            return percent
        time.sleep(0.02)
    raise TimeoutError(f"{what}: not within {OPEN_TIMEOUT} s (last {read()})")


def seek_landed(read: Callable[[], float | None], target: float, player: str) -> float:
    """The percent a seek landed on (at most `target`: playback goes on while we look)."""
    landed = wait_percent(
        read, target - SEEK_LANDED, target + SEEK_LANDED, f"{player} seeks to {target:.1f} %"
    )
    return min(landed, target)


class ChaosPlayer(Protocol):
    name: str

    def media(self, title: str, year: int, tmdb: int) -> Path:
        """The file of one viewing (made on disk now)."""

    def prepare(self, paths: list[Path]) -> list[Path]:
        """Start the player once every file exists; the paths as the player will report them."""

    def players_config(self) -> dict[str, Any]:
        """The daemon's `players` section."""

    def open(self, path: Path, percent: float) -> None:
        """Play `path` from `percent`; returns once it plays."""

    def seek(self, percent: float) -> float:
        """Seek; returns once it landed, with the percent the player then reports (at most `percent`)."""

    def play_to_end(self) -> float:
        """Seek to 98 % and wait for the natural end; returns when it ended (time.time())."""

    def stop(self) -> float:
        """Stop playback; returns when the stop was sent."""

    def kill(self) -> float:
        """SIGKILL the player and start a fresh one; returns when the kill was sent."""

    def close(self) -> None: ...


class LinkedMedia:
    """mpv and VLC: every viewing a symlink named like a release to one short video."""

    def __init__(self, media_dir: Path, video: Path) -> None:
        media_dir.mkdir(exist_ok=True)
        self.media_dir, self.video = media_dir, video

    def media(self, title: str, year: int, tmdb: int) -> Path:
        path = self.media_dir / release_name(title, year)
        if not path.exists():
            path.symlink_to(self.video)
        return path


class MpvChaos(LinkedMedia):
    name = "mpv"

    def __init__(self, media_dir: Path, video: Path, socket_path: Path) -> None:
        super().__init__(media_dir, video)
        self.socket_path = socket_path
        self.mpv: MpvPlayer | None = None

    def prepare(self, paths: list[Path]) -> list[Path]:
        require_binary("mpv")
        self.mpv = MpvPlayer(self.socket_path)
        return paths

    def players_config(self) -> dict[str, Any]:
        return {"mpv": {"enabled": True, "ipc_path": str(self.socket_path)}}

    def _player(self) -> MpvPlayer:
        assert self.mpv is not None
        return self.mpv

    def open(self, path: Path, percent: float) -> None:
        self._player().load(path, options=f"start={percent}%")
        self._player().wait_playing(path.name)

    def seek(self, percent: float) -> float:
        self._player().seek_percent(percent)  # exact: mpv is there at once
        return percent

    def play_to_end(self) -> float:
        self._player().seek_percent(98)
        return self._player().wait_idle(END_TIMEOUT)

    def stop(self) -> float:
        at = time.time()
        self._player().command("stop")
        return at

    def kill(self) -> float:
        at = self._player().kill()
        self.mpv = MpvPlayer(self.socket_path)
        return at

    def close(self) -> None:
        if self.mpv is not None:
            self.mpv.close()


class VlcChaos(LinkedMedia):
    """VLC runs under its own uid (see run_vlc.py), so the media folder and the video are made
    readable to it. A killed VLC is started again on the same port."""

    name = "vlc"

    def __init__(self, media_dir: Path, video: Path, seconds: float) -> None:
        super().__init__(media_dir, video)
        self.seconds = seconds  # the video's length: VLC opens at a time, not at a percent
        self.port = free_port()
        self.vlc: VlcProcess | None = None

    def prepare(self, paths: list[Path]) -> list[Path]:
        require_binary("cvlc")
        make_readable(self.video)
        self.vlc = VlcProcess(self.media_dir, port=self.port).start()
        return paths

    def players_config(self) -> dict[str, Any]:
        vlc = self._player()
        return {"vlc": {"enabled": True, "url": vlc.url, "password": vlc.password, "poll_interval": 0.5}}

    def _player(self) -> VlcProcess:
        assert self.vlc is not None
        return self.vlc

    def percent(self) -> float | None:
        status = self._player().status()
        if status.get("state") != "playing" or status.get("position") is None:
            return None
        return float(status["position"]) * 100.0

    def open(self, path: Path, percent: float) -> None:
        vlc = self._player()
        vlc.command("pl_empty")  # the playlist holds only what plays
        vlc.command("in_play", input=str(path), option=f"start-time={percent / 100 * self.seconds:.1f}")
        try:
            vlc.wait_for(
                lambda s: (
                    s["state"] == "playing"
                    and filename(s) == path.name
                    and s["position"] * 100 >= percent - 2
                ),
                OPEN_TIMEOUT,
            )
        except TimeoutError as exc:
            raise TimeoutError(
                f"{exc}\nplaylist: {vlc.playlist()}\nVLC log:\n{vlc.log_text()[-3000:]}"
            ) from exc

    def seek(self, percent: float) -> float:
        self._player().command("seek", val=f"{percent:.2f}%")
        return seek_landed(self.percent, percent, "VLC")

    def play_to_end(self) -> float:
        vlc = self._player()
        vlc.command("seek", val="98%")
        vlc.wait_for(lambda s: s["state"] == "stopped", END_TIMEOUT)
        return time.time()

    def stop(self) -> float:
        vlc = self._player()
        at = time.time()
        vlc.command("pl_stop")
        vlc.wait_for(lambda s: s["state"] == "stopped", OPEN_TIMEOUT)
        return at

    def kill(self) -> float:
        vlc = self._player()
        at = time.time()
        vlc.kill()
        vlc.close()
        self.vlc = VlcProcess(self.media_dir, port=self.port).start()
        return at

    def close(self) -> None:
        if self.vlc is not None:
            self.vlc.close()


class KodiChaos:
    """Kodi under its own Xvfb, every viewing a movie of its library (scanned once, before the
    run); a killed Kodi is started again on the same HOME and port, library and all."""

    name = "kodi"

    def __init__(self, workdir: Path, video: Path) -> None:
        self.workdir, self.video = workdir, video
        self.movies = workdir / "library" / "movies"
        self.movies.mkdir(parents=True, exist_ok=True)
        self.process = KodiProcess(workdir)
        self.ids: dict[str, int] = {}  # file as Kodi reports it -> movieid

    def media(self, title: str, year: int, tmdb: int) -> Path:
        folder = self.movies / f"{title} ({year})"
        folder.mkdir(exist_ok=True)
        path = folder / release_name(title, year)
        if not path.exists():
            os.link(self.video, path)
        path.with_suffix(".nfo").write_text(MOVIE_NFO.format(title=title, year=year, tmdb=tmdb))
        return path

    def prepare(self, paths: list[Path]) -> list[Path]:
        require_binary("kodi")
        if kodi_binary() is None:
            raise RuntimeError("the kodi package is installed but kodi.bin was not found")
        tv = self.workdir / "library" / "tv"
        tv.mkdir(exist_ok=True)
        self.process.start()
        self.process.seed_library(
            # (movie_file and episode_file are not used by seed_library)
            Library(self.movies.parent, self.movies, tv, paths[0], paths[0]),
            KODI_SCAN_TIMEOUT,
        )
        movies = self.process.rpc("VideoLibrary.GetMovies", {"properties": ["file"]}).get("movies", [])
        self.ids = {str(m["file"]): int(m["movieid"]) for m in movies}
        by_name = {Path(f).name: Path(f) for f in self.ids}
        missing = [p.name for p in paths if p.name not in by_name]
        if missing:
            raise RuntimeError(f"Kodi's library lacks {len(missing)} of {len(paths)} movies: {missing[:5]}")
        return [by_name[p.name] for p in paths]

    def players_config(self) -> dict[str, Any]:
        # http_port: nothing listens there, so a dropped TCP connection is a lost player, not polling.
        return {
            "kodi": {
                "enabled": True,
                "host": "127.0.0.1",
                "port": self.process.port,
                "http_port": free_port(),
            }
        }

    def _client(self) -> KodiClient:
        client = self.process.client
        assert client is not None
        return client

    def percent(self) -> float | None:
        player = self.process.active_video_player()
        if player is None:
            return None
        props = self.process.rpc(
            "Player.GetProperties", {"playerid": player, "properties": ["percentage", "speed"]}
        )
        return float(props["percentage"]) if props.get("speed") == 1 else None

    def open(self, path: Path, percent: float) -> None:
        mark = self._client().mark()
        item = {"movieid": self.ids[str(path)]}
        self.process.rpc("Player.Open", {"item": item, "options": {"resume": float(percent)}})
        self._client().wait_notification("Player.OnAVStart", mark, OPEN_TIMEOUT)
        lands = (percent - SEEK_LANDED, percent + SEEK_LANDED)
        wait_percent(self.percent, *lands, f"Kodi plays {path.name} from {percent} %")

    def seek(self, percent: float) -> float:
        mark = self._client().mark()
        player = self.process.active_video_player()
        self.process.rpc("Player.Seek", {"playerid": player, "value": {"percentage": percent}})
        self._client().wait_notification("Player.OnSeek", mark, OPEN_TIMEOUT)
        return seek_landed(self.percent, percent, "Kodi")

    def play_to_end(self) -> float:
        client = self._client()
        mark = client.mark()
        player = self.process.active_video_player()
        self.process.rpc("Player.Seek", {"playerid": player, "value": {"percentage": 98}})
        seen, _ = client.wait_notification(
            "Player.OnStop", mark, END_TIMEOUT, pred=lambda o: bool(o["params"]["data"].get("end"))
        )
        return time.time() - (time.monotonic() - seen)  # the notification's arrival, on the wall clock

    def stop(self) -> float:
        at = time.time()
        self.process.stop_playback(OPEN_TIMEOUT)
        return at

    def kill(self) -> float:
        at = time.time()
        self.process.kill()
        self.process.start()
        return at

    def close(self) -> None:
        self.process.close()
