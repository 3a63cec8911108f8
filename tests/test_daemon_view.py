"""The daemon's health check, and the systemd watchdog that uses it: fed only while healthy."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from scrobblerd.config.settings import Config
from scrobblerd.daemon.lifecycle import Daemon
from scrobblerd.daemon.view import DaemonView


class Part:
    def __init__(self, alive: bool = True) -> None:
        self.is_alive = alive

    def alive(self) -> bool:
        return self.is_alive


def fake_daemon(**watchers: Part) -> Any:
    return SimpleNamespace(
        dispatcher=Part(), services=SimpleNamespace(delivery=Part()), watchers=dict(watchers)
    )


def test_healthy_when_every_part_runs() -> None:
    assert DaemonView(fake_daemon(mpv=Part(), kodi=Part())).problems() == []


def test_each_stopped_part_is_named() -> None:
    daemon = fake_daemon(mpv=Part(), kodi=Part(alive=False))
    daemon.dispatcher.is_alive = False
    daemon.services.delivery.is_alive = False
    assert DaemonView(daemon).problems() == [
        "the dispatcher thread is not running",
        "the delivery worker is not running",
        "the kodi watcher's supervisor is not running",
    ]


@pytest.fixture
def notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield sock
    sock.close()


def test_the_watchdog_is_fed_only_while_the_health_check_passes(notify: socket.socket) -> None:
    daemon = Daemon(Config())
    parts = fake_daemon(mpv=Part(alive=False))
    daemon.view = DaemonView(parts)
    daemon._heartbeat()
    with pytest.raises(TimeoutError):
        notify.recv(100)
    parts.watchers["mpv"].is_alive = True
    daemon._heartbeat()
    assert notify.recv(100) == b"WATCHDOG=1"
