"""A real headless mpv for tests and benchmarks: start it, drive it over its IPC socket, end it.

    with MpvProcess(tmp_path / "mpv.sock") as mpv:
        mpv.command("loadfile", str(media), "replace")
        mpv.get("time-pos")

The control connection is independent of the watcher under test and asks mpv for no events
(`disable_event all`). Only the process started here is ever signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

HEADLESS_ARGS = ("--idle=yes", "--vo=null", "--ao=null", "--no-config", "--terminal=no")
START_TIMEOUT = 10.0  # seconds; mpv's socket is usually connectable after ~0.1 s
COMMAND_TIMEOUT = 5.0


class MpvError(RuntimeError):
    """mpv refused a command or did not start."""


def mpv_binary() -> str:
    """The mpv executable; skips or fails (CI) through tests.conftest.require_binary."""
    from tests.conftest import require_binary

    return require_binary("mpv")


def wait_connectable(
    path: Path, timeout: float = START_TIMEOUT, process: subprocess.Popen[bytes] | None = None
) -> socket.socket:
    """A connected socket to `path`; the file existing is not enough (a stale one refuses)."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
        except OSError:
            sock.close()
            if process is not None and process.poll() is not None:
                raise MpvError(f"mpv exited with {process.returncode} before its socket was ready") from None
            if time.monotonic() >= deadline:
                raise MpvError(f"mpv socket {path} not connectable within {timeout}s") from None
            time.sleep(delay)  # polling a socket that does not exist yet: nothing to wait on
            delay = min(delay * 2, 0.05)
            continue
        return sock


class MpvProcess:
    """One mpv started headless with its IPC server at `socket_path`."""

    def __init__(self, socket_path: Path | str, *extra_args: str, cwd: Path | str | None = None) -> None:
        self.socket_path = Path(socket_path)
        self.extra_args = extra_args
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._next_id = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = START_TIMEOUT) -> MpvProcess:
        args = [mpv_binary(), *HEADLESS_ARGS, f"--input-ipc-server={self.socket_path}", *self.extra_args]
        env = dict(os.environ)
        if self.cwd is not None:
            env["PWD"] = str(self.cwd)  # mpv's working-directory property reports $PWD
        self.process = subprocess.Popen(
            args,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self._sock = wait_connectable(self.socket_path, timeout, self.process)
            self._sock.settimeout(COMMAND_TIMEOUT)
            self.command("disable_event", "all")
        except BaseException:
            self.close()
            raise
        return self

    def command(self, *args: Any, timeout: float = COMMAND_TIMEOUT) -> Any:
        """Run an mpv command and return its data; MpvError when mpv says no."""
        if self._sock is None:
            raise MpvError("not connected")
        self._next_id += 1
        request_id = self._next_id
        self._sock.sendall(json.dumps({"command": list(args), "request_id": request_id}).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                reply = json.loads(line)
                if reply.get("request_id") == request_id and "event" not in reply:
                    if reply.get("error") not in ("success", "property unavailable"):
                        raise MpvError(f"{args} -> {reply.get('error')}")
                    return reply.get("data")
            self._sock.settimeout(max(0.001, deadline - time.monotonic()))
            data = self._sock.recv(65536)
            if not data:
                raise MpvError(f"mpv closed the connection during {args}")
            self._buffer += data

    def get(self, name: str) -> Any:
        return self.command("get_property", name)

    def set(self, name: str, value: Any) -> None:
        self.command("set_property", name, value)

    def loadfile(self, path: Path | str, mode: str = "replace", options: str = "") -> None:
        args: list[Any] = ["loadfile", str(path), mode]
        if options:
            args.append(options)
        self.command(*args)

    def wait_playing(self, timeout: float = COMMAND_TIMEOUT) -> float:
        """Wait until mpv reports a time position (a file is playing); returns it."""
        deadline = time.monotonic() + timeout
        while True:
            position = self.get("time-pos")
            if position is not None:
                return float(position)
            if time.monotonic() >= deadline:
                raise MpvError("mpv did not start playing")
            time.sleep(0.01)

    def quit(self, timeout: float = COMMAND_TIMEOUT) -> int:
        """Ask mpv to quit and wait for it to exit; returns its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            with contextlib.suppress(MpvError, OSError):  # it may close before answering
                self.command("quit")
        code = self.process.wait(timeout)
        self._close_socket()
        return code

    def kill(self, timeout: float = COMMAND_TIMEOUT) -> None:
        """SIGKILL: no end-file, no cleanup; the socket file stays behind (stale)."""
        assert self.process is not None
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout)
        self._close_socket()

    def close(self) -> None:
        """Teardown: make sure the process we started is gone and our socket closed."""
        self._close_socket()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(2.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5.0)

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> MpvProcess:
        if self.process is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class MpvFactory:
    """Starts any number of mpv processes and ends them all in `close()` (fixture teardown)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[MpvProcess] = []

    def socket(self, name: str = "mpv.sock") -> Path:
        return self.directory / name

    def __call__(
        self, socket_name: str = "mpv.sock", *extra_args: str, cwd: Path | None = None
    ) -> MpvProcess:
        mpv = MpvProcess(self.socket(socket_name), *extra_args, cwd=cwd)
        self.started.append(mpv)
        return mpv.start()

    def close(self) -> None:
        for mpv in self.started:
            mpv.close()
        self.started.clear()
