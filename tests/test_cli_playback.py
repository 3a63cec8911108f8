"""`scrobblerd playback [--json]` and `playback drop ID` as users run them: real subprocesses, a
real database and the Trakt-like server on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from scrobblerd.models import Movie
from scrobblerd.store import points
from scrobblerd.store.db import Store
from scrobblerd.trakt.auth import Token, TokenStore
from tests.test_cli import scrobblerd
from tests.trakt_server import FakeTrakt

MATRIX_IDS = {"trakt": 481, "slug": "the-matrix-1999", "imdb": "tt0133093", "tmdb": 603}
HEAT = Movie("Heat", 1995, {"trakt": 117, "imdb": "tt0113277"})


@pytest.fixture
def trakt() -> Iterator[FakeTrakt]:
    with FakeTrakt() as server:
        server.add_movie("The Matrix", 1999, MATRIX_IDS)
        yield server


@pytest.fixture
def config(tmp_path: Path, trakt: FakeTrakt) -> Path:
    state = tmp_path / "state"
    TokenStore(state).save(Token.from_trakt(trakt.issue_token(), username="ann"))
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(state),
                "trakt": {"api_url": trakt.url, "auth_url": trakt.auth_url, "timeout": 3},
            }
        )
    )
    with Store.open(state) as store:
        points.save_local(store, HEAT, "/films/Heat.1995.mkv", 35.5, time.time() - 60)
    return path


def test_playback_lists_ours_and_trakts_points(config: Path, trakt: FakeTrakt) -> None:
    trakt_id = trakt.add_playback({"movie": {"ids": {"trakt": 481}}}, 41.0, time.time())
    out = scrobblerd("--config", str(config), "playback", "--json")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert [(p["source"], p["id"], p["progress"]) for p in listed] == [
        ("trakt", trakt_id, 41.0),
        ("local", "local:1", 35.5),
    ]
    assert listed[0]["item"]["ids"]["trakt"] == 481 and listed[1]["item"]["title"] == "Heat"
    assert listed[0]["paused_at"].endswith("Z")
    text = scrobblerd("--config", str(config), "playback")
    assert text.returncode == 0 and "The Matrix (1999)" in text.stdout and "35.5 %" in text.stdout


def test_drop_removes_a_trakt_point_on_trakt_and_ours_here(config: Path, trakt: FakeTrakt) -> None:
    trakt_id = trakt.add_playback({"movie": {"ids": {"trakt": 481}}}, 41.0, time.time())
    assert scrobblerd("--config", str(config), "playback", "--json").returncode == 0
    out = scrobblerd("--config", str(config), "playback", "drop", str(trakt_id))
    assert out.returncode == 0, out.stderr
    assert trakt.playback == {}
    assert [r.path for r in trakt.requests if r.method == "DELETE"] == [f"/sync/playback/{trakt_id}"]
    assert scrobblerd("--config", str(config), "playback", "drop", "local:1").returncode == 0
    listed = json.loads(scrobblerd("--config", str(config), "playback", "--json", "--offline").stdout)
    assert listed == []


def test_drop_of_an_unknown_id_fails_clearly(config: Path) -> None:
    out = scrobblerd("--config", str(config), "playback", "drop", "local:99")
    assert out.returncode == 1
    assert "no resume point local:99" in out.stderr


def test_offline_listing_asks_nothing_of_trakt(config: Path, trakt: FakeTrakt) -> None:
    out = scrobblerd("--config", str(config), "playback", "--json", "--offline")
    assert out.returncode == 0 and [p["source"] for p in json.loads(out.stdout)] == ["local"]
    assert trakt.requests == []
