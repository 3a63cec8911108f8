"""The Trakt-like test server itself: enough checks that other tests can trust it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.trakt_server import FakeTrakt


@pytest.fixture
def fake() -> Iterator[FakeTrakt]:
    with FakeTrakt() as t:
        t.add_movie("The Matrix", 1999, {"trakt": 481, "imdb": "tt0133093", "tmdb": 603})
        t.add_show(
            "Breaking Bad",
            2008,
            {"trakt": 1388, "tvdb": 81189},
            episodes={(1, 2): {"title": "Cat's in the Bag..."}},
            absolute={2: (1, 2)},
        )
        yield t


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def _headers(t: FakeTrakt, token: str | None = None) -> dict[str, str]:
    h = {"trakt-api-key": t.client_id, "trakt-api-version": "2", "Content-Type": "application/json"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    return h


def _post(s: requests.Session, t: FakeTrakt, path: str, body: Any, token: str | None) -> requests.Response:
    base = t.auth_url if path.startswith("/oauth/") else t.url
    return s.post(base + path, json=body, headers=_headers(t, token), timeout=5)


def test_required_headers(fake: FakeTrakt, http: requests.Session) -> None:
    token = fake.issue_token()["access_token"]
    bad_key = {**_headers(fake, token), "trakt-api-key": "nope"}
    assert http.get(fake.url + "/users/settings", headers=bad_key, timeout=5).status_code == 403
    plain = {**_headers(fake, token), "Content-Type": "text/plain"}
    assert http.post(fake.url + "/sync/history", data="{}", headers=plain, timeout=5).status_code == 412
    assert http.get(fake.url + "/users/settings", headers=_headers(fake), timeout=5).status_code == 401
    fake.expire_access_tokens()
    assert http.get(fake.url + "/users/settings", headers=_headers(fake, token), timeout=5).status_code == 401


def test_scrobble_rules(fake: FakeTrakt, http: requests.Session) -> None:
    token = fake.issue_token()["access_token"]
    movie = {"movie": {"ids": {"imdb": "tt0133093"}}}
    r = _post(http, fake, "/scrobble/stop", {**movie, "progress": 50}, token)
    assert r.status_code == 201 and r.json()["action"] == "pause"
    r = _post(http, fake, "/scrobble/stop", {**movie, "progress": 85}, token)
    assert r.json()["action"] == "scrobble" and len(fake.history) == 1
    r = _post(http, fake, "/scrobble/stop", {**movie, "progress": 95}, token)
    assert r.status_code == 409 and {"watched_at", "expires_at"} <= r.json().keys()
    ep = {"episode": {"number_abs": 2}, "show": {"title": "Breaking Bad", "year": 2008}, "progress": 90}
    assert _post(http, fake, "/scrobble/stop", ep, token).json()["episode"]["season"] == 1
    assert (
        _post(
            http, fake, "/scrobble/start", {"movie": {"ids": {"trakt": 1}}, "progress": 1}, token
        ).status_code
        == 404
    )


def test_sync_history_and_window(fake: FakeTrakt, http: requests.Session) -> None:
    token = fake.issue_token()["access_token"]
    body = {
        "movies": [{"ids": {"trakt": 481}, "watched_at": "2020-01-01T10:00:00.000Z"}, {"ids": {"trakt": 7}}]
    }
    r = _post(http, fake, "/sync/history", body, token)
    assert r.status_code == 200  # Trakt: 200 {added, updated, not_found}
    assert r.json()["added"] == {"movies": 1, "episodes": 0}
    assert r.json()["updated"] == {"movies": 0, "episodes": 0}
    assert r.json()["not_found"]["movies"] == [{"ids": {"trakt": 7}}]
    got = http.get(
        fake.url + "/sync/history/movies?start_at=2020-01-01&end_at=2020-01-02",
        headers=_headers(fake, token),
        timeout=5,
    )
    assert [h["movie"]["ids"]["trakt"] for h in got.json()] == [481]
    assert got.headers["X-Pagination-Page-Count"] == "1"
    one = http.get(fake.url + "/sync/history/movies/481", headers=_headers(fake, token), timeout=5)
    assert [h["movie"]["ids"]["trakt"] for h in one.json()] == [481]
    other = http.get(fake.url + "/sync/history/movies/7", headers=_headers(fake, token), timeout=5)
    assert other.json() == []
    later = http.get(
        fake.url + "/sync/history/movies?start_at=2020-01-02", headers=_headers(fake, token), timeout=5
    )
    assert later.json() == []


def test_sync_history_refuses_datetimes_where_the_contract_wants_days(
    fake: FakeTrakt, http: requests.Session
) -> None:
    token = fake.issue_token()["access_token"]
    q = "?start_at=2020-01-01T00:00:00Z&end_at=2020-01-02T00:00:00Z"
    got = http.get(fake.url + "/sync/history/movies" + q, headers=_headers(fake, token), timeout=5)
    assert got.status_code == 400 and "YYYY-MM-DD" in got.json()["error"]


def test_stop_below_one_percent_is_422(fake: FakeTrakt, http: requests.Session) -> None:
    token = fake.issue_token()["access_token"]
    body = {"movie": {"ids": {"trakt": 481}}, "progress": 0.5}
    assert _post(http, fake, "/scrobble/stop", body, token).status_code == 422
    assert _post(http, fake, "/scrobble/pause", body, token).status_code == 201
    assert fake.scrobbles[-1]["action"] == "pause" and len(fake.scrobbles) == 1


def test_oauth_is_served_only_on_the_auth_host(fake: FakeTrakt, http: requests.Session) -> None:
    on_api = http.post(
        fake.url + "/oauth/device/code", json={"client_id": fake.client_id}, headers=_headers(fake), timeout=5
    )
    assert on_api.status_code == 404
    token = fake.issue_token()["access_token"]
    api_on_auth = http.get(fake.auth_url + "/users/settings", headers=_headers(fake, token), timeout=5)
    assert api_on_auth.status_code == 404
    assert fake.auth_url != fake.url


def test_faults(fake: FakeTrakt, http: requests.Session) -> None:
    fake.fail_next(1, 429, retry_after=3, paths="/search")
    r = http.get(fake.url + "/search/movie?query=matrix", headers=_headers(fake), timeout=5)
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    fake.drop_next(1)
    with pytest.raises(requests.ConnectionError):
        http.get(fake.url + "/search/movie?query=matrix", headers=_headers(fake), timeout=5)
    fake.set_outage(True, 502)
    assert http.get(fake.url + "/search/movie?query=x", headers=_headers(fake), timeout=5).status_code == 502
    fake.set_outage(False)
    r = http.get(
        fake.url + "/search/movie,show?query=the+matrix&years=1999", headers=_headers(fake), timeout=5
    )
    assert r.json()[0]["movie"]["ids"]["trakt"] == 481


def test_post_interval(fake: FakeTrakt, http: requests.Session) -> None:
    token = fake.issue_token()["access_token"]
    fake.post_interval = 0.5
    body = {"movie": {"ids": {"trakt": 481}}, "progress": 10}
    assert _post(http, fake, "/scrobble/start", body, token).status_code == 201
    r = _post(http, fake, "/scrobble/pause", body, token)
    assert r.status_code == 429 and 0 < float(r.headers["Retry-After"]) <= 0.5


def test_device_flow_states(fake: FakeTrakt, http: requests.Session) -> None:
    code = _post(http, fake, "/oauth/device/code", {"client_id": fake.client_id}, None).json()
    poll = {"code": code["device_code"], "client_id": fake.client_id, "client_secret": fake.client_secret}
    assert _post(http, fake, "/oauth/device/token", poll, None).status_code == 400
    fake.approve()
    tok = _post(http, fake, "/oauth/device/token", poll, None).json()
    assert fake.token_valid(tok["access_token"])
    assert _post(http, fake, "/oauth/device/token", poll, None).status_code == 409
    assert _post(http, fake, "/oauth/device/token", {**poll, "code": "x"}, None).status_code == 404
    refresh = {
        "refresh_token": tok["refresh_token"],
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
        "grant_type": "refresh_token",
    }
    new = _post(http, fake, "/oauth/token", refresh, None).json()
    assert new["refresh_token"] != tok["refresh_token"] and not fake.token_valid(tok["access_token"])
    again = _post(http, fake, "/oauth/token", refresh, None)  # single-use: the old one is spent
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant" and again.json()["error_description"]
