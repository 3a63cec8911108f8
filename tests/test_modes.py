"""File modes: the database and the token are 0600 from creation and tightened (with a log line)
when found looser; a config or state_dir that others may write is reported for the daemon and
`scrobblerd doctor`. Real files, real chmod."""

from __future__ import annotations

import stat
from pathlib import Path

import structlog

from scrobblerd.store.db import Store
from scrobblerd.store.modes import mode_problems, warn_mode_problems
from scrobblerd.trakt.auth import Token, TokenStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_its_journal_files_are_0600(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state") as store:
        store.kv_put("k", 1)
        files = [p for p in (tmp_path / "state").iterdir() if p.name.startswith("scrobblerd.db")]
        assert {p.name for p in files} >= {"scrobblerd.db", "scrobblerd.db-wal", "scrobblerd.db-shm"}
        assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert mode(tmp_path / "state") == 0o700


def test_a_database_left_0644_is_tightened_with_a_log_line(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    db = tmp_path / "scrobblerd.db"
    db.chmod(0o644)
    with structlog.testing.capture_logs() as logs, Store.open(tmp_path):
        assert mode(db) == 0o600
    [fixed] = [e for e in logs if e["event"] == "file_mode_fixed" and e["path"] == str(db)]
    assert (fixed["path"], fixed["was"], fixed["now"]) == (str(db), "0644", "0600")


def test_a_token_file_left_0644_is_tightened_with_a_log_line(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    store.save(Token("access", "refresh", 86400, 1_700_000_000))
    assert mode(store.path) == 0o600
    store.path.chmod(0o644)
    with structlog.testing.capture_logs() as logs:
        assert store.load() is not None
    assert mode(store.path) == 0o600
    assert [e["what"] for e in logs if e["event"] == "file_mode_fixed"] == ["token"]


def test_a_world_writable_config_and_a_group_writable_state_dir_are_reported(tmp_path: Path) -> None:
    config, state = tmp_path / "conf" / "config.yaml", tmp_path / "state"
    config.parent.mkdir(mode=0o700)
    config.write_text("{}\n")
    state.mkdir(mode=0o700)
    assert mode_problems(config, state) == []
    config.chmod(0o666)
    state.chmod(0o770)
    with structlog.testing.capture_logs() as logs:
        problems = warn_mode_problems(config, state)
    assert sorted(p.what for p in problems) == ["config file", "state_dir"]
    by_what = {p.what: p for p in problems}
    assert (
        by_what["config file"].detail == f"config file {config} is writable by group and others (mode 0666)"
    )
    assert by_what["state_dir"].fix == f"chmod go-w {state}"
    assert len([e for e in logs if e["event"] == "file_mode_unsafe"]) == 2


def test_a_sticky_shared_folder_is_not_reported(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    assert mode_problems(None, shared) == []
