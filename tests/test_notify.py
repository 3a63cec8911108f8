"""Desktop notifications with a fake notify-send on PATH that records its arguments."""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
from pathlib import Path

import pytest

from scrobblerd.config.settings import NotifyConfig
from scrobblerd.models import Episode, Movie, Show
from scrobblerd.notify.desktop import RATE_HINT, DesktopNotifier, describe, notify_error, notify_watched

FAKE = """#!{python}
import json, os, sys
with open(os.environ["FAKE_NOTIFY_LOG"], "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "bus": os.environ.get("DBUS_SESSION_BUS_ADDRESS")}}) + "\\n")
sys.exit(int(os.environ.get("FAKE_NOTIFY_EXIT", "0")))
"""

HANG = """#!/bin/sh
exec sleep 30
"""


def _install(bin_dir: Path, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / "notify-send"
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def desktop(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    _install(bin_dir, FAKE.format(python=sys.executable))
    return {
        "PATH": str(bin_dir),
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus",
        "FAKE_NOTIFY_LOG": str(tmp_path / "calls.jsonl"),
    }


def _calls(env: dict[str, str]) -> list[dict[str, object]]:
    log = Path(env["FAKE_NOTIFY_LOG"])
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


ON = NotifyConfig(enabled=True, rate_prompt=True)


def test_watched_with_rate_prompt(desktop: dict[str, str]) -> None:
    assert notify_watched("The Matrix (1999)", ON, desktop)
    [call] = _calls(desktop)
    argv = call["argv"]
    assert isinstance(argv, list)
    assert argv[-2:] == ["Scrobbled to Trakt", "The Matrix (1999)\n" + RATE_HINT]
    assert "--" in argv
    assert "scrobblerd" in argv
    assert RATE_HINT == "Rate it: scrobblerd rate 8 --last"


def test_watched_without_prompt(desktop: dict[str, str]) -> None:
    assert notify_watched("X", NotifyConfig(enabled=True, rate_prompt=False), desktop)
    [call] = _calls(desktop)
    assert call["argv"][-1] == "X"  # type: ignore[index]


def test_disabled_sends_nothing(desktop: dict[str, str]) -> None:
    assert not notify_watched("X", NotifyConfig(), desktop)
    assert not notify_error("boom", NotifyConfig(rate_prompt=True), desktop)
    assert _calls(desktop) == []


def test_error_is_critical(desktop: dict[str, str]) -> None:
    assert notify_error("run scrobblerd auth", ON, desktop)
    [call] = _calls(desktop)
    argv = call["argv"]
    assert isinstance(argv, list)
    assert argv[argv.index("--urgency") + 1] == "critical"


def test_headless_is_a_noop(desktop: dict[str, str]) -> None:
    env = {k: v for k, v in desktop.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    notifier = DesktopNotifier(ON, env)
    assert not notifier.available()
    assert not notifier.watched("X")
    assert _calls(desktop) == []


def test_missing_binary_is_a_noop(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}
    notifier = DesktopNotifier(ON, env)
    assert not notifier.available()
    assert not notifier.watched("X")


def test_runtime_dir_bus_is_found(desktop: dict[str, str], tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir()
    env = {k: v for k, v in desktop.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    env["XDG_RUNTIME_DIR"] = str(runtime)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bus:
        bus.bind(str(runtime / "bus"))
        assert notify_watched("X", ON, env)
    [call] = _calls(desktop)
    assert call["bus"] == "unix:path=" + str(runtime / "bus")


def test_failure_does_not_raise(desktop: dict[str, str]) -> None:
    env = dict(desktop, FAKE_NOTIFY_EXIT="1")
    notifier = DesktopNotifier(ON, env)
    assert not notifier.watched("X")
    assert not notifier.watched("Y")
    assert len(_calls(desktop)) == 2


def test_hanging_notify_send_times_out(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    _install(bin_dir, HANG)
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", "DBUS_SESSION_BUS_ADDRESS": "unix:x"}
    notifier = DesktopNotifier(ON, env, timeout=0.3)
    assert not notifier.watched("X")


def test_describe() -> None:
    show = Show("Breaking Bad", 2008, {"trakt": 1})
    assert describe(Movie("The Matrix", 1999)) == "The Matrix (1999)"
    assert describe(Movie("Untitled", None)) == "Untitled"
    assert describe(Episode(show, 1, 2)) == "Breaking Bad S01E02"
    assert describe(Episode(show, None, None, number_abs=140)) == "Breaking Bad #140"
    assert describe(Episode(show, None, None)) == "Breaking Bad"
