"""Start and drive a real headless VLC with its Lua HTTP interface on 127.0.0.1.

VLC refuses to run as root, so as root it runs under an unprivileged uid with `setpriv`
(which execs in place: the Popen PID is VLC's own). Reused by the VLC live tests and by
daemon end-to-end tests:

    with VlcProcess(media_dir) as vlc:
        vlc.command("in_play", input=str(media_dir / "x.mkv"))
        vlc.wait_for(lambda s: s["state"] == "playing")
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import requests

from tests.conftest import free_port, require_binary

VLC_UID = 64321  # no passwd entry on purpose: nothing else on the machine runs as this uid
READY_TIMEOUT = 15.0  # seconds; VLC's HTTP interface is normally up within 0.1 s
REQUEST_TIMEOUT = 5.0

# VLC 3.0 headless now and then aborts while starting (glibc "malloc_consolidate(): invalid chunk
# size", SIGABRT); a fresh start works.
START_ATTEMPTS = 3

Status = dict[str, Any]


class VlcDied(RuntimeError):
    """VLC exited before its HTTP interface answered."""


def make_readable(path: Path) -> None:
    """Let the VLC uid reach `path`: o+x on every parent directory, o+r on files inside it."""
    if os.geteuid() != 0:
        return
    path = path.resolve()
    for parent in [path, *path.parents]:
        if parent.is_dir():
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH | (stat.S_IROTH if parent == path else 0))
    if path.is_dir():
        path.chmod(path.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
        for child in path.iterdir():
            if child.is_file():
                child.chmod(child.stat().st_mode | stat.S_IROTH)
    elif path.is_file():
        path.chmod(path.stat().st_mode | stat.S_IROTH)


class VlcProcess:
    """One headless VLC. `port` defaults to a free one; `start()` waits until HTTP answers."""

    def __init__(self, media_dir: Path | None = None, *, port: int | None = None, password: str = "secret"):
        self.port = port or free_port()
        self.password = password
        self.url = f"http://127.0.0.1:{self.port}"
        self.media_dir = media_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self._home: Path | None = None
        self._log: Any = None
        self._session = requests.Session()
        self._session.auth = ("", password)

    def argv(self) -> list[str]:
        cvlc = require_binary("cvlc")
        argv = [
            cvlc, "--no-dbus", "--no-video-title-show", "--vout", "dummy", "--aout", "dummy",
            "--extraintf", "http", "--http-host", "127.0.0.1", "--http-port", str(self.port),
            "--http-password", self.password,
        ]  # fmt: skip
        if os.geteuid() == 0:
            setpriv = require_binary("setpriv")
            uid = str(VLC_UID)
            return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *argv]
        return argv

    def start(self) -> VlcProcess:
        if self.media_dir is not None:
            make_readable(self.media_dir)
        self._home = Path(tempfile.mkdtemp(prefix="scrobblerd-vlchome-"))
        if os.geteuid() == 0:
            os.chown(self._home, VLC_UID, VLC_UID)
        env = {**os.environ, "HOME": str(self._home)}
        self._log = (self._home.parent / f"{self._home.name}.log").open("wb")
        for attempt in range(START_ATTEMPTS):
            self.proc = subprocess.Popen(self.argv(), env=env, stdout=self._log, stderr=subprocess.STDOUT)
            try:
                self._wait_ready()
                return self
            except VlcDied:
                if attempt == START_ATTEMPTS - 1:
                    raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise VlcDied(f"VLC exited with {self.proc.returncode}: {self.log_text()}")
            try:
                self.status()
                return
            except requests.RequestException:
                time.sleep(0.02)
        raise TimeoutError(f"VLC HTTP not ready on {self.url}: {self.log_text()}")

    def log_text(self) -> str:
        if self._home is None:
            return ""
        path = self._home.parent / f"{self._home.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def get(self, path: str, **params: Any) -> Status:
        resp = self._session.get(self.url + path, params=params, timeout=REQUEST_TIMEOUT)
        try:
            resp.raise_for_status()
            result: Status = resp.json()
        finally:
            resp.close()
        return result

    def status(self) -> Status:
        return self.get("/requests/status.json")

    def playlist(self) -> Status:
        return self.get("/requests/playlist.json")

    def command(self, name: str, **params: Any) -> Status:
        """Run one status.json command (in_play, pl_pause, seek, ...); returns VLC's reply."""
        return self.get("/requests/status.json", command=name, **params)

    def play(self, path: Path | str) -> Status:
        """in_play, then wait until VLC plays it with a known length."""
        self.command("in_play", input=str(path))
        name = Path(str(path)).name
        return self.wait_for(lambda s: s["state"] == "playing" and s["length"] > 0 and filename(s) == name)

    def wait_for(self, pred: Callable[[Status], bool], timeout: float = 10.0) -> Status:
        deadline = time.monotonic() + timeout
        last: Status = {}
        while time.monotonic() < deadline:
            last = self.status()
            if pred(last):
                return last
            time.sleep(0.02)
        raise TimeoutError(f"VLC condition not met within {timeout} s; last state {last.get('state')}")

    def item_id(self, name: str) -> int:
        """The playlist id of the item whose URI ends with `name`."""
        for node in self.playlist()["children"][0]["children"]:
            if str(node.get("uri", "")).endswith("/" + quote(name)):
                return int(node["id"])
        raise LookupError(name)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal VLC (SIGKILL by default) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGTERM)
        self._session.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._home is not None:
            Path(self._home.parent / f"{self._home.name}.log").unlink(missing_ok=True)
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    def __enter__(self) -> VlcProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def filename(status: Status) -> str | None:
    meta = status.get("information", {}).get("category", {}).get("meta", {})
    name = meta.get("filename")
    return str(name) if name is not None else None
