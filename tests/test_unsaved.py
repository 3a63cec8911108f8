"""A watch is never dropped for a local reason: a real full filesystem (a small tmpfs), a database
locked by another connection; the journal read back at the next start."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from scrobblerd.delivery.worker import DeliveryWorker
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.store.deliveries import watch_payload
from scrobblerd.store.unsaved import JOURNAL_NAME
from tests.conftest import SmallDisk
from tests.test_delivery import T0, FakeClient, resolve, watched


def pending(store: Store) -> int:
    return deliveries.counts(store)[deliveries.PENDING]


def events(logs: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    return [entry for entry in logs if entry["event"] == name]


@pytest.fixture
def disk_store(small_disk: SmallDisk) -> Iterator[Store]:
    with Store.open(small_disk.root / "state") as store:
        yield store


def worker_for(store: Store, *extra_journals: Path) -> DeliveryWorker:
    worker = DeliveryWorker(store, FakeClient(), resolve, clock=lambda: T0 + 10)
    worker.unsaved.journals.extend(extra_journals)
    return worker


def test_watches_ended_on_a_full_disk_are_held_logged_once_and_written_when_space_returns(
    small_disk: SmallDisk, disk_store: Store
) -> None:
    worker = worker_for(disk_store)
    assert small_disk.fill() > 0
    with structlog.testing.capture_logs() as logs:
        worker.submit(watched("v1", T0))
        worker.submit(watched("v2", T0 + 1))
    assert len(worker.unsaved) == 2
    assert pending(disk_store) == 0
    [failure] = events(logs, "watch_not_saved")
    assert "full" in str(failure["error"])
    assert "free space" in str(failure["hint"])
    assert worker.status()["unsaved_watches"] == 2
    assert worker.run_once() == 0  # still full: nothing written, nothing raised

    small_disk.free()
    assert worker.unsaved.retry() == 2
    assert pending(disk_store) == 2
    assert worker.status()["unsaved_watches"] == 0
    assert not (small_disk.root / "state" / JOURNAL_NAME).exists()
    assert worker.run_once() == 2


def test_a_clean_shutdown_on_a_full_disk_keeps_the_watch_in_the_runtime_journal_for_the_next_start(
    small_disk: SmallDisk, tmp_path: Path
) -> None:
    runtime = tmp_path / "run" / JOURNAL_NAME
    with Store.open(small_disk.root / "state") as store:
        worker = worker_for(store, runtime)
        small_disk.fill()
        worker.submit(watched("v1", T0))
        with structlog.testing.capture_logs() as logs:
            worker.unsaved.close()
        assert [w["viewing"] for w in worker.unsaved.held()] == ["v1"]
    [said] = events(logs, "watches_not_saved")
    assert said["kept_in"] == str(runtime)
    assert json.loads(runtime.read_text())["viewing"] == "v1"

    small_disk.free()
    with Store.open(small_disk.root / "state") as store:
        worker = worker_for(store, runtime)
        assert worker.unsaved.load_journals() == 1
        assert pending(store) == 1
        assert len(worker.unsaved) == 0
    assert not runtime.exists()


def test_a_clean_shutdown_with_nowhere_to_write_names_each_lost_watch(
    small_disk: SmallDisk, disk_store: Store
) -> None:
    worker = worker_for(disk_store)
    small_disk.fill()
    worker.submit(watched("v1", T0, n=3))
    with structlog.testing.capture_logs() as logs:
        worker.unsaved.close()
    [lost] = events(logs, "watches_lost")
    assert lost["count"] == 1
    assert lost["watches"] == [
        {"what": "Movie 3", "watched_at": "2023-11-14T22:13:20Z", "viewing": "v1", "part": 0}
    ]


def test_a_database_locked_by_another_process_holds_the_watch_until_the_lock_goes(tmp_path: Path) -> None:
    with Store.open(tmp_path, busy_timeout=0.1) as store:
        other = sqlite3.connect(store.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        worker = worker_for(store)
        worker.submit(watched("v1", T0))
        assert len(worker.unsaved) == 1
        assert "locked" in str(worker.status()["unsaved_error"])
        other.execute("COMMIT")
        other.close()
        assert worker.run_once() == 1  # the pass writes it first, then delivers it
        assert len(worker.unsaved) == 0


def test_a_journaled_watch_already_in_the_database_counts_once_and_damaged_lines_are_reported(
    tmp_path: Path,
) -> None:
    journal = tmp_path / JOURNAL_NAME
    with Store.open(tmp_path) as store:
        worker = worker_for(store)
        worker.submit(watched("v1", T0))
        assert pending(store) == 1
        good = [json.dumps(watch_payload(watched(v, T0))) for v in ("v1", "v2")]
        journal.write_text("\n".join([good[0], "{not json", '{"viewing": 1}', good[1]]) + "\n")
        with structlog.testing.capture_logs() as logs:
            assert worker.unsaved.load_journals() == 2
        assert pending(store) == 2
        [damaged] = events(logs, "unsaved_journal_damaged")
        assert damaged["unreadable_lines"] == 2
    assert not journal.exists()
