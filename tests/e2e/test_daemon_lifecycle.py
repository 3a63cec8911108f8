"""The daemon as systemd runs it: READY, STATUS, WATCHDOG, SIGHUP reloads, SIGTERM stops in time."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import authorise, daemon_config, mpv_config
from tests.e2e.harness import DaemonProcess, NotifySocket
from tests.trakt_server import FakeTrakt

pytestmark = pytest.mark.e2e


def test_ready_status_watchdog_and_clean_stop(
    tmp_path: Path, trakt: FakeTrakt, notify_socket: NotifySocket
) -> None:
    authorise(trakt, tmp_path / "state")
    config = daemon_config(tmp_path, trakt)
    env = {"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "2000000"}
    daemon = DaemonProcess(config, env=env)
    try:
        assert notify_socket.wait_for("READY=1", 20), daemon.log_text()
        assert notify_socket.wait_for("STATUS=", 5)
        assert notify_socket.wait_for("WATCHDOG=1", 5), notify_socket.messages
        status_file = tmp_path / "state" / "status.json"
        assert status_file.exists()
        started = time.monotonic()
        code = daemon.stop(timeout=15)
        took = time.monotonic() - started
    finally:
        daemon.kill()
    assert code == 0, daemon.log_text()
    assert took < 10.0
    assert notify_socket.wait_for("STOPPING=1", 2)
    assert daemon.wait_event("daemon_stopped", 1) is not None


def test_sighup_with_a_bad_config_keeps_the_old_one(tmp_path: Path, trakt: FakeTrakt) -> None:
    config = daemon_config(tmp_path, trakt)
    daemon = DaemonProcess(config)
    try:
        assert daemon.wait_event("daemon_ready", 20), daemon.log_text()
        good = config.read_text()
        config.write_text(good + "scrobble:\n  threshold: 12\n")
        daemon.signal(signal.SIGHUP)
        refused = daemon.wait_event("reload_refused", 10)
        assert refused is not None, daemon.log_text()
        assert any("threshold" in p for p in refused["problems"])
        assert daemon.proc.poll() is None  # still running on the old config
        config.write_text(good.replace("preview_time: 5", "preview_time: 7"))
        daemon.signal(signal.SIGHUP)
        assert daemon.wait_event("config_reloaded", 10) is not None, daemon.log_text()
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_a_bad_config_at_start_exits_78(tmp_path: Path, trakt: FakeTrakt) -> None:
    config = daemon_config(tmp_path, trakt, scrobble={"threshold": 12})
    daemon = DaemonProcess(config)
    try:
        code = daemon.proc.wait(30)
    finally:
        daemon.kill()
    assert code == 78
    assert "scrobble.threshold" in daemon.log_text()


def test_status_reads_the_running_daemon(tmp_path: Path, trakt: FakeTrakt) -> None:
    import json
    import subprocess
    import sys

    authorise(trakt, tmp_path / "state")
    config = daemon_config(
        tmp_path,
        trakt,
        players={"mpv": {"enabled": False}, "vlc": {"enabled": True, "url": "http://127.0.0.1:9"}},
    )
    daemon = DaemonProcess(config)
    try:
        assert daemon.wait_event("daemon_ready", 20), daemon.log_text()
        out = subprocess.run(
            [sys.executable, "-m", "scrobblerd", "--config", str(config), "status", "--json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        report = json.loads(out.stdout)
        assert report["authorized"] is True
        assert report["username"] == "ann"
        assert report["daemon"]["running"] is True
        assert report["players"]["vlc"] == {
            "enabled": True,
            "connected": False,
            "instances": report["players"]["vlc"]["instances"],
        }
        assert report["players"]["mpv"]["enabled"] is False
        assert report["queue_depth"] == 0
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_sigterm_while_playing_past_the_threshold_keeps_the_watch(
    tmp_path: Path, trakt: FakeTrakt, media_dir: Path
) -> None:
    """SIGTERM closes the open viewing: past 80 % it is a watch, committed before the daemon exits."""
    from tests.live.run_mpv import MpvProcess

    authorise(trakt, tmp_path / "state")
    sock = tmp_path / "mpv.sock"
    config = daemon_config(tmp_path, trakt, players={"mpv": {"enabled": True, "ipc_path": str(sock)}})
    with MpvProcess(sock) as mpv:
        mpv.loadfile(media_dir / "The.Matrix.1999.1080p.BluRay.x264.mkv")
        mpv.wait_playing()
        daemon = DaemonProcess(config)
        try:
            assert trakt.wait_for(lambda t: any(s["action"] == "start" for s in t.scrobbles), 20), (
                daemon.log_text()
            )
            mpv.command("seek", 88, "absolute-percent+exact")
            assert daemon.wait_event("scrobble_decided", 10, action="start", player=f"mpv:{sock}") is not None
            assert trakt.wait_for(lambda t: any(s["progress"] >= 85 for s in t.scrobbles), 10), (
                trakt.scrobbles
            )
            started = time.monotonic()
            code = daemon.stop(timeout=15)
            took = time.monotonic() - started
        finally:
            daemon.kill()
    assert code == 0, daemon.log_text()
    assert took < 10.0
    watched = daemon.wait_event("scrobble_decided", 1, action="stop", watched=True)
    assert watched is not None, daemon.log_text()
    assert watched["progress"] >= 85
    # Either Trakt already has it, or it waits in the durable queue for the next start.
    import sqlite3
    from contextlib import closing

    in_history = [
        h for h in trakt.history if h["ids"].get("imdb") == "tt0133093" or h["ids"].get("trakt") == 481
    ]
    with closing(sqlite3.connect(tmp_path / "state" / "scrobblerd.db")) as db:
        queued = db.execute("SELECT COUNT(*) FROM queue WHERE kind = 'watch'").fetchone()[0]
    assert len(in_history) + queued == 1, (trakt.history, queued)


def test_watches_wait_for_a_login_and_go_out_right_after_it(
    tmp_path: Path, trakt: FakeTrakt, media_dir: Path
) -> None:
    """`pip install . && scrobblerd run` before `scrobblerd auth`: the watch waits in the queue and
    is delivered within seconds of the login written by another process."""
    from tests.live.run_mpv import MpvProcess

    sock = tmp_path / "mpv.sock"
    config = daemon_config(tmp_path, trakt, players={"mpv": {"enabled": True, "ipc_path": str(sock)}})
    with MpvProcess(sock) as mpv:
        daemon = DaemonProcess(config)
        try:
            assert daemon.wait_event("daemon_ready", 20), daemon.log_text()
            assert daemon.wait_event("player_found", 10) is not None
            mpv.loadfile(media_dir / "The.Matrix.1999.1080p.BluRay.x264.mkv")
            mpv.wait_playing()
            assert daemon.wait_event("scrobble_decided", 10, action="start") is not None, daemon.log_text()
            mpv.command("seek", 97, "absolute-percent+exact")
            assert daemon.wait_event("watch_queued", 20) is not None, daemon.log_text()
            assert daemon.wait_event("delivery_paused_unauthorized", 10) is not None
            assert trakt.history == []
            authorise(trakt, tmp_path / "state")
            logged_in = time.monotonic()
            assert trakt.wait_for(lambda t: len(t.history) == 1, 15), daemon.log_text()
            assert time.monotonic() - logged_in < 10
            assert daemon.stop() == 0
        finally:
            daemon.kill()


def test_a_new_user_is_told_at_start_what_is_missing(
    tmp_path: Path, trakt: FakeTrakt, mpv_socket: Path
) -> None:
    """`scrobblerd run` before `scrobblerd auth`, with no mpv running: the log says once that
    watches wait until `scrobblerd auth`, and that mpv needs --input-ipc-server."""
    config = mpv_config(tmp_path, trakt, mpv_socket)
    daemon = DaemonProcess(config)
    try:
        assert daemon.wait_event("daemon_ready", 20) is not None, daemon.log_text()
        login = daemon.wait_event("trakt_not_authorised", 5)
        assert login is not None, daemon.log_text()
        assert login["hint"] == "run `scrobblerd auth`" and "wait in the queue" in login["detail"]
        waiting = daemon.wait_event("player_waiting", 5)
        assert waiting is not None, daemon.log_text()
        assert waiting["hint"] == f"start mpv with --input-ipc-server={mpv_socket}"
        assert daemon.stop(timeout=15) == 0
    finally:
        daemon.kill()
    events = [line for line in daemon.log_text().splitlines() if "trakt_not_authorised" in line]
    assert len(events) == 1  # said once, not on every retry
