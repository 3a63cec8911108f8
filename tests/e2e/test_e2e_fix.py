"""`scrobblerd identify --fix` end to end: a watch the daemon could not identify fails visibly; the
fix (a separate CLI process) corrects it and the running daemon delivers it with its real time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scrobblerd.models import ActionKind, MediaRef, ScrobbleAction
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from tests.e2e.conftest import authorise, daemon_config
from tests.e2e.harness import DaemonProcess
from tests.trakt_server import FakeTrakt

pytestmark = pytest.mark.e2e

HOME_VIDEO = "/home/ann/Videos/movie night final cut.mkv"  # not a title Trakt knows


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("scrobblerd")
    cmd = [exe] if exe else [sys.executable, "-m", "scrobblerd"]
    return subprocess.run(
        [*cmd, "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ},
    )


def test_a_failed_watch_becomes_a_delivered_one_after_a_fix(tmp_path: Path, trakt: FakeTrakt) -> None:
    state = tmp_path / "state"
    authorise(trakt, state)
    config = daemon_config(tmp_path, trakt)
    watched_at = float(int(time.time()) - 3600)  # an hour ago: delivered by /sync/history with this time
    media = MediaRef(path=HOME_VIDEO, title="movie night final cut.mkv")
    with Store.open(state) as store:
        queue_id = deliveries.enqueue_watch(
            store,
            ScrobbleAction(ActionKind.STOP, "mpv:/tmp/x", "v1", media, 97.0, watched_at, watched=True),
            0.0,
        )
    assert queue_id is not None

    daemon = DaemonProcess(config)
    try:
        failed = daemon.wait_event("watch_unidentified", 30, queue_id=queue_id)
        assert failed is not None, daemon.log_text()
        listed = json.loads(cli(config, "queue", "list", "--json").stdout)
        assert [(r["id"], r["status"]) for r in listed] == [(queue_id, "failed")]

        fixed = cli(config, "identify", "--fix", str(queue_id), "https://trakt.tv/movies/the-matrix-1999")
        assert fixed.returncode == 0, fixed.stderr
        assert "The Matrix (1999)" in fixed.stdout and f"watch(es) {queue_id}" in fixed.stdout

        delivered = trakt.wait_for(lambda t: any(h["ids"].get("trakt") == 481 for h in t.history), 30)
        assert delivered, daemon.log_text()
        (entry,) = [h for h in trakt.history if h["ids"].get("trakt") == 481]
        assert entry["at"] == watched_at and entry["source"] == "sync"  # POST /sync/history, the real time
        assert json.loads(cli(config, "queue", "list", "--json").stdout) == []
    finally:
        assert daemon.stop() == 0, daemon.log_text()

    (record,) = json.loads(cli(config, "history", "--json").stdout)
    assert record["delivered"] is True and record["title"] == "The Matrix" and record["ids"]["trakt"] == 481
    assert record["source"] == "override" and "fix #1" in record["reason"]
    assert "override: fix #1" in cli(config, "history").stdout

    listed_fixes = cli(config, "identify", "--fix", "--list")
    assert listed_fixes.returncode == 0 and HOME_VIDEO in listed_fixes.stdout
    shown = json.loads(cli(config, "identify", "--json", HOME_VIDEO).stdout)
    assert shown[0]["ids"]["trakt"] == 481 and shown[0]["source"] == "override"
    assert cli(config, "identify", "--fix", "--remove", "1").returncode == 0
    assert json.loads(cli(config, "identify", "--fix", "--list", "--json").stdout) == []
