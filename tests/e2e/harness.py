"""Run the real daemon (`scrobblerd run`) as a subprocess against a Trakt-like server on 127.0.0.1.

The daemon's JSON log lines are read on a thread so tests can wait for an event by name, and a real
AF_UNIX datagram socket stands in for systemd's NOTIFY_SOCKET.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


def write_config(path: Path, **sections: Any) -> Path:
    path.write_text(yaml.safe_dump(sections, sort_keys=False))
    return path


class NotifySocket:
    """A datagram socket that records what the daemon tells systemd."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._cond:
                self.messages.extend(data.decode().splitlines())
                self._cond.notify_all()

    def wait_for(self, line: str, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: any(m.startswith(line) for m in self.messages), timeout)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


# The real entry point with the stop window (5 s: how late a /scrobble/stop may still be
# sent, since Trakt stamps it on arrival) set by a test. Everything else is the installed daemon.
GRACE_ENTRY = """
import functools, sys
import scrobblerd.daemon.services as services
services.DeliveryWorker = functools.partial(services.DeliveryWorker, grace={grace})
from scrobblerd.cli import main
sys.argv[0] = "scrobblerd"
raise SystemExit(main(sys.argv[1:]))
"""


class DaemonProcess:
    """`python -m scrobblerd run` with a config; its log lines collected as dicts."""

    def __init__(
        self, config: Path, env: dict[str, str] | None = None, *, delivery_grace: float | None = None
    ) -> None:
        self.config = config
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._cond = threading.Condition()
        exe = shutil.which("scrobblerd")
        cmd = [exe] if exe else [sys.executable, "-m", "scrobblerd"]
        if delivery_grace is not None:
            cmd = [sys.executable, "-c", GRACE_ENTRY.format(grace=float(delivery_grace))]
        self.proc = subprocess.Popen(
            [*cmd, "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                record = json.loads(line)
            except ValueError:
                record = {"event": "(text)", "text": line.rstrip()}
            with self._cond:
                self.raw.append(line)
                self.lines.append(record)
                self._cond.notify_all()

    def wait_log(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for record in self.lines:
                    if predicate(record):
                        return record
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    return None
                self._cond.wait(min(left, 0.5))

    def wait_event(self, name: str, timeout: float, **fields: Any) -> dict[str, Any] | None:
        return self.wait_log(
            lambda r: r.get("event") == name and all(r.get(k) == v for k, v in fields.items()), timeout
        )

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._reader.join(5)
        if self.proc.stderr is not None and not self.proc.stderr.closed:
            self.proc.stderr.close()

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        self._reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return code

    def log_text(self) -> str:
        with self._cond:
            return "".join(self.raw)


class MpvPlayer:
    """A real headless mpv with a JSON IPC socket, driven with one-shot commands.

    Each command opens its own short connection, so the test never competes with the daemon's
    connection and a killed mpv is simply an error on the next command.
    """

    def __init__(self, ipc_path: Path, *extra: str) -> None:
        self.ipc_path = ipc_path
        mpv = shutil.which("mpv")
        if mpv is None:
            raise RuntimeError("mpv not installed")
        argv = [mpv, "--idle=yes", "--vo=null", "--ao=null", "--no-config", "--terminal=no",
                f"--input-ipc-server={ipc_path}", *extra]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)  # fmt: skip
        self._wait_ready(10.0)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mpv exited with {self.proc.returncode}")
            try:
                self.command("get_property", "idle-active")
                return
            except OSError:
                time.sleep(0.02)
        raise TimeoutError("mpv IPC socket never answered")

    def command(self, *args: Any, timeout: float = 5.0) -> Any:
        """Send one command, return its `data` (None when unavailable); OSError when mpv is gone."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.ipc_path))
            sock.sendall(json.dumps({"command": list(args), "request_id": 1}).encode() + b"\n")
            buf = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("mpv closed the connection")
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    msg = json.loads(line)
                    if msg.get("request_id") == 1:
                        if msg.get("error") not in ("success", "property unavailable"):
                            raise RuntimeError(f"mpv {args[0]}: {msg.get('error')}")
                        return msg.get("data")

    def get(self, name: str) -> Any:
        return self.command("get_property", name)

    def set(self, name: str, value: Any) -> None:
        self.command("set_property", name, value)

    def load(self, path: Path | str, mode: str = "replace", options: str = "") -> float:
        """loadfile; returns time.time() just before the command was sent."""
        at = time.time()
        args: list[Any] = ["loadfile", str(path), mode]
        if options:
            args.append(options)
        self.command(*args)
        return at

    def wait_for(self, predicate: Callable[[MpvPlayer], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            time.sleep(0.02)
        raise TimeoutError("mpv condition not met")

    def wait_playing(self, name: str | None = None, timeout: float = 10.0) -> None:
        def ready(p: MpvPlayer) -> bool:
            pos = p.get("time-pos")
            return pos is not None and (name is None or p.get("filename") == name)

        self.wait_for(ready, timeout)

    def seek_percent(self, percent: float) -> float:
        at = time.time()
        self.command("seek", percent, "absolute-percent+exact")
        return at

    def wait_idle(self, timeout: float = 120.0) -> float:
        """Wait until mpv has nothing loaded (the playlist ended); returns when that was seen."""
        self.wait_for(lambda p: p.get("idle-active") is True, timeout)
        return time.time()

    def quit(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.command("quit")
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill(self) -> float:
        """SIGKILL; returns the time it was sent."""
        at = time.time()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        return at

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)

    def __enter__(self) -> MpvPlayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rss_kib(pid: int) -> int | None:
    """VmRSS of a running process in KiB (None when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None
