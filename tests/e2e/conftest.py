"""Fixtures for running the whole daemon against the Trakt-like server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scrobblerd.trakt.auth import Token, TokenStore
from tests.conftest import require_binary
from tests.e2e.harness import MpvPlayer, NotifySocket, write_config
from tests.trakt_server import FakeTrakt

MATRIX_IDS = {"trakt": 481, "slug": "the-matrix-1999", "imdb": "tt0133093", "tmdb": 603}
BB_SHOW_IDS = {"trakt": 1388, "slug": "breaking-bad", "tvdb": 81189, "imdb": "tt0903747", "tmdb": 1396}


@pytest.fixture
def trakt() -> Iterator[FakeTrakt]:
    with FakeTrakt() as server:
        server.add_movie("The Matrix", 1999, MATRIX_IDS)
        episodes = {(1, n): {"trakt": 62000 + n, "tvdb": 349230 + n} for n in range(1, 8)}
        server.add_show("Breaking Bad", 2008, BB_SHOW_IDS, episodes=episodes)
        yield server


def authorise(trakt: FakeTrakt, state_dir: Path, **token_args: Any) -> Token:
    token = Token.from_trakt(trakt.issue_token(**token_args), username="ann")
    TokenStore(state_dir).save(token)
    return token


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


def daemon_config(tmp_path: Path, trakt: FakeTrakt, **overrides: Any) -> Path:
    sections: dict[str, Any] = {
        "state_dir": str(tmp_path / "state"),
        "trakt": {"api_url": trakt.url, "auth_url": trakt.auth_url, "timeout": 3},
        "log": {"level": "debug", "format": "json"},
        "scrobble": {"min_duration": 30, "preview_time": 5},
        "players": {"mpv": {"enabled": False}},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(sections.get(key), dict):
            sections[key] = {**sections[key], **value}
        else:
            sections[key] = value
    return write_config(tmp_path / "config.yaml", **sections)


@pytest.fixture
def mpv_socket() -> Iterator[Path]:
    """Where the e2e mpv listens; short, because AF_UNIX paths are limited to 107 bytes."""
    import shutil
    import tempfile

    short = Path(tempfile.mkdtemp(prefix="sd-e2e-"))
    yield short / "mpv.sock"
    shutil.rmtree(short, ignore_errors=True)


def mpv_config(tmp_path: Path, trakt: FakeTrakt, ipc_path: Path, **overrides: Any) -> Path:
    """daemon_config with the mpv watcher on `ipc_path`."""
    players = {"mpv": {"enabled": True, "ipc_path": str(ipc_path)}, **overrides.pop("players", {})}
    return daemon_config(tmp_path, trakt, players=players, **overrides)


@pytest.fixture
def mpv(mpv_socket: Path) -> Iterator[MpvPlayer]:
    """A real mpv, idle, on the test's IPC socket (stopped at teardown)."""
    require_binary("mpv")
    with MpvPlayer(mpv_socket) as player:
        yield player
