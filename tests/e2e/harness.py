"""Run the real daemon (`scrobblerd run`) as a subprocess against a Trakt-like server on 127.0.0.1.

The daemon's JSON log lines are read on a thread so tests can wait for an event by name, and a real
AF_UNIX datagram socket stands in for systemd's NOTIFY_SOCKET.
"""

from __future__ import annotations

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


class DaemonProcess:
    """`python -m scrobblerd run` with a config; its log lines collected as dicts."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._cond = threading.Condition()
        exe = shutil.which("scrobblerd")
        cmd = [exe] if exe else [sys.executable, "-m", "scrobblerd"]
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
