"""Every CLI path ends in a message and an exit code, never a traceback: a database from a newer
scrobblerd, a state_dir that is a file, read-only or cannot be created, a damaged token file, a
status file of the wrong shape, a config nested too deep. Real subprocesses and real files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrobblerd.store.db import Store
from scrobblerd.trakt.auth import TOKEN_FILE
from tests.test_cli import scrobblerd


def config_for(tmp_path: Path, state: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: {state}\nweb:\n  enabled: false\n")
    return config


def status(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    out = scrobblerd("--config", str(config), "status", *extra)
    assert "Traceback" not in out.stderr, out.stderr
    return out


def test_a_database_from_a_newer_scrobblerd_is_a_message(tmp_path: Path) -> None:
    state = tmp_path / "state"
    Store.open(state).close()
    with sqlite3.connect(state / "scrobblerd.db") as conn:
        conn.execute("UPDATE schema_version SET version = 999")
    out = status(config_for(tmp_path, state))
    assert out.returncode == 1
    assert "schema version 999 is newer than this scrobblerd" in out.stderr


@pytest.mark.parametrize("command", ["status", "run", "history"])
def test_a_state_dir_that_is_a_file_is_a_message(tmp_path: Path, command: str) -> None:
    state = tmp_path / "state"
    state.write_text("not a folder")
    out = scrobblerd("--config", str(config_for(tmp_path, state)), command)
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 1
    assert f"state_dir {state} is not a directory" in out.stderr


def test_a_state_dir_that_cannot_be_created_is_a_message(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    state = tmp_path / "file" / "state"
    out = status(config_for(tmp_path, state))
    assert out.returncode == 1
    assert f"cannot create state_dir {state}" in out.stderr


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A real read-only mount (a bind mount remounted ro) of a folder holding a database."""
    src, view = tmp_path / "src", tmp_path / "ro"
    Store.open(src).close()
    view.mkdir()
    mounted = os.geteuid() == 0 and (
        subprocess.run(["mount", "--bind", str(src), str(view)], check=False).returncode == 0
    )
    if not mounted:
        if os.environ.get("SCROBBLERD_REQUIRE_LIVE") == "1":
            pytest.fail("a read-only bind mount is required (SCROBBLERD_REQUIRE_LIVE=1) but cannot be made")
        pytest.skip("cannot make a read-only mount here (needs root)")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True, timeout=10)
        yield view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False, timeout=10)


def test_a_read_only_state_dir_is_a_message(tmp_path: Path, read_only_dir: Path) -> None:
    with pytest.raises(OSError, match="Read-only"):
        (read_only_dir / "probe").write_text("")
    out = status(config_for(tmp_path, read_only_dir / "sub"))  # cannot be created there
    assert out.returncode == 1
    assert "cannot create state_dir" in out.stderr
    out = status(config_for(tmp_path, read_only_dir))  # the database is there, but not writable
    assert out.returncode == 1
    assert "is state_dir writable" in out.stderr


@pytest.mark.parametrize("expires_in", ["1e400", "1e17", "NaN", "-5", '"soon"'])
def test_a_token_file_with_an_absurd_lifetime_is_moved_aside_with_a_message(
    tmp_path: Path, expires_in: str
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / TOKEN_FILE).write_text(
        f'{{"access_token": "a", "refresh_token": "r", "created_at": 1700000000, "expires_in": {expires_in}}}'
    )
    out = status(config_for(tmp_path, state), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["authorized"] is False
    assert not (state / TOKEN_FILE).exists()
    assert len(list(state.glob(TOKEN_FILE + ".corrupt-*"))) == 1
    assert "token_file_corrupt" in out.stderr


@pytest.mark.parametrize(
    "content",
    [
        {"running": True, "pid": "me", "updated_at": "now", "players": [1, 2]},
        {"running": True, "pid": -1, "updated_at": 1e400, "players": {"mpv": []}},
        {"running": True, "pid": "SELF", "updated_at": "NOW", "players": {"mpv": {"instances": [1]}}},
        {"running": True, "pid": "SELF", "updated_at": "NOW", "players": {"mpv": {"instances": {"a": 5}}},
         "delivery": {"unsaved_watches": "many"}, "web": 5},
        [1, 2, 3],
    ],
    ids=["strings", "negative-pid", "instances-list", "instances-numbers", "a-list"],
)  # fmt: skip
def test_a_status_file_of_the_wrong_shape_is_read_as_no_daemon_or_empty(
    tmp_path: Path, content: object
) -> None:
    state = tmp_path / "state"
    Store.open(state).close()
    text = json.dumps(content).replace('"SELF"', str(os.getpid())).replace('"NOW"', "9e9")
    (state / "status.json").write_text(text)
    out = status(config_for(tmp_path, state), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["players"]["mpv"]["connected"] is False
    assert report["unsaved_watches"] == 0


def test_a_config_nested_too_deep_exits_78_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("players:\n  mpv:\n    ipc_path: " + "[" * 50_000 + "]" * 50_000 + "\n")
    out = scrobblerd("config", "check", str(config))
    assert out.returncode == 78
    assert f"{config}:3: (yaml): nested deeper than" in out.stderr
    assert "Traceback" not in out.stderr


def test_status_without_a_daemon_counts_watches_left_in_the_journal(tmp_path: Path) -> None:
    from scrobblerd.models import ActionKind, MediaRef, ScrobbleAction
    from scrobblerd.store.deliveries import watch_payload
    from scrobblerd.store.unsaved import JOURNAL_NAME

    state = tmp_path / "state"
    Store.open(state).close()
    watch = ScrobbleAction(ActionKind.STOP, "mpv:x", "v1", MediaRef(path="/m.mkv"), 95.0, 1e9, watched=True)
    (state / JOURNAL_NAME).write_text(json.dumps(watch_payload(watch)) + "\n")
    config = config_for(tmp_path, state)
    assert json.loads(status(config, "--json").stdout)["unsaved_watches"] == 1
    assert "UNSAVED:   1 watch(es) not yet in the database (kept in the journal)" in status(config).stdout
