"""Ratings: the pure parts, and `scrobblerd rate` as a subprocess against the Trakt-like server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from scrobblerd.config.settings import TraktConfig
from scrobblerd.delivery.ratings import (
    choose_target,
    deliver_rating,
    describe_rating,
    describe_target,
    media_payload,
    parse_rating,
    rating_handler,
    rating_payload,
    target_from_json,
    target_to_json,
)
from scrobblerd.delivery.worker import DeliveryWorker
from scrobblerd.errors import PermanentError, TransientError
from scrobblerd.models import Episode, Item, MediaRef, Movie, Show
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.store.history import HistoryRecord, history_delivered, history_identify, history_insert
from scrobblerd.trakt.auth import Token, TokenStore
from scrobblerd.trakt.client import TraktClient
from tests.trakt_server import FakeTrakt

ROOT = Path(__file__).resolve().parent.parent
MATRIX = Movie("The Matrix", 1999, {"trakt": 481, "imdb": "tt0133093", "tmdb": 603})
BB = Show("Breaking Bad", 2008, {"trakt": 1388, "tvdb": 81189, "imdb": "tt0903747"})
BB_EP_TRAKT = 1388 * 10_000 + 1 * 1000 + 2  # FakeTrakt's made-up episode id for S01E02
BB_S01E02 = Episode(BB, 1, 2, "Cat's in the Bag...", {"trakt": BB_EP_TRAKT})


# -- pure ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("8", 8),
        ("10", 10),
        (" 7 ", 7),
        ("love", 10),
        ("LOVE", 10),
        ("hate", 1),
        ("0", 0),
        ("unrate", 0),
    ],
)
def test_parse_rating(text: str, value: int) -> None:
    assert parse_rating(text) == value


@pytest.mark.parametrize("text", ["11", "-1", "great", "7.5", "", "1e1", "010x", "100"])
def test_parse_rating_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid rating"):
        parse_rating(text)


def test_describe_rating_shows_the_one_to_ten_value() -> None:
    assert describe_rating(8) == "8/10"
    assert describe_rating(1) == "1/10"
    assert describe_rating(0) == "not rated"


def test_targets() -> None:
    assert choose_target(MATRIX, show=False) is MATRIX
    assert choose_target(BB_S01E02, show=True) == BB
    with pytest.raises(ValueError, match="movie"):
        choose_target(MATRIX, show=True)
    assert describe_target(BB) == "Breaking Bad (2008) (the show)"
    assert describe_target(BB_S01E02) == "Breaking Bad S01E02"
    for target in (MATRIX, BB, BB_S01E02):
        assert target_from_json(target_to_json(target)) == target


# -- against the Trakt-like server ----------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTrakt]:
    with FakeTrakt() as t:
        t.add_movie(MATRIX.title, MATRIX.year, dict(MATRIX.ids))
        t.add_show(BB.title, BB.year, dict(BB.ids), episodes={(1, 2): {"title": BB_S01E02.title}})
        yield t


@pytest.fixture
def env(tmp_path: Path, fake: FakeTrakt) -> dict[str, str]:
    home = tmp_path / "home"
    state = tmp_path / "state"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"trakt:\n  api_url: {fake.url}\n  auth_url: {fake.auth_url}\n  timeout: 5\nstate_dir: {state}\n"
        "players:\n  mpv:\n    enabled: false\n"
    )
    TokenStore(state).save(Token.from_trakt(fake.issue_token(), "sean"))
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "SCROBBLERD_CONFIG": str(config),
        "STATE": str(state),
    }


def rate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scrobblerd", "--config", env["SCROBBLERD_CONFIG"], "rate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )


def watched(
    env: dict[str, str], item: Item | None, *, media: MediaRef | None = None, ago: float = 60
) -> None:
    """A local watch in the history, identified as `item` (None: not identified yet)."""
    media = media or MediaRef(path="/videos/x.mkv")
    viewing = f"v{time.monotonic_ns()}"
    with Store.open(Path(env["STATE"])) as store, store.write() as conn:
        history_insert(
            conn,
            HistoryRecord(viewing, 0, time.time() - ago, media.kind, media.title, media=media.to_json()),
        )
        if item is not None:
            history_identify(conn, viewing, 0, item)
            history_delivered(conn, viewing, 0, None)


def ratings_posts(fake: FakeTrakt) -> list[str]:
    return [r.path for r in fake.requests if r.path.startswith("/sync/ratings")]


def test_rate_last_movie(env: dict[str, str], fake: FakeTrakt) -> None:
    watched(env, BB_S01E02, ago=3600)
    watched(env, MATRIX)
    out = rate(env, "8", "--last")
    assert out.returncode == 0, out.stderr
    assert fake.ratings[("movie", 481)]["rating"] == 8
    assert "Rated The Matrix (1999): 8/10" in out.stdout
    [post] = [r for r in fake.requests if r.path == "/sync/ratings"]
    rated_at = datetime.fromisoformat(post.json["movies"][0]["rated_at"].replace("Z", "+00:00"))
    assert abs(rated_at.timestamp() - time.time()) < 30


def test_rate_last_episode_and_its_show(env: dict[str, str], fake: FakeTrakt) -> None:
    watched(env, BB_S01E02)
    out = rate(env, "7")  # --last is the default
    assert out.returncode == 0, out.stderr
    assert fake.ratings[("episode", BB_EP_TRAKT)]["rating"] == 7
    assert "Breaking Bad S01E02: 7/10" in out.stdout
    out = rate(env, "9", "--last", "--show")
    assert out.returncode == 0, out.stderr
    assert fake.ratings[("show", 1388)]["rating"] == 9
    assert fake.ratings[("episode", BB_EP_TRAKT)]["rating"] == 7


def test_love_and_hate_rate_ten_and_one_without_reading_settings(
    env: dict[str, str], fake: FakeTrakt
) -> None:
    watched(env, MATRIX)
    out = rate(env, "love", "--last")
    assert out.returncode == 0, out.stderr
    assert fake.ratings[("movie", 481)]["rating"] == 10
    assert "10/10" in out.stdout
    out = rate(env, "hate", "--last")
    assert fake.ratings[("movie", 481)]["rating"] == 1
    assert "1/10" in out.stdout
    # ratings are 1..10 whatever the account: /users/settings has no mode to read
    assert "/users/settings" not in [r.path for r in fake.requests]


def test_unrate(env: dict[str, str], fake: FakeTrakt) -> None:
    watched(env, MATRIX)
    assert rate(env, "8", "--last").returncode == 0
    out = rate(env, "unrate", "--last")
    assert out.returncode == 0, out.stderr
    assert ("movie", 481) not in fake.ratings
    assert "Removed your rating of The Matrix (1999)" in out.stdout
    assert rate(env, "0", "--last").returncode == 0
    assert ratings_posts(fake)[-1] == "/sync/ratings/remove"


@pytest.mark.parametrize("bad", ["11", "-1", "great", "7.5"])
def test_bad_rating_is_a_usage_error(env: dict[str, str], fake: FakeTrakt, bad: str) -> None:
    watched(env, MATRIX)
    out = rate(env, bad, "--last")
    assert out.returncode == 2
    assert "invalid rating" in out.stderr
    assert fake.requests == []


def test_show_of_a_movie_is_a_usage_error(env: dict[str, str], fake: FakeTrakt) -> None:
    watched(env, MATRIX)
    out = rate(env, "8", "--last", "--show")
    assert out.returncode == 2
    assert ratings_posts(fake) == []


def test_no_history(env: dict[str, str], fake: FakeTrakt) -> None:
    out = rate(env, "8", "--last")
    assert out.returncode == 1
    assert "no watches" in out.stderr


def test_rate_by_trakt_id(env: dict[str, str], fake: FakeTrakt) -> None:
    out = rate(env, "6", "--item", "movie:481")
    assert out.returncode == 0, out.stderr
    assert fake.ratings[("movie", 481)]["rating"] == 6
    out = rate(env, "5", "--item", "1388", "--show")
    assert out.returncode == 0, out.stderr
    assert fake.ratings[("show", 1388)]["rating"] == 5
    out = rate(env, "4", "--item", "tt0133093")
    assert out.returncode == 0, out.stderr
    assert fake.ratings[("movie", 481)]["rating"] == 4


def test_rate_by_path(env: dict[str, str], fake: FakeTrakt, tmp_path: Path) -> None:
    video = tmp_path / "The.Matrix.1999.1080p.BluRay.x264.mkv"
    video.write_bytes(b"")
    out = rate(env, "9", "--item", str(video))
    assert out.returncode == 0, out.stderr
    assert fake.ratings[("movie", 481)]["rating"] == 9


def test_offline_rating_is_queued_then_delivered(env: dict[str, str], fake: FakeTrakt) -> None:
    watched(env, MATRIX)
    fake.set_outage(True)
    out = rate(env, "8", "--last")
    assert out.returncode == 0, out.stderr
    assert "queued" in out.stdout
    assert fake.ratings == {}
    fake.set_outage(False)
    state = Path(env["STATE"])
    with (
        Store.open(state) as store,
        TraktClient(
            TraktConfig(api_url=fake.url, auth_url=fake.auth_url, timeout=5), _Tokens(state)
        ) as client,
    ):
        [row] = deliveries.rows(store)
        assert row.kind == deliveries.RATING
        worker = DeliveryWorker(
            store, client, lambda m, p: None, handlers={"rating": rating_handler(client)}, post_interval=0
        )
        assert worker.run_once() == 1
        assert deliveries.rows(store) == []
    assert fake.ratings[("movie", 481)]["rating"] == 8


def test_offline_unidentified_watch_is_identified_on_delivery(env: dict[str, str], fake: FakeTrakt) -> None:
    media = MediaRef(path="/videos/The.Matrix.1999.mkv", title="The Matrix", kind="movie", year=1999)
    watched(env, None, media=media)
    fake.set_outage(True)
    out = rate(env, "7", "--last")
    assert out.returncode == 0, out.stderr
    fake.set_outage(False)
    state = Path(env["STATE"])
    with (
        Store.open(state) as store,
        TraktClient(
            TraktConfig(api_url=fake.url, auth_url=fake.auth_url, timeout=5), _Tokens(state)
        ) as client,
    ):
        [row] = deliveries.rows(store)
        assert row.payload["media"]["path"] == media.path
        seen: list[MediaRef] = []

        def resolve(ref: MediaRef, part: int) -> Item | None:
            seen.append(ref)
            return MATRIX

        worker = DeliveryWorker(
            store, client, resolve, handlers={"rating": rating_handler(client, resolve)}, post_interval=0
        )
        assert worker.run_once() == 1
    assert seen == [media]
    assert fake.ratings[("movie", 481)]["rating"] == 7


def test_deliver_rating_errors(fake: FakeTrakt) -> None:
    now = time.time()
    token = fake.issue_token()["access_token"]
    with TraktClient(
        TraktConfig(api_url=fake.url, auth_url=fake.auth_url, timeout=5), _Fixed(token)
    ) as client:
        unknown = Movie("Nope", 1900, {"trakt": 999})
        with pytest.raises(PermanentError, match="does not know"):
            deliver_rating(client, rating_payload(unknown, 5, now))
        fake.fail_next(1, 503)
        with pytest.raises(TransientError):
            deliver_rating(client, rating_payload(MATRIX, 5, now))
        with pytest.raises(PermanentError, match="unidentified"):
            deliver_rating(client, media_payload(MediaRef(path="/x"), 0, False, 5, now), lambda m, p: None)
        with pytest.raises(PermanentError):
            deliver_rating(client, {**rating_payload(MATRIX, 5, now), "rating": 42})
        sent = deliver_rating(client, rating_payload(BB, 3, now))
    assert sent.target == BB
    assert fake.ratings[("show", 1388)]["rating"] == 3


class _Fixed:
    def __init__(self, token: str) -> None:
        self.token = token

    def access_token(self) -> str:
        return self.token

    def refresh_after_401(self, rejected: str) -> str:
        raise AssertionError("no refresh expected")


class _Tokens(_Fixed):
    """The token the CLI used, read from the token store."""

    def __init__(self, state: Path) -> None:
        token = TokenStore(state).load()
        assert token is not None
        super().__init__(token.access_token)


def test_help_shows_examples() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scrobblerd", "rate", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0
    assert "scrobblerd rate 8 --last" in out.stdout
