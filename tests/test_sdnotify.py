"""sd_notify by hand, against a real AF_UNIX datagram socket."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrobblerd.daemon import sdnotify


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    try:
        yield sock
    finally:
        sock.close()


def test_no_socket_is_a_noop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.ready() is False
    assert sdnotify.watchdog() is False


def test_ready_and_status(listener: socket.socket) -> None:
    assert sdnotify.ready("mpv connected, queue 0")
    assert listener.recv(4096) == b"READY=1\nSTATUS=mpv connected, queue 0"
    assert sdnotify.status("queue 3\nwaiting")
    assert listener.recv(4096) == b"STATUS=queue 3 waiting"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (sdnotify.watchdog, b"WATCHDOG=1"),
        (sdnotify.stopping, b"STOPPING=1"),
        (sdnotify.reloading, b"RELOADING=1"),
        (sdnotify.ready, b"READY=1"),
    ],
)
def test_messages(listener: socket.socket, call: object, expected: bytes) -> None:
    assert callable(call)
    assert call() is True
    assert listener.recv(4096) == expected


def test_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "scrobblerd-test-" + uuid.uuid4().hex
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2.0)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.notify("READY=1")
        assert sock.recv(4096) == b"READY=1"


def test_missing_socket_does_not_raise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    assert sdnotify.notify("READY=1") is False


def test_unsupported_scheme_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    assert sdnotify.notify("READY=1") is False


def test_watchdog_interval() -> None:
    pid = str(os.getpid())
    assert sdnotify.watchdog_interval({}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "60000000"}) == 60.0
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": pid}) == 30.0
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "x"}) is None
