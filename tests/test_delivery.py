"""The delivery worker: unit tests against a fake client (time is a parameter), then real HTTP
against the Trakt-like server through the real TraktClient."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from scrobblerd.config.settings import TraktConfig
from scrobblerd.delivery.match import match_delivered, not_found_names
from scrobblerd.delivery.worker import DeliveryWorker
from scrobblerd.errors import AuthError, PermanentError, TransientError, UnauthorizedError
from scrobblerd.models import ActionKind, Episode, Item, MediaRef, Movie, ScrobbleAction, Show
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.trakt.client import TraktClient
from tests.trakt_server import FakeTrakt

T0 = 1_700_000_000.0
MATRIX = Movie("The Matrix", 1999, {"trakt": 481, "imdb": "tt0133093"})


def movie_media(n: int) -> MediaRef:
    return MediaRef(path=f"/v/Movie.{n}.mkv", title=f"Movie {n}", kind="movie", year=2000, ids={"trakt": n})


def resolve(media: MediaRef, part: int) -> Item | None:
    if media.ids.get("trakt") == -1:
        return None
    return Movie(media.title or "", media.year, dict(media.ids))


def action(
    kind: ActionKind,
    viewing: str,
    at: float,
    *,
    n: int = 1,
    watched: bool = False,
    player: str = "mpv:a",
    progress: float = 95.0,
) -> ScrobbleAction:
    return ScrobbleAction(kind, player, viewing, movie_media(n), progress, at, watched=watched)


def watched(viewing: str, at: float, n: int = 1) -> ScrobbleAction:
    return action(ActionKind.STOP, viewing, at, n=n, watched=True)


@dataclass
class Result:
    action: str = "scrobble"
    history_id: int | None = 7
    conflict: bool = False
    not_found: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class Entry:
    history_id: int
    watched_at: datetime
    item: Item


@dataclass
class FakeClient:
    calls: list[tuple[str, Any]] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    remote: list[Entry] = field(default_factory=list)
    unknown: set[int] = field(default_factory=set)

    def _maybe_fail(self) -> None:
        if self.errors:
            raise self.errors.pop(0)

    def scrobble(self, kind: ActionKind, item: Item, progress: float) -> Result:
        self.calls.append(("scrobble", (kind, item, progress)))
        self._maybe_fail()
        if isinstance(item, Movie) and item.ids.get("trakt") in self.unknown:
            raise PermanentError("scrobble: 404 item not found", 404)
        return Result()

    def add_history(self, watches: Sequence[tuple[Item, datetime]]) -> Result:
        self.calls.append(("history", list(watches)))
        self._maybe_fail()
        missing = [{"ids": dict(i.ids)} for i, _ in watches if i.ids.get("trakt") in self.unknown]
        return Result(not_found={"movies": missing} if missing else {})

    def get_history(self, kind: str, start_at: datetime, end_at: datetime) -> list[Entry]:
        self.calls.append(("get", (kind, start_at, end_at)))
        self._maybe_fail()
        return [e for e in self.remote if start_at <= e.watched_at <= end_at]

    def sent(self, what: str) -> list[Any]:
        return [c[1] for c in self.calls if c[0] == what]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state") as s:
        yield s


def worker(store: Store, client: Any, **kw: Any) -> DeliveryWorker:
    kw.setdefault("post_interval", 0.0)
    kw.setdefault("clock", lambda: T0)
    return DeliveryWorker(store, client, resolve, rand=lambda: 0.0, **kw)


def test_a_watch_is_committed_before_any_network_call(store: Store) -> None:
    client = FakeClient()
    w = worker(store, client)
    w.submit(watched("v1", T0 - 10))
    assert client.calls == []
    (row,) = deliveries.rows(store)
    assert row.payload["viewing"] == "v1" and row.watched_at == T0 - 10
    assert store.history(5)[0].delivered is False


def test_recent_watch_scrobbles_and_late_watches_sync_in_batches_in_order(store: Store) -> None:
    client = FakeClient()
    w = worker(store, client, batch_size=2)
    w.submit(watched("recent", T0 - 2, n=1))
    for i in range(5):
        w.submit(watched(f"late{i}", T0 - 3600 * (5 - i), n=10 + i))
    assert w.run_once(T0) == 6
    batches = client.sent("history")
    assert [len(b) for b in batches] == [2, 2, 1]
    stamps = [at.timestamp() for b in batches for _, at in b]
    assert stamps == [T0 - 3600 * (5 - i) for i in range(5)]
    ((kind, item, progress),) = client.sent("scrobble")
    assert (kind, item.ids["trakt"], progress) == (ActionKind.STOP, 1, 95.0)
    assert deliveries.rows(store) == []
    assert all(h.delivered for h in store.history(10))
    assert store.history_get("recent").trakt_history_id == 7  # type: ignore[union-attr]
    assert store.history_get("late0").item["ids"] == {"trakt": 10}  # type: ignore[index,union-attr]


def test_transient_error_backs_off_and_retries_forever(store: Store) -> None:
    """Three 503s in a row (on the send or on the history check that follows an uncertain send):
    each backs off, nothing is tried before the back-off ends, and the watch is delivered once."""
    client = FakeClient(errors=[TransientError("503", 503)] * 3)
    w = worker(store, client)
    w.submit(watched("v", T0 - 3600))
    now = T0
    for _ in range(6):
        if w.run_once(now) == 1:
            break
        (row,) = deliveries.rows(store)
        # a 503 may come after Trakt recorded the watch: the row stays in flight, to be checked
        # against Trakt's history before it is sent again
        assert row.last_error == "503" and row.status == "inflight"
        retry_at = datetime.fromisoformat(w.status()["retry_at"].replace("Z", "+00:00")).timestamp()
        assert retry_at > now
        calls = len(client.calls)
        assert w.run_once(retry_at - 1) == 0  # nothing before the back-off ends
        assert len(client.calls) == calls
        now = retry_at + 1
    else:
        raise AssertionError("never delivered")
    assert client.errors == []
    assert w.status()["last_error"] is None and w.status()["queue_depth"] == 0
    assert len(client.sent("history")) >= 1 and len(client.sent("get")) >= 1


def test_retry_after_is_honoured(store: Store) -> None:
    client = FakeClient(errors=[TransientError("429", 429, retry_after=120)])
    w = worker(store, client)
    w.submit(watched("v", T0 - 3600))
    assert w.run_once(T0) == 0
    assert deliveries.rows(store)[0].next_attempt_at == T0 + 120
    assert w.run_once(T0 + 119) == 0
    assert len(client.sent("history")) == 1
    assert w.run_once(T0 + 120) == 1


def test_unauthorized_pauses_without_burning_attempts(store: Store) -> None:
    client = FakeClient(errors=[UnauthorizedError("401", 401), AuthError("no token")])
    w = worker(store, client)
    w.submit(watched("v", T0 - 3600))
    assert w.run_once(T0) == 0
    assert w.status()["paused_for_auth"] is True
    assert store.kv_get("delivery")["paused_for_auth"] is True
    (row,) = deliveries.rows(store)
    assert row.attempts == 0 and row.status == "pending"
    assert w.run_once(T0 + 10) == 0 and len(client.calls) == 1  # paused: no request at all
    assert w.run_once(T0 + 61) == 0
    assert deliveries.rows(store)[0].attempts == 0
    w.resume()
    assert w.run_once(T0 + 62) == 1
    assert w.status()["paused_for_auth"] is False


def test_permanent_error_fails_the_item_until_retried(store: Store) -> None:
    client = FakeClient(unknown={1})
    w = worker(store, client)
    w.submit(watched("v", T0 - 2, n=1))
    w.submit(watched("ok", T0 - 1, n=2))
    assert w.run_once(T0) == 1
    (row,) = deliveries.rows(store)
    assert row.status == "failed" and "404" in (row.last_error or "")
    assert w.run_once(T0 + 10_000) == 0
    client.unknown.clear()
    assert deliveries.retry(store, T0 + 1) == 1
    assert w.run_once(T0 + 1) == 1


def test_not_found_in_a_batch_fails_only_that_item(store: Store) -> None:
    client = FakeClient(unknown={12})
    w = worker(store, client)
    for i in range(4):
        w.submit(watched(f"v{i}", T0 - 3600 + i, n=10 + i))
    assert w.run_once(T0) == 3
    (row,) = deliveries.rows(store)
    assert row.status == "failed" and row.payload["viewing"] == "v2" and "not_found" in (row.last_error or "")


def test_a_batch_rejected_as_a_whole_is_bisected(store: Store) -> None:
    client = FakeClient()
    w = worker(store, client)

    def add_history(watches: Sequence[tuple[Item, datetime]]) -> Result:
        client.calls.append(("history", list(watches)))
        if any(i.ids.get("trakt") == 13 for i, _ in watches):
            raise PermanentError("422", 422)
        return Result()

    client.add_history = add_history  # type: ignore[method-assign]
    for i in range(8):
        w.submit(watched(f"v{i}", T0 - 3600 + i, n=10 + i))
    assert w.run_once(T0) == 7
    (row,) = deliveries.rows(store)
    assert row.payload["viewing"] == "v3" and row.status == "failed"
    assert len(client.sent("history")) <= 8


def test_unidentified_watch_fails_visibly_and_is_retriable(store: Store) -> None:
    client = FakeClient()
    w = worker(store, client)
    media = MediaRef(path="/v/Unknown.Thing.mkv", title="Unknown Thing", ids={"trakt": -1})
    w.submit(ScrobbleAction(ActionKind.STOP, "mpv:a", "v", media, 90.0, T0 - 5, watched=True))
    assert w.run_once(T0) == 0
    (row,) = deliveries.rows(store)
    assert row.status == "failed" and (row.last_error or "").startswith("unidentified: /v/Unknown.Thing.mkv")
    w.resolve = lambda m, p: MATRIX
    deliveries.retry(store, T0 + 1, row.id)
    assert w.run_once(T0 + 1) == 1
    assert store.history_get("v").title == "The Matrix"  # type: ignore[union-attr]


def test_resolver_network_error_defers(store: Store) -> None:
    def flaky(media: MediaRef, part: int) -> Item | None:
        raise TransientError("search timed out")

    w = DeliveryWorker(store, FakeClient(), flaky, clock=lambda: T0, post_interval=0, rand=lambda: 0.0)
    w.submit(watched("v", T0 - 5))
    assert w.run_once(T0) == 0
    (row,) = deliveries.rows(store)
    assert row.attempts == 1 and row.status == "pending" and row.next_attempt_at > T0


def test_live_signals_are_coalesced_per_player_and_stale_ones_dropped(store: Store) -> None:
    client = FakeClient()
    w = worker(store, client)
    w.submit(action(ActionKind.START, "v1", T0 - 5, progress=1.0))
    w.submit(action(ActionKind.PAUSE, "v1", T0 - 4, progress=2.0))
    w.submit(action(ActionKind.START, "v1", T0 - 3, progress=3.0))
    w.submit(action(ActionKind.START, "old", T0 - 3600, player="kodi:b", progress=50.0))
    w.run_once(T0)
    assert [(k, p) for k, _, p in client.sent("scrobble")] == [(ActionKind.START, 3.0)]
    assert w.status()["live_pending"] == 0


def test_the_latest_pause_is_kept_through_an_outage(store: Store) -> None:
    client = FakeClient(errors=[TransientError("down")])
    w = worker(store, client)
    w.submit(action(ActionKind.PAUSE, "v1", T0 - 7200, progress=42.0))
    w.run_once(T0)
    assert w.status()["live_pending"] == 1
    w.run_once(T0 + 30)
    assert [(k, p) for k, _, p in client.sent("scrobble")] == [(ActionKind.PAUSE, 42.0)] * 2
    assert w.status()["live_pending"] == 0


def test_a_watched_stop_supersedes_pending_live_signals(store: Store) -> None:
    client = FakeClient()
    w = worker(store, client)
    w.submit(action(ActionKind.START, "v1", T0 - 5))
    w.submit(watched("v1", T0 - 1))
    w.run_once(T0)
    assert [k for k, _, _ in client.sent("scrobble")] == [ActionKind.STOP]


def _leave_inflight(store: Store, viewing: str, at: float, sent_at: float) -> int:
    (row,) = [r for r in deliveries.rows(store) if r.payload["viewing"] == viewing]
    with store.write() as conn:
        deliveries.set_payload(
            conn,
            row.id,
            {**row.payload, "item": resolve(MediaRef.from_json(row.payload["media"]), 0).to_json()},
        )  # type: ignore[union-attr]
        deliveries.mark_inflight(conn, [row.id], sent_at)
    return row.id


def test_rows_left_in_flight_are_checked_against_trakt_before_resending(store: Store) -> None:
    client = FakeClient()
    w = worker(store, client)
    w.submit(watched("arrived", T0 - 3600, n=1))
    w.submit(watched("lost", T0 - 3000, n=2))
    _leave_inflight(store, "arrived", T0 - 3600, T0 - 60)
    _leave_inflight(store, "lost", T0 - 3000, T0 - 60)
    client.remote.append(
        Entry(1, datetime.fromtimestamp(T0 - 3600).astimezone(), Movie("Movie 1", 2000, {"trakt": 1}))
    )
    assert w.run_once(T0) == 2
    assert len(client.sent("get")) == 1
    (batch,) = client.sent("history")
    assert [i.ids["trakt"] for i, _ in batch] == [2]
    assert all(h.delivered for h in store.history(5))


def test_recovery_waits_while_trakt_is_unreachable(store: Store) -> None:
    client = FakeClient(errors=[TransientError("down")])
    w = worker(store, client)
    w.submit(watched("x", T0 - 3600))
    _leave_inflight(store, "x", T0 - 3600, T0 - 60)
    assert w.run_once(T0) == 0
    assert deliveries.rows(store)[0].status == "inflight" and client.sent("history") == []
    assert w.run_once(T0 + 3600) == 1


def test_match_delivered_does_not_take_a_rewatch_for_a_duplicate() -> None:
    m = Movie("M", 2000, {"trakt": 5})
    # one earlier delivered watch of the same movie, Trakt shows exactly that one: the stuck row is new
    assert match_delivered([(1, m, 900.0, 2000.0)], [(m, 1000.0)], [(m, 1000.0)], 300.0) == set()
    # Trakt shows two: the second is ours
    assert match_delivered([(1, m, 900.0, 2000.0)], [(m, 1000.0), (m, 1500.0)], [(m, 1000.0)], 300.0) == {1}
    # another movie does not count
    other = Movie("N", 2000, {"trakt": 6})
    assert match_delivered([(1, m, 900.0, 2000.0)], [(other, 1500.0)], [], 300.0) == set()


def test_not_found_names_movies_shows_and_episodes() -> None:
    show = Show("Breaking Bad", 2008, {"trakt": 1388})
    ep = Episode(show, 1, 2)
    assert not_found_names({"movies": [{"ids": {"trakt": 481}}]}, MATRIX)
    assert not not_found_names({"movies": [{"ids": {"trakt": 1}}]}, MATRIX)
    assert not_found_names({"shows": [{"title": "Breaking Bad", "ids": {"trakt": 1388}}]}, ep)
    assert not not_found_names(
        {"shows": [{"ids": {"trakt": 1388}, "seasons": [{"number": 1, "episodes": [{"number": 3}]}]}]}, ep
    )
    assert not_found_names({"episodes": [{"season": 1, "number": 2, "show": {"ids": {"trakt": 1388}}}]}, ep)


def test_handlers_deliver_other_kinds(store: Store) -> None:
    seen: list[dict[str, Any]] = []
    w = worker(store, FakeClient(), handlers={"rating": seen.append})
    w.enqueue("rating", {"rating": 9, "trakt": 481}, dedupe="rating:481")
    assert w.run_once(T0) == 1
    assert seen == [{"rating": 9, "trakt": 481}] and deliveries.rows(store) == []


# ---- real HTTP against the Trakt-like server ---------------------------------------------------


class Tokens:
    def __init__(self, token: str | None) -> None:
        self.token = token

    def access_token(self) -> str:
        if not self.token:
            raise AuthError("not authorised")
        return self.token

    def refresh_after_401(self, rejected: str) -> str:
        raise UnauthorizedError("token rejected", 401)


@pytest.fixture
def fake() -> Iterator[FakeTrakt]:
    with FakeTrakt() as t:
        for n in range(1, 21):
            t.add_movie(f"Movie {n}", 2000, {"trakt": n})
        yield t


def http_worker(
    store: Store, fake: FakeTrakt, tokens: Tokens, **kw: Any
) -> tuple[DeliveryWorker, TraktClient]:
    client = TraktClient(TraktConfig(api_url=fake.url, auth_url=fake.auth_url, timeout=5), tokens)
    kw.setdefault("post_interval", 0.0)
    return DeliveryWorker(store, client, resolve, rand=lambda: 0.0, **kw), client


def test_http_outage_then_recovery_delivers_with_real_times_in_order(store: Store, fake: FakeTrakt) -> None:
    w, client = http_worker(store, fake, Tokens(fake.issue_token()["access_token"]))
    now = time.time()
    with client:
        fake.set_outage(True)
        for i in range(6):
            w.submit(watched(f"v{i}", now - 7200 + 600 * i, n=i + 1))
        assert w.run_once() == 0
        assert w.status()["queue_depth"] == 6
        fake.set_outage(False)
        assert w.run_once(now + 3600) == 6
    stamps = [h["at"] for h in fake.history]
    assert stamps == [round(now - 7200 + 600 * i, 3) for i in range(6)] or stamps == sorted(stamps)
    assert [int(h["ids"]["trakt"]) for h in fake.history] == list(range(1, 7))
    assert [abs(h["at"] - (now - 7200 + 600 * i)) < 1.0 for i, h in enumerate(fake.history)] == [True] * 6


def test_http_429_retry_after_is_honoured_by_the_running_worker(store: Store, fake: FakeTrakt) -> None:
    w, client = http_worker(store, fake, Tokens(fake.issue_token()["access_token"]))
    fake.fail_next(1, 429, retry_after=1, paths="/sync/history")
    with client:
        w.submit(watched("v", time.time() - 3600))
        w.start()
        try:
            assert fake.wait_for(lambda t: len(t.history) == 1, timeout=10)
        finally:
            w.stop(5)
    posts = [r.at for r in fake.requests if r.method == "POST"]
    assert len(posts) == 2 and posts[1] - posts[0] >= 1.0


def test_http_401_pauses_then_resumes_after_auth(store: Store, fake: FakeTrakt) -> None:
    tokens = Tokens("not-a-valid-token")
    w, client = http_worker(store, fake, tokens)
    now = time.time()
    with client:
        w.submit(watched("v", now - 3600))
        assert w.run_once() == 0
        assert w.status()["paused_for_auth"]
        assert deliveries.rows(store)[0].attempts == 0
        tokens.token = fake.issue_token()["access_token"]
        w.resume()
        assert w.run_once() == 1
    assert len(fake.history) == 1


def test_http_unknown_item_lands_in_failed_and_is_retriable(store: Store, fake: FakeTrakt) -> None:
    w, client = http_worker(store, fake, Tokens(fake.issue_token()["access_token"]))
    now = time.time()
    with client:
        w.submit(watched("recent", now - 1, n=99))  # /scrobble/stop -> 404
        w.submit(watched("late", now - 3600, n=98))  # /sync/history -> not_found
        assert w.run_once() == 0
        rows = deliveries.rows(store)
        assert [r.status for r in rows] == ["failed", "failed"]
        assert {r.last_error.split(":")[0] for r in rows if r.last_error} == {"permanent", "not_found"}
        fake.add_movie("Movie 99", 2000, {"trakt": 99})
        fake.add_movie("Movie 98", 2000, {"trakt": 98})
        assert deliveries.retry(store, time.time()) == 2
        assert w.run_once() == 2
    assert sorted(int(h["ids"]["trakt"]) for h in fake.history) == [98, 99]


def test_http_409_on_stop_counts_as_delivered(store: Store, fake: FakeTrakt) -> None:
    w, client = http_worker(store, fake, Tokens(fake.issue_token()["access_token"]))
    now = time.time()
    with client:
        w.submit(watched("first", now - 2, n=3))
        w.submit(watched("second", now - 1, n=3))
        assert w.run_once() == 2
    assert len(fake.history) == 1 and deliveries.rows(store) == []


def test_a_late_viewing_that_continues_a_recent_watch_is_not_a_second_watch(tmp_path: Path) -> None:
    """The daemon restarted at 85 %: the first run recorded the watch; the viewing the second run
    sees (opened past the threshold) must not record it again. A full rewatch still counts."""
    media = MediaRef(path="/films/The.Matrix.1999.mkv")
    now = 1_800_000_000.0

    def stop(viewing: str, at: float, late: bool) -> ScrobbleAction:
        return ScrobbleAction(ActionKind.STOP, "mpv:x", viewing, media, 95.0, at, watched=True, late=late)

    with Store.open(tmp_path) as store:
        worker = DeliveryWorker(store, client=None, resolve=lambda m, p: None, clock=lambda: now)  # type: ignore[arg-type]
        worker.submit(stop("v1", now, late=False))
        worker.submit(stop("v2", now + 600, late=True))  # the rest of v1 after a restart
        assert [h.viewing for h in store.history(limit=10)] == ["v1"]
        worker.submit(stop("v3", now + 9000, late=False))  # watched again from the start: a rewatch
        worker.submit(stop("v4", now + 7 * 3600 + 9000, late=True))  # long after: its own watch
        assert [h.viewing for h in store.history(limit=10)] == ["v4", "v3", "v1"]


def test_a_send_still_under_way_at_trakt_is_not_checked_before_it_settles(store: Store) -> None:
    """The previous process was killed right after sending: Trakt may still be writing that watch.
    Its history is asked only once the client's timeout (and a margin) has passed."""
    client = FakeClient()
    w = worker(store, client, settle=5.0)
    w.submit(watched("v", T0 - 3600))
    (row,) = deliveries.rows(store)
    item = Movie("Movie 1", 2000, {"trakt": 1})
    with store.write() as conn:
        deliveries.set_payload(conn, row.id, {**row.payload, "item": item.to_json()})  # resolved, then sent
        deliveries.mark_inflight(conn, [row.id], T0)  # as a killed sender leaves it
    assert w.run_once(T0 + 1) == 0
    assert client.sent("get") == [] and client.sent("history") == []
    assert deliveries.rows(store)[0].status == "inflight"
    assert w.run_once(T0 + 6) == 1  # settled: not on Trakt, so sent now
    assert len(client.sent("get")) == 1 and len(client.sent("history")) == 1
