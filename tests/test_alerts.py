"""Alerts: each condition once when it starts and once when it clears, sent through real Apprise to a
real HTTP server on 127.0.0.1; the daemon's facts from a real queue; Apprise never loaded unused."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from scrobblerd.config.settings import AlertsConfig, Config
from scrobblerd.daemon.view import DaemonView
from scrobblerd.models import ActionKind, MediaRef, ScrobbleAction
from scrobblerd.notify import alerts
from scrobblerd.notify.alerts import Alerter, transitions
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server: Any = self.server
        server.received.append(json.loads(body))
        self.send_response(server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.received, server.status = [], 200
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_condition_is_announced_once_when_it_starts_and_once_when_it_clears() -> None:
    active, out = transitions({}, {alerts.REAUTH: "log in again", alerts.FAILED: None})
    assert [(m.condition, m.started) for m in out] == [(alerts.REAUTH, True)]
    active, out = transitions(active, {alerts.REAUTH: "log in again (still)"})
    assert out == []
    active, out = transitions(active, {alerts.REAUTH: None})
    assert [(m.condition, m.started) for m in out] == [(alerts.REAUTH, False)] and active == {}


def test_alerts_reach_a_real_service_through_apprise(receiver: Any) -> None:
    alerter = Alerter([f"json://127.0.0.1:{receiver.server_address[1]}/"])
    alerter.update({alerts.FAILED: "The Matrix failed for good"})
    alerter.update({alerts.FAILED: "The Matrix failed for good"})
    alerter.update({alerts.FAILED: None})
    bodies = [(r["title"], r["message"]) for r in receiver.received]
    assert bodies == [
        ("scrobblerd", "The Matrix failed for good"),
        ("scrobblerd", "Resolved: " + alerts.CLEARED[alerts.FAILED]),
    ]


def test_an_alert_the_service_refused_is_sent_again_at_the_next_update(receiver: Any) -> None:
    alerter = Alerter([f"json://127.0.0.1:{receiver.server_address[1]}/"])
    receiver.status = 500
    alerter.update({alerts.ACCOUNT: "locked"})
    receiver.status = 200
    alerter.update({alerts.ACCOUNT: "locked"})
    alerter.update({alerts.ACCOUNT: "locked"})
    assert [r["message"] for r in receiver.received] == ["locked", "locked"]


def test_without_urls_apprise_is_never_imported() -> None:
    code = (
        "import sys\nimport scrobblerd.daemon.lifecycle\nfrom scrobblerd.notify.alerts import Alerter\n"
        "a = Alerter([])\nassert a.update({'failed': 'x'}) == []\nassert 'apprise' not in sys.modules\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr


def watched(viewing: str, at: float) -> ScrobbleAction:
    media = MediaRef(path=f"/v/{viewing}.mkv", title=viewing)
    return ScrobbleAction(ActionKind.STOP, "mpv:/s", viewing, media, 95.0, at, watched=True)


def test_the_daemon_reports_failed_old_and_locked_watches(tmp_path: Path) -> None:
    now = time.time()
    with Store.open(tmp_path / "state") as store:
        deliveries.enqueue_watch(store, watched("Old.Film", now - 7 * 3600), now - 7 * 3600)
        failed = deliveries.enqueue_watch(store, watched("Home.Video", now), now)
        assert failed is not None
        with store.write() as conn:
            deliveries.fail(conn, [failed], "permanent: sync/history: the Trakt account hit a limit: 420")
        status = {"last_error": None, "paused_for_auth": False}
        config = Config(state_dir=tmp_path / "state", alerts=AlertsConfig(queue_age=6 * 3600))
        daemon = SimpleNamespace(
            config=config,
            services=SimpleNamespace(store=store, delivery=SimpleNamespace(status=lambda: status)),
        )
        facts = DaemonView(daemon).alert_facts()  # type: ignore[arg-type]
    assert facts[alerts.REAUTH] is None
    assert facts[alerts.FAILED] is not None and "Home.Video" in facts[alerts.FAILED]
    assert facts[alerts.QUEUE_AGE] is not None and "7.0 h" in facts[alerts.QUEUE_AGE]
    assert facts[alerts.ACCOUNT] is not None and "hit a limit" in facts[alerts.ACCOUNT]
