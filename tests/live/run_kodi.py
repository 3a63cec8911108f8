"""Start and drive a real headless Kodi for tests and benchmarks.

Kodi runs as `kodi.bin --windowing=x11` on its own Xvfb display (software GL via llvmpipe), with a
fresh HOME per KodiProcess holding a pre-seeded userdata: TCP JSON-RPC on 127.0.0.1 at a free port
(`services.esallinterfaces=false`), the web server OFF (it would bind 0.0.0.0), audio to the ALSA
null device. A tiny offline library is built from NFO files and scanned with `metadata.local`.

    with KodiProcess(tmp_path) as kodi:
        kodi.seed_library(build_library(tmp_path / "library", movie_src, episode_src))
        kodi.rpc("Player.Open", {"item": {"file": path}})

Only processes this module started are ever signalled.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import free_port

SCREEN = "640x360x24"  # small: llvmpipe renders the idle GUI at ~20 % of a core at this size
START_TIMEOUT = 60.0  # the first Kodi start on a machine takes ~7 s; later ones ~1 s

GUISETTINGS = """<settings version="2">
    <setting id="services.webserver">{web}</setting>
    <setting id="services.webserverport">{web_port}</setting>
    <setting id="services.webserverauthentication">true</setting>
    <setting id="services.webserverusername">kodi</setting>
    <setting id="services.webserverpassword">{web_password}</setting>
    <setting id="services.esenabled">true</setting>
    <setting id="services.esallinterfaces">false</setting>
    <setting id="services.zeroconf">false</setting>
    <setting id="general.addonupdates">2</setting>
    <setting id="audiooutput.audiodevice">ALSA:default</setting>
</settings>
"""

ADVANCEDSETTINGS = """<advancedsettings version="1.0">
    <jsonrpc>
        <compactoutput>true</compactoutput>
        <tcpport>{port}</tcpport>
    </jsonrpc>
</advancedsettings>
"""

ASOUNDRC = """pcm.!default { type null }
ctl.!default { type hw card 0 }
"""

MOVIE_NFO = """<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>
<movie>
    <title>The Matrix</title>
    <originaltitle>The Matrix</originaltitle>
    <year>1999</year>
    <premiered>1999-03-31</premiered>
    <uniqueid type="imdb" default="true">tt0133093</uniqueid>
    <uniqueid type="tmdb">603</uniqueid>
</movie>
"""

SHOW_NFO = """<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>
<tvshow>
    <title>Breaking Bad</title>
    <year>2008</year>
    <premiered>2008-01-20</premiered>
    <uniqueid type="tvdb" default="true">81189</uniqueid>
    <uniqueid type="imdb">tt0903747</uniqueid>
    <uniqueid type="tmdb">1396</uniqueid>
</tvshow>
"""

EPISODE_NFO = """<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>
<episodedetails>
    <title>Cat's in the Bag...</title>
    <season>1</season>
    <episode>2</episode>
    <aired>2008-01-27</aired>
    <uniqueid type="tvdb" default="true">349232</uniqueid>
    <uniqueid type="imdb">tt1054724</uniqueid>
