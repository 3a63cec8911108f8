"""Delivery through an outage and Trakt's account statuses: the time rule, one batched write
for a backlog, prompt recovery by a cheap GET, 420/423/426, and no polling while idle."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from scrobblerd.delivery.health import PROBE_INTERVAL
from scrobblerd.delivery.worker import IDLE_WAIT, STOP_WINDOW, TRANSIT, DeliveryWorker
from scrobblerd.errors import AccountLimitError, AccountLockedError, TransientError, VipOnlyError
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.trakt.client import TraktClient
from tests.test_delivery import T0, FakeClient, Tokens, http_worker, resolve, watched
from tests.trakt_server import FakeTrakt


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state") as s:
        yield s


@pytest.fixture
def fake() -> Iterator[FakeTrakt]:
    with FakeTrakt() as t:
        for n in range(1, 41):
            t.add_movie(f"Movie {n}", 2000, {"trakt": n})
        yield t


class LockedHistory(FakeClient):
    """Trakt answering 423 to the first `locked` writes (reads are fine)."""

    def __init__(self, locked: int) -> None:
        super().__init__()
        self.locked = locked

    def add_history(self, watches: Any) -> Any:
        if self.locked:
            self.locked -= 1
            self.calls.append(("history", list(watches)))
            raise AccountLockedError("HTTP 423: the Trakt account is locked", 423, 120.0)
        return super().add_history(watches)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def writes(fake: FakeTrakt) -> list[Any]:
    return [
        r for r in list(fake.requests) if r.method == "POST" and r.path.startswith(("/sync", "/scrobble"))
    ]


def test_a_stop_goes_by_scrobble_only_inside_the_window_and_later_by_history(store: Store) -> None:
    client = FakeClient()
    w = DeliveryWorker(store, client, resolve, clock=lambda: T0, post_interval=0.0, rand=lambda: 0.0)
    w.submit(watched("fresh", T0 - (STOP_WINDOW - 1), n=1))
    w.submit(watched("stale", T0 - (STOP_WINDOW + 1), n=2))
    assert w.run_once(T0) == 2
    assert [i.ids["trakt"] for _, i, _ in client.sent("scrobble")] == [1]
    [[(item, at)]] = client.sent("history")
    assert (item.ids["trakt"], at.timestamp()) == (2, T0 - (STOP_WINDOW + 1))


def test_a_stop_that_would_reach_trakt_past_the_window_goes_by_history(store: Store) -> None:
    # Sent now it would be stamped after the window once the journey is counted.
    client = FakeClient()
    w = DeliveryWorker(store, client, resolve, clock=lambda: T0, post_interval=0.0, rand=lambda: 0.0)
    ended = T0 - (STOP_WINDOW - TRANSIT / 2)
    w.submit(watched("edge", ended, n=3))
    assert w.run_once(T0) == 1
    assert client.sent("scrobble") == []
    [[(item, at)]] = client.sent("history")
    assert (item.ids["trakt"], at.timestamp()) == (3, ended)


def test_thirty_outage_watches_go_out_in_one_write_soon_after_trakt_is_back(
    store: Store, fake: FakeTrakt
) -> None:
    """The issue's figures: a long outage (every row deep in its back-off), then <= 5 writes, the
    first within 10 s of Trakt's return (found by a cheap GET), every watch with its real time.
    Time is a parameter here; the HTTP is real."""
    clock = Clock(time.time())
    w, client = http_worker(store, fake, Tokens(fake.issue_token()["access_token"]), clock=clock)
    with client:
        fake.set_outage(True)
        ends = []
        for i in range(30):
            ends.append(clock.now)
            w.submit(watched(f"v{i}", clock.now, n=i + 1))
            assert w.run_once() == 0
            clock.now += 10.0
        for _ in range(1800):  # half an hour more of outage, the worker running as it would
            assert w.run_once() == 0
            clock.now += 1.0
        fake.set_outage(False)
        back = clock.now
        before = len(fake.requests)
        delivered = 0
        while delivered < 30 and clock.now < back + 30:
            delivered += w.run_once()
            clock.now += 1.0
        assert delivered == 30
        assert clock.now - back <= PROBE_INTERVAL + 1
    after = list(fake.requests)[before:]
    posts = [r for r in after if r.method == "POST"]
    assert len(posts) <= 5, [r.path for r in posts]
    assert after[0].method == "GET", "Trakt's return is found by a read, not by a write"
    assert sorted(h["at"] for h in fake.history) == pytest.approx(ends, abs=1.0)
    assert {h["source"] for h in fake.history} == {"sync"}


class Down(FakeClient):
    """Trakt unreachable for every call; each call is stamped with the fake clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.stamps: list[tuple[str, float]] = []

    def _maybe_fail(self) -> None:
        self.stamps.append((self.calls[-1][0] if self.calls else "?", self.clock.now))
        raise TransientError("HTTP 503", 503)

    def user_settings(self) -> None:
        self.calls.append(("settings", None))
        self._maybe_fail()


