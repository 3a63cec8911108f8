"""Every request body scrobblerd sends, captured by the Trakt-like server, checked against the
request schemas of Trakt's published API contract (tests/fixtures/trakt_contract/, a JSON-schema
translation of github.com/trakt/trakt-api's zod schemas at the commit it names)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from scrobblerd.models import ActionKind, Episode, Movie, Show
from scrobblerd.trakt.auth import TokenManager, TokenStore, device_login
from scrobblerd.trakt.client import TraktClient
from tests.trakt_server import FakeTrakt, Recorded

SCHEMAS = json.loads(
    (Path(__file__).parent / "fixtures" / "trakt_contract" / "requests.schema.json").read_text()
)
MATRIX = Movie("The Matrix", 1999, {"trakt": 481, "imdb": "tt0133093", "tmdb": 603})
BB = Show("Breaking Bad", 2008, {"trakt": 1388, "tvdb": 81189, "imdb": "tt0903747"})
BB_S01E02 = Episode(BB, 1, 2, ids={"trakt": 62085, "tvdb": 349233, "imdb": "tt1054724"})
BB_S01E03_NO_IDS = Episode(BB, 1, 3)


def validator(endpoint: str) -> jsonschema.protocols.Validator:
    schema = {"$defs": SCHEMAS["$defs"], **SCHEMAS["endpoints"][endpoint]["body"]}
    cls = jsonschema.validators.validator_for(SCHEMAS)
    return cls(schema)  # type: ignore[no-any-return]


def problems(rec: Recorded) -> list[str]:
    v = validator(f"{rec.method} {rec.path}")
    return [
        f"{rec.method} {rec.path}: {e.message} at {list(e.absolute_path)}" for e in v.iter_errors(rec.json)
    ]


@pytest.fixture
def fake() -> Iterator[FakeTrakt]:
    with FakeTrakt() as t:
        t.add_movie("The Matrix", 1999, dict(MATRIX.ids))
        t.add_show(
            "Breaking Bad",
            2008,
            dict(BB.ids),
            episodes={
                (1, 2): {"title": "Cat's in the Bag...", "ids": {"trakt": 62085, "tvdb": 349233}},
                (1, 3): {"title": "...And the Bag's in the River", "ids": {"trakt": 62086, "tvdb": 349235}},
            },
        )
        yield t


def _everything_we_send(fake: FakeTrakt, tmp_path: Path) -> None:
    """One of each call scrobblerd makes with a body: login, scrobbles, history, ratings, refresh, logout."""
    config = fake.config(timeout=5)
    with TraktClient(config) as oauth:
        manager = TokenManager(TokenStore(tmp_path / "state"), oauth)
        fake.device_script = [400, 200]
        manager.store_login(device_login(oauth, lambda code: None, sleep=lambda s: None), "sean")
        with TraktClient(config, manager) as api:
            for kind, progress in (
                (ActionKind.START, 1.5),
                (ActionKind.PAUSE, 40.0),
                (ActionKind.STOP, 92.5),
            ):
                api.scrobble(kind, MATRIX, progress)
                api.scrobble(kind, BB_S01E02, progress)
            at = datetime(2026, 3, 1, 20, 15, tzinfo=UTC)
            api.add_history([(MATRIX, at), (BB_S01E02, at), (BB_S01E03_NO_IDS, at)])
            api.add_ratings([(MATRIX, 9, at), (BB, 10, at), (BB_S01E02, 7, at)])
            api.remove_ratings([MATRIX, BB_S01E02])
            manager.refresh_after_401(manager.access_token())
        assert manager.logout() == (True, None)


def test_every_request_body_we_send_matches_the_contract(fake: FakeTrakt, tmp_path: Path) -> None:
    _everything_we_send(fake, tmp_path)
    sent = [r for r in fake.requests if r.method in ("POST", "PUT")]
    assert {f"{r.method} {r.path}" for r in sent} == set(
        SCHEMAS["endpoints"]
    )  # each endpoint we use, covered
    assert [p for r in sent for p in problems(r)] == []
    assert fake.contract_problems() == []  # the server's own check agrees


def test_episodes_go_by_their_ids_when_known(fake: FakeTrakt, tmp_path: Path) -> None:
    _everything_we_send(fake, tmp_path)
    stops = [r.json for r in fake.requests if r.path == "/scrobble/stop" and "episode" in r.json]
    assert stops == [
        {"episode": {"ids": {"trakt": 62085, "tvdb": 349233}}, "progress": 92.5, **_app(stops[0])}
    ]
    (history,) = [r.json for r in fake.requests if r.path == "/sync/history"]
    assert history["episodes"] == [
        {"ids": {"trakt": 62085, "tvdb": 349233}, "watched_at": "2026-03-01T20:15:00.000Z"}
    ]
    # without ids, the show + season/number form (valid for /sync/history too)
    assert history["shows"][0]["seasons"] == [
        {"number": 1, "episodes": [{"number": 3, "watched_at": "2026-03-01T20:15:00.000Z"}]}
    ]


def test_the_scrobble_fallback_without_episode_ids_is_the_one_known_divergence(
    fake: FakeTrakt, tmp_path: Path
) -> None:
    """The contract wants episode.ids on /scrobble/*; an episode identification could not give ids
    for goes as show + season/number, which Trakt still accepts (see the README)."""
    config = fake.config(timeout=5)
    with TraktClient(config) as oauth:
        manager = TokenManager(TokenStore(tmp_path / "state"), oauth)
        manager.store_login(fake.issue_token(), "sean")
        with TraktClient(config, manager) as api:
            assert api.scrobble(ActionKind.START, BB_S01E03_NO_IDS, 2.0).action == "start"
    (rec,) = [r for r in fake.requests if r.path == "/scrobble/start"]
    assert rec.json["episode"] == {"season": 1, "number": 3} and rec.json["show"]["ids"]["trakt"] == 1388
    assert problems(rec) != [] and len(fake.contract_problems()) == len(problems(rec))


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("POST /scrobble/stop", {"episode": {"season": 1, "number": 2}, "progress": 90.0}),
        ("POST /scrobble/stop", {"movie": {"ids": {"trakt": 481}}, "progress": 90.0}),  # no title/year
        ("POST /sync/ratings", {"movies": [{"ids": {"trakt": 481}, "rating": 11}]}),
        (
            "POST /sync/history",
            {"movies": [{"ids": {"trakt": 481}, "watched_at": "2026-03-01T20:15:00+01:00"}]},
        ),
        ("POST /sync/history", {"episodes": [{"ids": {"imdb": "tt1054724"}}]}),
        ("POST /oauth/token", {"refresh_token": "r", "client_id": "c", "client_secret": "s"}),
    ],
)
def test_the_schemas_refuse_what_the_contract_refuses(endpoint: str, body: Any) -> None:
    assert list(validator(endpoint).iter_errors(body)) != []


def test_the_schemas_name_the_contract_commit() -> None:
    assert SCHEMAS["contract_commit"] == "586224bf1b7d7e24fef194ca3f1acfed59d536c7"
    assert SCHEMAS["contract_commit"] in SCHEMAS["$comment"]
    jsonschema.validators.validator_for(SCHEMAS).check_schema(SCHEMAS)


def _app(body: dict[str, Any]) -> dict[str, Any]:
    return {"app_version": body["app_version"], "app_date": body["app_date"]}
