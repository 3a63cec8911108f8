"""The command line as users run it: real subprocesses, exit codes, nothing written on errors."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from scrobblerd import __version__

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = [
    "run",
    "auth",
    "logout",
    "status",
    "queue",
    "history",
    "playback",
    "identify",
    "rate",
    "config",
    "init",
    "service",
]


def scrobblerd(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "scrobblerd", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
        cwd=cwd or ROOT,
        check=False,
    )


def test_version() -> None:
    out = scrobblerd("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"scrobblerd {__version__}"


def test_help_lists_every_command() -> None:
    out = scrobblerd("--help")
    assert out.returncode == 0
    for command in COMMANDS:
        assert command in out.stdout


@pytest.mark.parametrize(
    "command", [c for c in COMMANDS if c not in ("config", "service")] + ["config check", "service install"]
)
def test_each_command_has_help(command: str) -> None:
    out = scrobblerd(*command.split(), "--help")
    assert out.returncode == 0, out.stderr
    assert "usage: scrobblerd" in out.stdout


def test_unknown_command_is_a_usage_error() -> None:
    out = scrobblerd("frobnicate")
    assert out.returncode == 2


def test_config_check_accepts_the_example() -> None:
    out = scrobblerd("config", "check", "config.example.yaml")
    assert out.returncode == 0, out.stderr
    assert "OK" in out.stdout


def test_config_check_reports_every_problem_and_exits_78(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("trakt:\n  timout: 5\nplayers:\n  vlc:\n    poll_interval: fast\n")
    out = scrobblerd("config", "check", str(bad))
    assert out.returncode == 78
    lines = out.stderr.strip().splitlines()
    assert lines == [
        f"{bad}:2: trakt.timout: unknown key; did you mean trakt.timeout?",
        f"{bad}:5: players.vlc.poll_interval: expected a number, got 'fast'",
    ]


def test_any_command_with_a_bad_config_exits_78_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    state = tmp_path / "state"
    bad.write_text(f"state_dir: {state}\nscrobble:\n  threshold: 12\n")
    for args in (["status"], ["queue", "list"], ["history"]):
        out = scrobblerd("--config", str(bad), *args)
        assert out.returncode == 78, (args, out.stderr)
        assert "threshold" in out.stderr
    assert not state.exists()


def test_init_writes_the_example_once(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    out = scrobblerd("init", env=env)
    assert out.returncode == 0, out.stderr
    written = tmp_path / "cfg" / "scrobblerd" / "config.yaml"
    assert written.read_text() == (ROOT / "config.example.yaml").read_text()
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    written.write_text("# mine\n")
    again = scrobblerd("init", env=env)
    assert again.returncode == 1
    assert written.read_text() == "# mine\n"


def test_python_dash_m_and_console_script_agree() -> None:
    exe = Path(sys.executable).parent / "scrobblerd"
    if not exe.exists():
        pytest.fail("the console script is not installed next to this python (pip install . first)")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=30, check=False)
    assert out.stdout.strip() == f"scrobblerd {__version__}"


def test_a_network_listen_without_a_token_exits_78_with_the_reason(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\nweb:\n  listen: 0.0.0.0:8787\n")
    for args in (["config", "check", str(config)], ["--config", str(config), "run"]):
        out = scrobblerd(*args)
        assert out.returncode == 78, (args, out.stderr)
        assert f"{config}:3: web.listen: 0.0.0.0:8787 is not a loopback address" in out.stderr
    assert not (tmp_path / "state").exists()
