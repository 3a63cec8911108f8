"""The Trakt client against the Trakt-like server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from scrobblerd.config.settings import TraktConfig
from scrobblerd.errors import (
    AccountLimitError,
    AccountLockedError,
    AppRejectedError,
    AuthError,
    PermanentError,
    TransientError,
    UnauthorizedError,
    VipOnlyError,
)
from scrobblerd.models import ActionKind, Episode, Movie, Show
from scrobblerd.trakt.auth import TokenManager, TokenStore
from scrobblerd.trakt.client import TraktClient
from scrobblerd.trakt.errors import retry_after_seconds
from scrobblerd.trakt.lookup import search_escape
from scrobblerd.trakt.objects import sync_body
from tests.trakt_server import FakeTrakt

MATRIX = Movie("The Matrix", 1999, {"trakt": 481, "imdb": "tt0133093", "tmdb": 603})
BB = Show("Breaking Bad", 2008, {"trakt": 1388, "tvdb": 81189})
BB_S01E02 = Episode(BB, 1, 2)
ONE_PIECE = Show("One Piece", 1999, {"trakt": 37696})


@pytest.fixture
def fake() -> Iterator[FakeTrakt]:
    with FakeTrakt() as t:
        t.add_movie("The Matrix", 1999, {"trakt": 481, "imdb": "tt0133093", "tmdb": 603})
        t.add_movie("The Matrix Reloaded", 2003, {"trakt": 482, "imdb": "tt0234215"})
        t.add_show(
            "Breaking Bad",
            2008,
            {"trakt": 1388, "tvdb": 81189, "imdb": "tt0903747"},
            episodes={(1, n): {"title": f"Episode {n}", "ids": {"tvdb": 349232 + n}} for n in range(1, 8)},
        )
        t.add_show("One Piece", 1999, {"trakt": 37696}, episodes={(2, 3): {}}, absolute={64: (2, 3)})
        yield t


def make_client(fake: FakeTrakt, tmp_path: Path, timeout: float = 5.0) -> tuple[TraktClient, TokenManager]:
    config = TraktConfig(api_url=fake.url, auth_url=fake.auth_url, timeout=timeout)
    oauth = TraktClient(config)
    manager = TokenManager(TokenStore(tmp_path / "state"), oauth)
    manager.store_login(fake.issue_token(), "sean")
    return TraktClient(config, manager), manager


@pytest.fixture
def client(fake: FakeTrakt, tmp_path: Path) -> Iterator[TraktClient]:
    api, manager = make_client(fake, tmp_path)
    yield api
    api.close()
    manager._oauth.close()  # type: ignore[attr-defined]


def test_every_request_carries_the_required_headers(fake: FakeTrakt, client: TraktClient) -> None:
    client.scrobble(ActionKind.START, MATRIX, 1.0)
    client.search_text("matrix")
    post, get = fake.requests[-2:]
    for rec in (post, get):
        assert rec.headers["trakt-api-key"] == fake.client_id
        assert rec.headers["trakt-api-version"] == "2"
        assert rec.headers["content-type"] == "application/json"
        assert rec.headers["user-agent"].startswith("scrobblerd/")
    assert post.headers["authorization"].startswith("Bearer ")
    assert "authorization" not in get.headers  # public methods go without OAuth
    assert post.json["app_version"] and post.json["app_date"]


def test_a_403_for_your_own_app_says_trakt_may_have_removed_it(fake: FakeTrakt, tmp_path: Path) -> None:
    with TraktClient(TraktConfig(client_id="nope", api_url=fake.url, auth_url=fake.auth_url)) as api:
        with pytest.raises(AppRejectedError) as err:
            api.search_text("matrix")
    assert err.value.status == 403 and isinstance(err.value, PermanentError)
    assert "removes apps" in str(err.value)
    assert "remove trakt.client_id and trakt.client_secret" in str(err.value)


def test_a_403_for_the_built_in_app_does_not_blame_the_users_config() -> None:
    with FakeTrakt(client_id="another-app") as fake, TraktClient(fake.config()) as api:
        with pytest.raises(AppRejectedError) as err:
            api.search_text("matrix")
    assert "built-in app" in str(err.value) and "client_id" not in str(err.value)


def test_no_token_is_an_auth_error(fake: FakeTrakt) -> None:
    with TraktClient(TraktConfig(api_url=fake.url, auth_url=fake.auth_url)) as api, pytest.raises(AuthError):
        api.scrobble(ActionKind.START, MATRIX, 5.0)
    assert fake.requests == []


def test_scrobble_80_percent_rule_and_409(fake: FakeTrakt, client: TraktClient) -> None:
    started = client.scrobble(ActionKind.START, MATRIX, 3.0)
    assert (started.action, started.history_id, started.conflict) == ("start", None, False)
    early = client.scrobble(ActionKind.STOP, MATRIX, 79.9)
    assert early.action == "pause" and fake.history == []
    assert client.get_playback()[0]["progress"] == 79.9
    done = client.scrobble(ActionKind.STOP, MATRIX, 80.0)
    assert done.action == "scrobble" and done.history_id == fake.history[-1]["id"]
    again = client.scrobble(ActionKind.STOP, MATRIX, 99.0)
    assert again.conflict and again.watched_at == fake.history[-1]["watched_at"] and again.expires_at
    assert len(fake.history) == 1


def test_episode_shapes(fake: FakeTrakt, client: TraktClient) -> None:
    client.scrobble(ActionKind.STOP, BB_S01E02, 90.0)
    assert fake.requests[-1].json["episode"] == {"season": 1, "number": 2}
    assert fake.requests[-1].json["show"] == {"title": "Breaking Bad", "year": 2008, "ids": dict(BB.ids)}
    client.scrobble(ActionKind.STOP, Episode(BB, 1, 3, ids={"tvdb": 349235}), 90.0)
    assert fake.requests[-1].json["episode"]["ids"] == {"tvdb": 349235}
    result = client.scrobble(ActionKind.STOP, Episode(ONE_PIECE, None, None, number_abs=64), 95.0)
    assert fake.requests[-1].json["episode"] == {"number_abs": 64}
    assert result.action == "scrobble"
    assert [(h["item"]["episode"]["season"], h["item"]["episode"]["number"]) for h in fake.history] == [
        (1, 2),
        (1, 3),
        (2, 3),
    ]


def test_unknown_item_is_permanent(client: TraktClient) -> None:
    with pytest.raises(PermanentError) as err:
        client.scrobble(ActionKind.START, Movie("Nope", 2001, {"trakt": 1}), 1.0)
    assert err.value.status == 404


@pytest.mark.parametrize("status", [500, 502, 503, 504, 520, 521, 522, 599])
def test_server_errors_are_transient(fake: FakeTrakt, client: TraktClient, status: int) -> None:
    fake.fail_next(1, status, paths="/scrobble")
    with pytest.raises(TransientError) as err:
        client.scrobble(ActionKind.STOP, MATRIX, 90.0)
    assert err.value.status == status
    assert client.scrobble(ActionKind.STOP, MATRIX, 90.0).action == "scrobble"


@pytest.mark.parametrize("status", [400, 403, 404, 405, 412, 420, 422, 426, 418])
def test_client_errors_are_permanent(fake: FakeTrakt, client: TraktClient, status: int) -> None:
    fake.fail_next(1, status, paths="/sync/history")
    with pytest.raises(PermanentError) as err:
        client.add_history([(MATRIX, datetime.now(UTC))])
    assert err.value.status == status
    assert f"HTTP {status}" in str(err.value)


def test_429_carries_retry_after(fake: FakeTrakt, client: TraktClient) -> None:
    fake.fail_next(1, 429, retry_after=7, paths="/scrobble")
    with pytest.raises(TransientError) as err:
        client.scrobble(ActionKind.START, MATRIX, 1.0)
    assert (err.value.status, err.value.retry_after) == (429, 7.0)
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    fake.fail_next(1, 503, retry_after=None, paths="/scrobble")
    with pytest.raises(TransientError) as err:
        client.scrobble(ActionKind.START, MATRIX, 1.0)
    assert err.value.retry_after is None
    assert 28 <= (retry_after_seconds(when) or 0) <= 30
    assert retry_after_seconds("soon") is None


def test_post_rate_limit_is_transient_with_retry_after(fake: FakeTrakt, client: TraktClient) -> None:
    fake.post_interval = 0.5
    client.scrobble(ActionKind.START, MATRIX, 1.0)
    with pytest.raises(TransientError) as err:
        client.scrobble(ActionKind.PAUSE, MATRIX, 2.0)
    assert err.value.status == 429 and 0 < (err.value.retry_after or 0) <= 0.5


def test_dropped_connection_is_transient(fake: FakeTrakt, client: TraktClient) -> None:
    fake.drop_next(1, paths="/scrobble")
    with pytest.raises(TransientError) as err:
        client.scrobble(ActionKind.START, MATRIX, 1.0)
    assert err.value.status is None and "connection" in str(err.value)


def test_timeout_is_transient(fake: FakeTrakt, tmp_path: Path) -> None:
    api, manager = make_client(fake, tmp_path, timeout=0.3)
    with api:
        fake.delay_next(1, 2.0, paths="/users/settings")
        started = time.monotonic()
        with pytest.raises(TransientError) as err:
            api.user_settings()
        assert time.monotonic() - started < 1.5
        assert "no answer within 0.3 s" in str(err.value)
        assert api.user_settings().username == "sean"
    manager._oauth.close()  # type: ignore[attr-defined]


def test_connection_refused_is_transient(tmp_path: Path) -> None:
    with FakeTrakt() as t:
        url = t.url
    with TraktClient(TraktConfig(api_url=url, timeout=1)) as api, pytest.raises(TransientError):
        api.search_text("matrix")


def test_garbage_bodies_never_crash(fake: FakeTrakt, client: TraktClient) -> None:
    fake.fail_next(1, 200, body="<html>captive portal</html>", paths="/users/settings")
    with pytest.raises(TransientError, match="not JSON"):
        client.user_settings()
    fake.fail_next(1, 200, body='{"nothing": "useful"}', paths="/users/settings")
    with pytest.raises(PermanentError, match="unexpected users/settings"):
        client.user_settings()
    fake.fail_next(1, 201, body='{"truncated": ', paths="/scrobble")
    with pytest.raises(TransientError):
        client.scrobble(ActionKind.START, MATRIX, 1.0)
    fake.fail_next(1, 200, body='{"not": "a list"}', paths="/search")
    with pytest.raises(PermanentError):
        client.search_text("matrix")
    fake.fail_next(1, 502, body="<html>" + "Bad gateway " * 100 + "</html>", paths="/sync/playback")
    with pytest.raises(TransientError) as err:
        client.get_playback()
    assert len(str(err.value)) < 300


def test_add_history_batches_movies_and_episodes(fake: FakeTrakt, client: TraktClient) -> None:
    at = datetime(2024, 5, 1, 20, 30, tzinfo=UTC)
    result = client.add_history(
        [
            (MATRIX, at),
            (BB_S01E02, at + timedelta(hours=1)),
            (Episode(BB, 1, 3, ids={"tvdb": 349235}), at + timedelta(hours=2)),
            (Movie("Unknown", 1970, {"trakt": 999999}), at),
        ]
    )
    assert (result.added_movies, result.added_episodes) == (1, 2)
    assert result.not_found["movies"][0]["ids"] == {"trakt": 999999}
    assert len([r for r in fake.requests if r.path == "/sync/history"]) == 1
    assert sorted(h["watched_at"] for h in fake.history) == [
        "2024-05-01T20:30:00.000Z",
        "2024-05-01T21:30:00.000Z",
        "2024-05-01T22:30:00.000Z",
    ]


def test_get_history_follows_pagination(fake: FakeTrakt, client: TraktClient) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    client.add_history([(MATRIX, start + timedelta(minutes=i)) for i in range(150)])
    client.add_history([(MATRIX, start - timedelta(days=1))])
    entries = client.get_history("movies", start, start + timedelta(days=1))
    assert len(entries) == 150
    assert entries[0].watched_at == start + timedelta(minutes=149)
    assert entries[0].item == Movie("The Matrix", 1999, {**MATRIX.ids, "slug": "the-matrix-1999"})
    pages = [r.query["page"] for r in fake.requests if r.path == "/sync/history/movies"]
    assert pages == ["1", "2"]
    assert client.get_history("episodes", start, start + timedelta(days=1)) == []
    with pytest.raises(ValueError):
        client.get_history("shows", start, start)


def test_get_history_of_one_item_by_its_trakt_id_and_whole_days(fake: FakeTrakt, client: TraktClient) -> None:
    at = datetime(2024, 1, 1, 23, 50, tzinfo=UTC)
    client.add_history([(MATRIX, at), (Movie("The Matrix Reloaded", 2003, {"trakt": 482}), at)])
    window = (at - timedelta(minutes=10), at + timedelta(minutes=10))  # crosses midnight
    assert [e.item.ids["trakt"] for e in client.get_history("movies", *window, trakt_id=482)] == [482]
    assert sorted(e.item.ids["trakt"] for e in client.get_history("movies", *window)) == [481, 482]
    one = next(r for r in fake.requests if r.path == "/sync/history/movies/482")
    assert (one.query["start_at"], one.query["end_at"]) == ("2024-01-01", "2024-01-03")  # days, end widened
    assert client.get_history("movies", at + timedelta(minutes=1), at + timedelta(minutes=5)) == []


def test_search_and_lookup(fake: FakeTrakt, client: TraktClient) -> None:
    results = client.search_text("The Matrix", year=1999)
    assert results[0].type == "movie" and results[0].item.ids["trakt"] == 481
    assert fake.requests[-1].query["years"] == "1999"
    by_id = client.search_id("imdb", "tt0903747", type="show")
    bb_ids = {"trakt": 1388, "tvdb": 81189, "imdb": "tt0903747", "slug": "breaking-bad-2008"}
    assert [r.item for r in by_id] == [Show("Breaking Bad", 2008, bb_ids)]
    ep = client.search_id("tvdb", 349234, type="episode")[0]
    assert isinstance(ep.item, Episode) and (ep.item.season, ep.item.number) == (1, 2)
    assert ep.item.show.title == "Breaking Bad"
    assert client.search_text("Mission: Impossible") == []
    assert search_escape("Mission: Impossible (1996)") == r"Mission\: Impossible \(1996\)"


def test_episode_summary(client: TraktClient) -> None:
    ep = client.episode(BB, 1, 2)
    assert ep is not None and ep.title == "Episode 2" and ep.ids["tvdb"] == 349234 and ep.show == BB
    assert client.episode(BB, 9, 9) is None
    with pytest.raises(PermanentError):
        client.episode(Show("No Ids", None), 1, 1)


def test_ratings_and_settings(fake: FakeTrakt, client: TraktClient) -> None:
    at = datetime(2024, 5, 1, tzinfo=UTC)
    out = client.add_ratings([(MATRIX, 9, at), (BB, 10, at), (BB_S01E02, 7, at)])
    assert out["added"] == {"movies": 1, "shows": 1, "seasons": 0, "episodes": 1}
    assert fake.ratings[("movie", 481)] == {"rating": 9, "rated_at": "2024-05-01T00:00:00.000Z"}
    assert fake.ratings[("episode", 13881002)]["rating"] == 7
    out = client.remove_ratings([MATRIX])
    assert out["deleted"]["movies"] == 1 and ("movie", 481) not in fake.ratings
    settings = client.user_settings()
    assert (settings.username, settings.vip) == ("sean", False)
    fake.settings["user"]["vip"] = True
    assert client.user_settings().vip is True


def test_server_side_expiry_is_refreshed_once_and_retried(fake: FakeTrakt, client: TraktClient) -> None:
    fake.expire_access_tokens()
    assert client.scrobble(ActionKind.STOP, MATRIX, 90.0).action == "scrobble"
    paths = [(r.path, r.method) for r in fake.requests]
    assert paths == [("/scrobble/stop", "POST"), ("/oauth/token", "POST"), ("/scrobble/stop", "POST")]


def test_401_after_refresh_is_unauthorized(fake: FakeTrakt, client: TraktClient) -> None:
    fake.fail_next(2, 401, paths="/users/settings")
    with pytest.raises(UnauthorizedError):
        client.user_settings()
    assert [r.path for r in fake.requests].count("/oauth/token") == 1


def test_sync_body_groups_episodes_without_ids_under_their_show() -> None:
    at = {"watched_at": "2024-01-01T00:00:00.000Z"}
    body = sync_body([(BB_S01E02, at), (Episode(BB, 1, 3), at), (Episode(BB, 2, 1), at)])
    assert body == {
        "shows": [
            {
                "title": "Breaking Bad",
                "year": 2008,
                "ids": dict(BB.ids),
                "seasons": [
                    {"number": 1, "episodes": [{"number": 2, **at}, {"number": 3, **at}]},
                    {"number": 2, "episodes": [{"number": 1, **at}]},
                ],
            }
        ]
    }


@pytest.mark.parametrize(
    ("status", "kind"), [(420, AccountLimitError), (423, AccountLockedError), (426, VipOnlyError)]
)
def test_account_statuses_have_their_own_errors(
    fake: FakeTrakt, client: TraktClient, status: int, kind: type[Exception]
) -> None:
    fake.fail_next(1, status, paths="/sync/history")
    with pytest.raises(kind) as err:
        client.add_history([(MATRIX, datetime.now(UTC))])
    assert getattr(err.value, "status", None) == status


def test_a_locked_account_is_retried_later_not_dropped(fake: FakeTrakt, client: TraktClient) -> None:
    fake.fail_next(1, 423, paths="/scrobble")
    with pytest.raises(TransientError) as err:
        client.scrobble(ActionKind.STOP, MATRIX, 90.0)
    assert isinstance(err.value, AccountLockedError)
    assert err.value.retry_after == 120.0
