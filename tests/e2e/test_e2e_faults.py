"""Hostile conditions end to end: the real daemon, a real mpv and the Trakt-like server, with
`state_dir` on a real small filesystem (a tmpfs) that the test fills to the last byte."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scrobblerd.models import ActionKind, MediaRef, ScrobbleAction
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from tests.conftest import SmallDisk, mount_small_disk, unmount
from tests.e2e.conftest import MATRIX_IDS, authorise, daemon_config, mpv_config
from tests.e2e.harness import DaemonProcess, MpvPlayer
from tests.trakt_server import FakeTrakt

pytestmark = pytest.mark.e2e

MATRIX = "The.Matrix.1999.1080p.BluRay.x264.mkv"
WATCHED_AT_SLACK = 3.0  # seconds between the real end and the watched_at Trakt records


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    small = mount_small_disk(tmp_path / "disk", 4096)
    yield small
    unmount(small)


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(config: Path, **kwargs: Any) -> DaemonProcess:
        daemon = DaemonProcess(config, **kwargs)
        started.append(daemon)
        assert daemon.wait_event("daemon_ready", 30), daemon.log_text()
        assert daemon.wait_event("player_found", 15), daemon.log_text()
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


def status_json(config: Path) -> dict[str, Any]:
    exe = shutil.which("scrobblerd")
    cmd = [exe] if exe else [sys.executable, "-m", "scrobblerd"]
    done = subprocess.run(
        [*cmd, "--config", str(config), "status", "--json"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)  # each check runs `scrobblerd status`: a poll, not a sleep standing in for a wait
    return True


def watch_matrix_to_the_end(daemon: DaemonProcess, mpv: MpvPlayer, trakt: FakeTrakt, media: Path) -> float:
    mpv.load(media / MATRIX)
    mpv.wait_playing(MATRIX)
    started = trakt.wait_for(lambda t: any(s["action"] == "start" for s in t.scrobbles), 15)
    assert started, daemon.log_text()
    mpv.seek_percent(95)
    return mpv.wait_idle(30)


def test_a_watch_that_ends_on_a_full_disk_is_delivered_once_space_is_freed(  # noqa: PLR0917
    tmp_path: Path, disk: SmallDisk, daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path, mpv_socket: Path,
) -> None:  # fmt: skip
    state = disk.root / "state"
    authorise(trakt, state)
    config = mpv_config(tmp_path, trakt, mpv_socket, state_dir=str(state), log={"level": "info"})
    # A short delivery grace: a watch written late goes by /sync/history with its real time.
    daemon = daemons(config, delivery_grace=2.0)
    assert disk.fill() > 0

    ended = watch_matrix_to_the_end(daemon, mpv, trakt, media_dir)
    failure = daemon.wait_event("watch_not_saved", 15)
    assert failure is not None, daemon.log_text()
    assert "full" in failure["error"]
    assert trakt.history == []
    assert daemon.wait_log(lambda r: r.get("event") == "dispatch_failed", 1) is None
    # The status file is rewritten every few seconds, in place when the disk has no room.
    assert wait_until(lambda: status_json(config)["unsaved_watches"] == 1, 15), daemon.log_text()
    assert "full" in status_json(config)["unsaved_error"]

    disk.free()
    assert daemon.wait_event("unsaved_watches_saved", 15, count=1), daemon.log_text()
    assert trakt.wait_for(lambda t: len(t.history) >= 1, 30), trakt.history
    [entry] = trakt.history
    assert entry["item"]["movie"]["ids"]["trakt"] == MATRIX_IDS["trakt"]
    assert abs(entry["at"] - ended) <= WATCHED_AT_SLACK
    assert daemon.stop() == 0
    assert len(trakt.history) == 1
    assert "Traceback" not in daemon.log_text()


def test_a_clean_stop_on_a_full_disk_keeps_the_watch_for_the_next_start(  # noqa: PLR0917
    tmp_path: Path, disk: SmallDisk, daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path, mpv_socket: Path,
) -> None:  # fmt: skip
    state, runtime = disk.root / "state", tmp_path / "runtime"
    authorise(trakt, state)
    config = mpv_config(tmp_path, trakt, mpv_socket, state_dir=str(state), log={"level": "info"})
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    first = daemons(config, env=env, delivery_grace=2.0)
    disk.fill()
    ended = watch_matrix_to_the_end(first, mpv, trakt, media_dir)
    assert first.wait_event("watch_not_saved", 15), first.log_text()
    assert first.stop() == 0
    said = first.wait_event("watches_not_saved", 1)
    assert said is not None, first.log_text()
    assert said["kept_in"] == str(runtime / "scrobblerd" / "unsaved-watches.jsonl")
    assert said["watches"][0]["what"] == MATRIX  # what mpv called it
    assert trakt.history == []

    disk.free()
    second = daemons(config, env=env, delivery_grace=2.0)
    assert second.wait_event("unsaved_watches_found", 10, count=1), second.log_text()
    assert trakt.wait_for(lambda t: len(t.history) >= 1, 30), trakt.history
    assert abs(trakt.history[0]["at"] - ended) <= WATCHED_AT_SLACK
    assert second.stop() == 0
    assert len(trakt.history) == 1
    assert not (runtime / "scrobblerd" / "unsaved-watches.jsonl").exists()


def test_a_queued_watch_in_a_damaged_database_is_salvaged_and_delivered(
    tmp_path: Path, trakt: FakeTrakt
) -> None:
    state = tmp_path / "state"
    authorise(trakt, state)
    watched_at = time.time() - 3600  # an hour ago: it goes by /sync/history with this time
    media = MediaRef(path="/v/The.Matrix.1999.1080p.mkv", title="The Matrix", kind="movie", year=1999)
    with Store.open(state) as store:
        watch = ScrobbleAction(ActionKind.STOP, "mpv:x", "v1", media, 97.0, watched_at, watched=True)
        deliveries.enqueue_watch(store, watch, watched_at)
        for i in range(400):  # the identification cache fills the last pages
            store.cache_put(f"movie:{i}", {"trakt": i, "pad": "x" * 300}, ttl=3600)
        with store.read() as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = state / "scrobblerd.db"
    data = bytearray(db.read_bytes())
    data[-4096:] = b"\x5a" * 4096  # one damaged page at the end
    db.write_bytes(bytes(data))

    daemon = DaemonProcess(daemon_config(tmp_path, trakt))
    try:
        salvaged = daemon.wait_event("store_salvaged", 30)
        assert salvaged is not None, daemon.log_text()
        assert salvaged["rows_saved"]["queue"] == 1
        assert Path(salvaged["damaged_copy"]).read_bytes() == bytes(data)
        assert trakt.wait_for(lambda t: len(t.history) >= 1, 30), daemon.log_text()
        [entry] = trakt.history
        assert entry["item"]["movie"]["ids"]["trakt"] == MATRIX_IDS["trakt"]
        assert abs(entry["at"] - watched_at) <= WATCHED_AT_SLACK
        assert daemon.stop() == 0
    finally:
        daemon.kill()