def test_while_trakt_is_down_reads_run_at_most_every_ten_seconds_and_writes_back_off(store: Store) -> None:
    clock = Clock(T0)
    client = Down(clock)
    w = DeliveryWorker(store, client, resolve, clock=clock, post_interval=0.0, rand=lambda: 0.0)
    w.submit(watched("v", T0 - 100))
    for _ in range(3600):  # an hour of outage, the worker running as it would
        w.run_once()
        clock.now += 1.0
    reads = [at for what, at in client.stamps if what in ("get", "settings")]
    writes = [at for what, at in client.stamps if what == "history"]
    assert len(reads) >= 3600 / PROBE_INTERVAL / 2, "Trakt is looked at all through the outage"
    assert all(b - a >= PROBE_INTERVAL for a, b in itertools.pairwise(reads)), reads[:20]
    assert len(writes) <= 12, writes  # a capped exponential back-off, not one POST every few seconds


def test_an_account_limit_fails_the_item_with_the_reason_and_no_retry(store: Store) -> None:
    client = FakeClient(errors=[AccountLimitError("HTTP 420: the Trakt account hit a limit", 420)])
    w = DeliveryWorker(store, client, resolve, clock=lambda: T0, post_interval=0.0, rand=lambda: 0.0)
    w.submit(watched("v", T0 - 100))
    assert w.run_once(T0) == 0
    (row,) = deliveries.rows(store)
    assert row.status == "failed" and "420" in (row.last_error or "")
    assert w.run_once(T0 + 10_000) == 0
    assert len(client.sent("history")) == 1


def test_a_locked_account_pauses_writes_says_so_once_and_tries_every_two_minutes(store: Store) -> None:
    client = LockedHistory(locked=3)
    clock = Clock(T0)
    w = DeliveryWorker(store, client, resolve, clock=clock, post_interval=0.0, rand=lambda: 0.0)
    w.submit(watched("v", T0 - 100))
    with structlog.testing.capture_logs() as logs:
        for _ in range(400):  # 400 s in 1 s steps
            w.run_once()
            clock.now += 1.0
    attempts = client.sent("history")
    assert len(attempts) == 4  # at 0, 120, 240 (locked) and 360 s (unlocked: delivered)
    assert [e["event"] for e in logs].count("trakt_account_locked") == 1
    assert deliveries.rows(store) == []
    assert w.status()["account_locked"] is False


def test_a_vip_only_feature_is_said_once_and_then_off(store: Store) -> None:
    client = FakeClient()
    sent: list[dict[str, Any]] = []

    def rating(payload: dict[str, Any]) -> None:
        sent.append(payload)
        raise VipOnlyError("HTTP 426: this feature needs a Trakt VIP account", 426)

    w = DeliveryWorker(
        store, client, resolve, clock=lambda: T0, post_interval=0.0, handlers={"rating": rating}
    )
    with structlog.testing.capture_logs() as logs:
        w.enqueue("rating", {"n": 1})
        w.run_once(T0)
        w.enqueue("rating", {"n": 2})
        w.run_once(T0)
    assert len(sent) == 1  # the second never asked Trakt
    assert [e["event"] for e in logs].count("trakt_vip_only") == 1
    assert {r.status for r in deliveries.rows(store)} == {"failed"}


def test_an_idle_worker_sleeps_until_woken_and_wakes_for_what_is_due(store: Store) -> None:
    client = FakeClient()
    w = DeliveryWorker(store, client, resolve, clock=lambda: T0, post_interval=0.0)
    assert w._idle_wait() == IDLE_WAIT  # nothing due: no polling
    client.errors = [TransientError("x", 503)] * 3
    w.submit(watched("v", T0 - 100))
    w.run_once(T0)
    assert 0 < w._idle_wait() <= PROBE_INTERVAL  # a probe is due within ten seconds


def test_trakt_client_probe_is_a_get_of_the_account_settings(fake: FakeTrakt) -> None:
    with TraktClient(fake.config(), Tokens(fake.issue_token()["access_token"])) as client:
        client.user_settings()
    assert [(r.method, r.path) for r in fake.requests][-1] == ("GET", "/users/settings")


def test_an_unanswered_send_wakes_the_worker_once_it_has_settled(store: Store) -> None:
    """A send that got no answer stays in flight; the worker must not sleep past the moment it
    may be looked up in Trakt's history (nothing else would wake it)."""
    client = FakeClient(errors=[TransientError("no answer within 3 s")])
    w = DeliveryWorker(
        store, client, resolve, clock=lambda: T0, post_interval=0.0, rand=lambda: 0.0, settle=30.0
    )
    w.submit(watched("v", T0 - 100))
    w.run_once(T0)
    (row,) = deliveries.rows(store)
    assert row.status == "inflight"
    assert w._idle_wait() <= 30.0 + 0.05
