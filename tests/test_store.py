"""The SQLite store: schema, migrations, corruption handling, cache, history, kv."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import structlog

from scrobblerd.errors import StoreError
from scrobblerd.models import ActionKind, MediaRef, Movie, ScrobbleAction
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.store.history import history_identify
from scrobblerd.store.schema import DB_NAME, SCHEMA_VERSION


def watch(viewing: str, at: float = 1_700_000_000.0, path: str = "/v/The.Matrix.1999.mkv") -> ScrobbleAction:
    media = MediaRef(path=path, title="The Matrix", kind="movie", year=1999)
    return ScrobbleAction(ActionKind.STOP, "mpv:/tmp/s", viewing, media, 95.0, at, watched=True)


def test_open_creates_wal_database_with_schema(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Store.open(state) as store:
        assert (state / DB_NAME).exists()
        assert state.stat().st_mode & 0o777 == 0o700
        with store.read() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"queue", "history", "id_cache", "kv", "schema_version"} <= tables


def test_reopen_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.kv_put("k", {"a": 1})
    with Store.open(tmp_path) as store:
        assert store.kv_get("k") == {"a": 1}
        assert store.kv_get("missing") is None


def test_newer_schema_is_refused_not_destroyed(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store, store.write() as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="newer"):
        Store.open(tmp_path)
    assert (tmp_path / DB_NAME).exists()


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["garbage", "header"],
)
def test_corrupt_database_is_moved_aside_and_replaced(tmp_path: Path, content: bytes) -> None:
    (tmp_path / DB_NAME).write_bytes(content)
    (tmp_path / (DB_NAME + "-wal")).write_bytes(b"junk")
    with Store.open(tmp_path) as store:
        assert deliveries.counts(store) == {"pending": 0, "inflight": 0, "failed": 0}
        assert deliveries.enqueue_watch(store, watch("v1"), 1.0) is not None
    aside = sorted(p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name)
    assert aside[0].startswith(DB_NAME + ".corrupt-")
    assert (tmp_path / aside[0]).read_bytes() == content
    assert (
        not (tmp_path / (DB_NAME + "-wal")).exists()
        or (tmp_path / (DB_NAME + "-wal")).read_bytes() != b"junk"
    )


def test_corrupted_pages_are_detected(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        for i in range(300):
            deliveries.enqueue_watch(store, watch(f"v{i}", path=f"/v/{i:04d}" + "x" * 200), float(i))
        with store.read() as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            # The second leaf page of the queue table (SQLite's dbstat names every page's owner).
            leaves = conn.execute(
                "SELECT pageno FROM dbstat WHERE name = 'queue' AND pagetype = 'leaf' ORDER BY pageno"
            ).fetchall()
    assert len(leaves) >= 3
    db = tmp_path / DB_NAME
    data = bytearray(db.read_bytes())
    page, smashed = 4096, leaves[1][0]
    data[page * (smashed - 1) : page * smashed] = b"\x5a" * page
    db.write_bytes(bytes(data))
    with structlog.testing.capture_logs() as logs, Store.open(tmp_path) as store:
        pending = deliveries.counts(store)["pending"]
        history = len(store.history(limit=1000))
    [salvaged] = [e for e in logs if e["event"] == "store_salvaged"]
    assert 250 < pending < 300  # the rows on the smashed page are gone, the others carried over
    assert salvaged["rows_saved"]["queue"] == pending
    assert salvaged["rows_saved"]["history"] == history > 0
    assert Path(salvaged["damaged_copy"]).exists()
    assert any(".corrupt-" in p.name for p in tmp_path.iterdir())


def test_one_damaged_page_at_the_end_loses_no_queued_watch(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        for i in range(50):
            deliveries.enqueue_watch(store, watch(f"v{i}"), float(i))
        for i in range(400):  # the identification cache fills the last pages
            store.cache_put(f"movie:{i}", {"trakt": i, "pad": "x" * 300}, ttl=60)
        with store.read() as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = tmp_path / DB_NAME
    data = bytearray(db.read_bytes())
    data[-4096:] = b"\x5a" * 4096
    db.write_bytes(bytes(data))
    with structlog.testing.capture_logs() as logs, Store.open(tmp_path) as store:
        assert deliveries.counts(store)["pending"] == 50
        assert len(store.history(limit=100)) == 50
        assert store.cache_get("movie:1") is None  # the cache is not carried: it refills
    [salvaged] = [e for e in logs if e["event"] == "store_salvaged"]
    assert salvaged["rows_saved"]["queue"] == 50
    damaged = Path(salvaged["damaged_copy"])
    assert damaged.read_bytes() == bytes(data)  # kept as it was found
    assert not any(p.name.startswith(".salvage-") for p in tmp_path.iterdir())


def test_cache_put_get_expire_delete_clear(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.cache_put("movie:matrix:1999", {"trakt": 481}, ttl=60, now=1000.0)
        assert store.cache_get("movie:matrix:1999", now=1059.0) == {"trakt": 481}
        assert store.cache_get("movie:matrix:1999", now=1060.0) is None
        assert store.cache_purge(now=1060.0) == 1
        store.cache_put("a", {"x": 1}, ttl=10)
        store.cache_put("b", {"x": 2}, ttl=10)
        store.cache_delete("a")
        assert store.cache_get("a") is None
        assert store.cache_clear() == 1
        assert store.cache_get("b") is None


def test_history_records_identification_and_newest_first(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        deliveries.enqueue_watch(store, watch("old", at=1000.0), 1.0)
        deliveries.enqueue_watch(store, watch("new", at=2000.0), 1.0)
        store.identified_put("/v/The.Matrix.1999.mkv", 0, "search", "exact title and year")
        with store.write() as conn:
            history_identify(conn, "new", 0, Movie("The Matrix", 1999, {"trakt": 481}))
        recs = store.history(limit=10)
        assert [r.viewing for r in recs] == ["new", "old"]
        assert recs[0].to_json() == {
            "watched_at": "1970-01-01T00:33:20Z",
            "type": "movie",
            "title": "The Matrix",
            "year": 1999,
            "season": None,
            "episode": None,
            "ids": {"trakt": 481},
            "delivered": False,
            "source": "search",
            "reason": "exact title and year",
        }
        assert recs[0].item == {"type": "movie", "title": "The Matrix", "year": 1999, "ids": {"trakt": 481}}
        assert store.history(limit=1)[0].viewing == "new"


def test_two_connections_write_concurrently(tmp_path: Path) -> None:
    """The daemon and the CLI each have a connection; writers wait for each other (busy timeout)."""
    a, b = Store.open(tmp_path), Store.open(tmp_path)
    try:
        errors: list[BaseException] = []

        def writer(store: Store, prefix: str) -> None:
            try:
                for i in range(100):
                    deliveries.enqueue_watch(store, watch(f"{prefix}{i}"), float(i))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(s, p)) for s, p in ((a, "a"), (b, "b"), (a, "c"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors
        assert deliveries.counts(b)["pending"] == 300
    finally:
        a.close()
        b.close()


def test_a_locked_database_is_not_mistaken_for_corruption(tmp_path: Path) -> None:
    with Store.open(tmp_path):
        pass
    holder = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreError):
            Store.open(tmp_path, busy_timeout=0.2, lock_wait=0.5)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    assert not any(".corrupt-" in p.name for p in tmp_path.iterdir())


def test_a_database_locked_longer_than_the_busy_timeout_is_waited_for_visibly(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    other = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(1.0, lambda: other.execute("COMMIT"))
    release.start()
    try:
        with structlog.testing.capture_logs() as logs, Store.open(tmp_path, busy_timeout=0.2, lock_wait=10):
            pass
    finally:
        release.join()
        other.close()
    waits = [e for e in logs if e["event"] == "store_locked_waiting"]
    assert 1 <= len(waits) <= 8
    assert waits[0]["attempt"] == 1


def test_a_database_locked_past_the_wait_is_a_store_error_that_says_so(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    other = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match=r"locked.*try again when it is done"):
            Store.open(tmp_path, busy_timeout=0.1, lock_wait=0.3)
    finally:
        other.close()