</episodedetails>
"""


def kodi_binary() -> str | None:
    """The real kodi.bin (not the /usr/bin/kodi wrapper, which restarts Kodi and hides the PID)."""
    found = sorted(glob.glob("/usr/lib/*/kodi/kodi.bin")) + sorted(glob.glob("/usr/lib/kodi/kodi.bin"))
    return found[0] if found else None


TAP_DEVICE = "ktap0"


def isolated_network() -> bool:
    """True in a private network namespace holding only loopback and our unconnected tap device."""
    return {name for _, name in socket.if_nameindex()} <= {"lo", TAP_DEVICE}


def setup_private_network() -> None:
    """Inside `unshare --net`: loopback up, plus an unconnected tap device, because Kodi starts its
    web server only when some non-loopback interface exists. Nothing outside can reach either."""
    for command in (
        ["ip", "link", "set", "lo", "up"],
        ["ip", "tuntap", "add", "dev", TAP_DEVICE, "mode", "tap"],
        ["ip", "addr", "add", "10.213.0.1/24", "dev", TAP_DEVICE],
        ["ip", "link", "set", TAP_DEVICE, "up"],
    ):
        subprocess.run(command, check=True, capture_output=True)


@dataclass(frozen=True)
class Library:
    root: Path
    movies: Path  # the folder scanned as "movies"
    tv: Path  # the folder scanned as "tvshows"
    movie_file: Path
    episode_file: Path


def build_library(root: Path, movie_src: Path, episode_src: Path) -> Library:
    """The Matrix (1999) and Breaking Bad S01E02, with NFOs carrying their ids."""
    movie_dir = root / "movies" / "The Matrix (1999)"
    season_dir = root / "tv" / "Breaking Bad" / "Season 01"
    movie_dir.mkdir(parents=True, exist_ok=True)
    season_dir.mkdir(parents=True, exist_ok=True)
    movie = movie_dir / movie_src.name
    episode = season_dir / episode_src.name
    shutil.copyfile(movie_src, movie)
    shutil.copyfile(episode_src, episode)
    movie.with_suffix(".nfo").write_text(MOVIE_NFO)
    (season_dir.parent / "tvshow.nfo").write_text(SHOW_NFO)
    episode.with_suffix(".nfo").write_text(EPISODE_NFO)
    return Library(root, root / "movies", root / "tv", movie, episode)


class KodiClient:
    """A persistent TCP JSON-RPC client: replies by id, every notification kept with its arrival time."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._sock = socket.create_connection((host, port), timeout=5)
        self._sock.settimeout(None)
        self._cv = threading.Condition()
        self._replies: dict[int, dict[str, Any]] = {}
        self._next_id = 0
        self.notifications: list[tuple[float, dict[str, Any]]] = []
        self.closed = False
        self._reader = threading.Thread(target=self._read, name="kodi-test-client", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        decoder, buf = json.JSONDecoder(), ""
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                with self._cv:
                    self.closed = True
                    self._cv.notify_all()
                return
            buf += data.decode("utf-8", "replace")
            while buf.strip():
                buf = buf.lstrip()
                try:
                    obj, end = decoder.raw_decode(buf)
                except json.JSONDecodeError:
                    break
                buf = buf[end:]
                with self._cv:
                    if "id" in obj and "method" not in obj:
                        self._replies[obj["id"]] = obj
                    else:
                        self.notifications.append((time.monotonic(), obj))
                    self._cv.notify_all()

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        with self._cv:
            self._next_id += 1
            rid = self._next_id
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            request["params"] = params
        self._sock.sendall(json.dumps(request).encode())
        with self._cv:
            if not self._cv.wait_for(lambda: rid in self._replies or self.closed, timeout):
                raise TimeoutError(method)
            if rid not in self._replies:
                raise ConnectionError(f"{method}: connection closed")
            reply = self._replies.pop(rid)
        if "error" in reply:
            raise RuntimeError(f"{method} -> {reply['error']}")
        return reply.get("result")

    def mark(self) -> int:
        with self._cv:
            return len(self.notifications)

    def wait_notification(
        self,
        method: str,
        since: int = 0,
        timeout: float = 15.0,
        pred: Callable[[dict[str, Any]], bool] = lambda _o: True,
    ) -> tuple[float, dict[str, Any]]:
        def find() -> tuple[float, dict[str, Any]] | None:
            for at, obj in self.notifications[since:]:
                if obj.get("method") == method and pred(obj):
                    return at, obj
            return None

        with self._cv:
            if not self._cv.wait_for(lambda: find() is not None, timeout):
                raise TimeoutError(method)
            found = find()
            assert found is not None
            return found

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._reader.join(2)


class KodiProcess:
    """One headless Kodi with its own Xvfb and HOME under `workdir`.

    `web_port` turns Kodi's web server on (HTTP JSON-RPC, basic auth kodi:`web_password`). It binds
    0.0.0.0, so it is refused outside a private network namespace (see setup_private_network).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        tcp_port: int | None = None,
        web_port: int | None = None,
        web_password: str = "kodi",
        screen: str = SCREEN,
    ) -> None:
        self.workdir = workdir
        self.home = workdir / "kodi-home"
        self.port = tcp_port or free_port()
        self.web_port = web_port
        self.web_password = web_password
        self.screen = screen
        self.xvfb: subprocess.Popen[bytes] | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.display: str | None = None
        self.client: KodiClient | None = None
        self.start_seconds: float | None = None
        self._logs: list[Any] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def write_profile(self) -> None:
        userdata = self.home / ".kodi" / "userdata"
        userdata.mkdir(parents=True, exist_ok=True)
        web = "true" if self.web_port else "false"
        settings = GUISETTINGS.format(web=web, web_port=self.web_port or 8080, web_password=self.web_password)
        (userdata / "guisettings.xml").write_text(settings)
        (userdata / "advancedsettings.xml").write_text(ADVANCEDSETTINGS.format(port=self.port))
        (self.home / ".asoundrc").write_text(ASOUNDRC)

    def _start_xvfb(self) -> None:
        read_fd, write_fd = os.pipe()
        log = (self.workdir / "xvfb.log").open("ab")
        self._logs.append(log)
        self.xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", self.screen, "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=log,
            stderr=log,
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not report a display")
        self.display = f":{number}"

    def start(self, timeout: float = START_TIMEOUT) -> KodiProcess:
        """Start Kodi (and Xvfb on first use); return once JSON-RPC answers Ping."""
        binary = kodi_binary()
        if binary is None:
            raise RuntimeError("kodi.bin not found")
        if self.web_port and not isolated_network():
            raise RuntimeError("Kodi's web server binds 0.0.0.0: only inside a private network namespace")
        if not (self.home / ".kodi").exists():
            self.write_profile()
        if self.xvfb is None or self.xvfb.poll() is not None:
            self._start_xvfb()
        log = (self.workdir / "kodi-stdout.log").open("ab")
        self._logs.append(log)
        env = dict(os.environ, HOME=str(self.home), DISPLAY=str(self.display), KODI_AE_SINK="ALSA")
        began = time.monotonic()
        self.proc = subprocess.Popen([binary, "--windowing=x11"], env=env, stdout=log, stderr=log)
        self.client = self._wait_ready(began + timeout)
        self.start_seconds = time.monotonic() - began
        return self

    def _wait_ready(self, deadline: float) -> KodiClient:
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"kodi.bin exited early; see {self.workdir / 'kodi-stdout.log'}")
            try:
                client = KodiClient(self.port)
            except OSError:
                time.sleep(0.1)
                continue
            try:
                if client.call("JSONRPC.Ping", timeout=5) == "pong":
                    return client
            except (TimeoutError, ConnectionError):
                pass
            client.close()
            time.sleep(0.1)
        raise TimeoutError("Kodi JSON-RPC never answered Ping")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _close_client(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def kill(self) -> None:
        """SIGKILL kodi.bin (what a crash looks like to clients)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_client()

    def quit(self, timeout: float = 15.0) -> None:
        """Application.Quit and wait for kodi.bin to exit (killed if it does not)."""
        if self.running and self.client is not None:
            with contextlib.suppress(TimeoutError, ConnectionError, OSError):
                self.client.call("Application.Quit", timeout=5)
            assert self.proc is not None
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_client()

    def close(self) -> None:
        self.kill()
        if self.xvfb is not None and self.xvfb.poll() is None:
            self.xvfb.terminate()
            try:
                self.xvfb.wait(5)
            except subprocess.TimeoutExpired:
                self.xvfb.kill()
                self.xvfb.wait(5)
        self.xvfb = None
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> KodiProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- driving -----------------------------------------------------------------------------
    def rpc(self, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        if self.client is None:
            raise RuntimeError("Kodi is not running")
        return self.client.call(method, params, timeout)

    def seed_library(self, library: Library, timeout: float = 30.0) -> None:
        """Register the folders with metadata.local in MyVideos*.db, then scan each one."""
        db = self._video_db(time.monotonic() + timeout)
        with sqlite3.connect(db, timeout=10) as conn:
            conn.executemany(
                "INSERT INTO path (strPath,strContent,strScraper,scanRecursive,useFolderNames,"
                "strSettings,noUpdate,exclude,allAudio) VALUES (?,?,'metadata.local',?,0,'',0,0,0)",
                [(f"{library.movies}/", "movies", 2147483647), (f"{library.tv}/", "tvshows", 0)],
            )
        conn.close()
        assert self.client is not None
        for folder in (library.movies, library.tv):
            mark = self.client.mark()
            self.rpc("VideoLibrary.Scan", {"directory": f"{folder}/", "showdialogs": False})
            self.client.wait_notification("VideoLibrary.OnScanFinished", mark, timeout)

    def _video_db(self, deadline: float) -> str:
        pattern = str(self.home / ".kodi" / "userdata" / "Database" / "MyVideos*.db")
        while time.monotonic() < deadline:
            found = glob.glob(pattern)
            if found:
                return found[0]
            time.sleep(0.1)
        raise TimeoutError("Kodi created no video database")

    def library_ids(self) -> tuple[int, int]:
        """(movieid, episodeid) of the seeded items."""
        movies = self.rpc("VideoLibrary.GetMovies")["movies"]
        episodes = self.rpc("VideoLibrary.GetEpisodes")["episodes"]
        return int(movies[0]["movieid"]), int(episodes[0]["episodeid"])

    def active_video_player(self) -> int | None:
        for player in self.rpc("Player.GetActivePlayers"):
            if player.get("type") == "video":
                return int(player["playerid"])
        return None

    def open(self, item: dict[str, Any], timeout: float = 15.0) -> None:
        """Player.Open and wait for OnAVStart (the first frame is out)."""
        assert self.client is not None
        mark = self.client.mark()
        self.rpc("Player.Open", {"item": item})
        self.client.wait_notification("Player.OnAVStart", mark, timeout)

    def stop_playback(self, timeout: float = 10.0) -> None:
        """Player.Stop if anything plays, and wait for OnStop."""
        assert self.client is not None
        player = self.active_video_player()
        if player is None:
            return
        mark = self.client.mark()
        self.rpc("Player.Stop", {"playerid": player})
        self.client.wait_notification("Player.OnStop", mark, timeout)
