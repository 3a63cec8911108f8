"""The queue: the pure retry schedule, dedupe, listing, retry and drop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scrobblerd.models import ActionKind, MediaRef, ScrobbleAction
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.store.deliveries import BACKOFF_BASE, BACKOFF_CAP, next_attempt


def watch(viewing: str, at: float = 1_700_000_000.0, part: int = 0) -> ScrobbleAction:
    media = MediaRef(
        path="/v/Breaking.Bad.S01E02.mkv", kind="episode", show_title="Breaking Bad", season=1, episode=2
    )
    return ScrobbleAction(ActionKind.STOP, "mpv:/tmp/s", viewing, media, 97.0, at, watched=True, part=part)


@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0, max_value=1, exclude_max=True))
def test_next_attempt_is_in_the_future_and_capped(attempts: int, rand: float) -> None:
    at = next_attempt(attempts, 1000.0, rand)
    assert 1000.0 + BACKOFF_BASE / 2 <= at <= 1000.0 + BACKOFF_CAP


def test_next_attempt_grows_exponentially_until_the_cap() -> None:
    delays = [next_attempt(n, 0.0, 0.999999) for n in range(1, 12)]
    assert delays[0] < delays[1] < delays[2] < delays[3]
    assert delays[1] / delays[0] > 1.9
    assert max(delays) <= BACKOFF_CAP and delays[-1] > BACKOFF_CAP * 0.99


def test_jitter_spreads_retries() -> None:
    assert next_attempt(5, 0.0, 0.0) < next_attempt(5, 0.0, 0.5) < next_attempt(5, 0.0, 0.99)


def test_same_viewing_is_queued_once_and_a_rewatch_again(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        assert deliveries.enqueue_watch(store, watch("v1"), 10.0) is not None
        assert deliveries.enqueue_watch(store, watch("v1"), 11.0) is None
        assert deliveries.enqueue_watch(store, watch("v1", part=1), 11.0) is not None
        assert deliveries.enqueue_watch(store, watch("v2"), 12.0) is not None
        assert deliveries.counts(store) == {"pending": 3, "inflight": 0, "failed": 0}
        assert len(store.history(10)) == 3


def test_due_order_and_the_list_json_shape(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        deliveries.enqueue_watch(store, watch("late", at=2000.0), 5.0)
        deliveries.enqueue_watch(store, watch("early", at=1000.0), 6.0)
        rows = deliveries.due(store, 10.0)
        assert [r.payload["viewing"] for r in rows] == ["early", "late"]
        assert deliveries.due(store, 4.0) == []
        data = rows[0].to_json()
        assert set(data) >= {"id", "kind", "item", "attempts", "next_attempt_at", "last_error"}
        assert data["kind"] == "watch" and data["attempts"] == 0 and data["last_error"] is None
        assert data["next_attempt_at"] == "1970-01-01T00:00:06Z"
        assert data["item"]["title"] == "Breaking Bad" and data["item"]["season"] == 1
        assert data["item"]["identified"] is False


def test_fail_retry_and_drop(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        a = deliveries.enqueue_watch(store, watch("a"), 1.0)
        b = deliveries.enqueue_watch(store, watch("b"), 1.0)
        assert a is not None and b is not None
        with store.write() as conn:
            deliveries.fail(conn, [a], "permanent: 404")
            deliveries.reschedule(conn, [b], "503", 500.0)
        assert deliveries.get(store, a).status == "failed"  # type: ignore[union-attr]
        assert deliveries.due(store, 100.0) == []
        assert deliveries.retry(store, 100.0, a) == 1
        row = deliveries.get(store, a)
        assert row is not None and row.status == "pending" and row.attempts == 0
        assert deliveries.retry(store, 100.0) == 2  # no id: everything waiting becomes due now
        assert [r.id for r in deliveries.due(store, 100.0)] == [a, b]
        assert deliveries.drop(store, a) and not deliveries.drop(store, a)
        assert deliveries.counts(store)["pending"] == 1
        assert store.history_get("a") is not None  # the local record stays


def test_other_kinds_with_a_dedupe_key(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        assert deliveries.enqueue(store, "rating", {"rating": 9}, 1.0, dedupe="rating:481") is not None
        assert deliveries.enqueue(store, "rating", {"rating": 8}, 1.0, dedupe="rating:481") is None
        (row,) = deliveries.rows(store)
        assert row.to_json()["item"] == {"rating": 9}
        assert deliveries.next_due_at(store) == 1.0


# ---- the commands, as subprocesses (the daemon may hold the database meanwhile) -----------------

ROOT = Path(__file__).resolve().parent.parent


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scrobblerd", "--config", str(config), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\n")
    return path


def test_cli_queue_and_history(config: Path, tmp_path: Path) -> None:
    assert cli(config, "queue", "list").stdout.startswith("The queue is empty")
    with Store.open(tmp_path / "state") as store:  # held open, as the daemon would
        a = deliveries.enqueue_watch(store, watch("a", at=1_700_000_000.0), 1.0)
        b = deliveries.enqueue_watch(store, watch("b", at=1_700_000_100.0), 1.0)
        assert a is not None and b is not None
        with store.write() as conn:
            deliveries.fail(conn, [a], "not_found: Trakt does not know this item")

        listed = cli(config, "queue", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        data = json.loads(listed.stdout)
        assert [d["id"] for d in data] == [a, b]
        for d in data:
            assert set(d) >= {"id", "kind", "item", "attempts", "next_attempt_at", "last_error"}
            assert isinstance(d["next_attempt_at"], str) and d["kind"] == "watch"
        assert data[0]["last_error"].startswith("not_found") and data[0]["attempts"] == 1

        human = cli(config, "queue")
        assert "failed" in human.stdout and "Breaking Bad" in human.stdout and "queue retry" in human.stdout

        retried = cli(config, "queue", "retry", str(a))
        assert retried.returncode == 0 and "1 item" in retried.stdout
        assert deliveries.get(store, a).status == "pending"  # type: ignore[union-attr]
        assert cli(config, "queue", "retry", "999").returncode == 1

        dropped = cli(config, "queue", "drop", str(b))
        assert dropped.returncode == 0
        assert cli(config, "queue", "drop", str(b)).returncode == 1
        assert [r.id for r in deliveries.rows(store)] == [a]

        hist = cli(config, "history", "--json", "--limit", "1")
        assert hist.returncode == 0, hist.stderr
        (entry,) = json.loads(hist.stdout)
        assert entry == {
            "watched_at": "2023-11-14T22:15:00Z",
            "type": "episode",
            "title": "Breaking Bad",
            "year": None,
            "season": 1,
            "episode": 2,
            "ids": {},
            "delivered": False,
            "source": None,
            "reason": None,
        }
        assert "Breaking Bad S01E02" in cli(config, "history").stdout
        assert cli(config, "history", "--limit", "0").returncode == 2
