"""The page served by the real daemon: /api/status is `status --json` and says what a real mpv
plays; /healthz, the status file without the page, a port in use, and no secret anywhere."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import free_port
from tests.e2e.conftest import authorise, mpv_config
from tests.e2e.harness import DaemonProcess, MpvPlayer
from tests.trakt_server import FakeTrakt

pytestmark = pytest.mark.e2e

MATRIX = "The.Matrix.1999.1080p.BluRay.x264.mkv"
SECRETS = {
    "web_token": "page-token-51c0ffee",
    "alert_password": "alert-pw-88d1",
    "vlc_password": "vlc-pw-77e2",
    "client_secret": "client-secret-4b4b4b",
}


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(config: Path) -> DaemonProcess:
        daemon = DaemonProcess(config)
        started.append(daemon)
        assert daemon.wait_event("daemon_ready", 30), daemon.log_text()
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def status_json(config: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "scrobblerd", "--config", str(config), "status", "--json"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def now_playing(report: dict[str, Any]) -> dict[str, Any] | None:
    instances = list(report["players"]["mpv"]["instances"].values())
    assert len(instances) <= 1, instances
    found: dict[str, Any] | None = instances[0]["now_playing"] if instances else None
    return found


def wait_until(check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def without_progress(report: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(report))
    for player in copy["players"].values():
        for instance in player["instances"].values():
            if instance.get("now_playing"):
                instance["now_playing"].pop("progress")
    return copy


def test_api_status_is_status_json_and_says_what_mpv_plays(  # noqa: PLR0917 - fixtures
    tmp_path: Path, trakt: FakeTrakt, mpv_socket: Path, mpv: MpvPlayer, media_dir: Path,
    daemons: Callable[..., DaemonProcess],
) -> None:  # fmt: skip
    authorise(trakt, tmp_path / "state")
    port = free_port()
    config = mpv_config(tmp_path, trakt, mpv_socket, web={"listen": f"127.0.0.1:{port}"})
    daemon = daemons(config)
    assert daemon.wait_event("player_found", 15), daemon.log_text()
    mpv.load(media_dir / MATRIX)
    mpv.wait_playing(MATRIX)
    url = f"http://127.0.0.1:{port}/api/status"
    with http() as web:
        playing = wait_until(lambda: now_playing(web.get(url, timeout=5).json()), 5)
        assert playing is not None
        assert (playing["title"], playing["year"], playing["state"]) == ("The Matrix", 1999, "playing")
        assert playing["path"] == str(media_dir / MATRIX) and 0 <= playing["progress"] < 100
        api = web.get(url, timeout=5).json()
        cli = status_json(config)
        assert without_progress(cli) == without_progress(api)
        assert abs(now_playing(cli)["progress"] - now_playing(api)["progress"]) < 10  # type: ignore[index]
        mpv.set("pause", True)
        paused = wait_until(
            lambda: (now_playing(web.get(url, timeout=5).json()) or {}).get("state") == "paused", 5
        )
        assert paused, web.get(url, timeout=5).json()
        assert now_playing(status_json(config))["state"] == "paused"  # type: ignore[index]
        health = web.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert (health.status_code, health.json()) == (200, {"ok": True})


def test_without_the_page_status_still_says_what_plays_within_seconds(  # noqa: PLR0917 - fixtures
    tmp_path: Path, trakt: FakeTrakt, mpv_socket: Path, mpv: MpvPlayer, media_dir: Path,
    daemons: Callable[..., DaemonProcess],
) -> None:  # fmt: skip
    config = mpv_config(tmp_path, trakt, mpv_socket, web={"enabled": False})
    daemon = daemons(config)
    assert daemon.wait_event("player_found", 15), daemon.log_text()
    mpv.load(media_dir / MATRIX)
    mpv.wait_playing(MATRIX)
    seen = wait_until(lambda: now_playing(status_json(config)), 5)
    assert seen is not None and seen["title"] == "The Matrix" and seen["state"] == "playing"
    assert status_json(config)["daemon"]["running"] is True
    text = subprocess.run(
        [sys.executable, "-m", "scrobblerd", "--config", str(config), "status"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert "playing: The Matrix" in text and "%" in text, text
    assert not daemon.wait_event("web_listening", 0.1)


def test_a_port_in_use_is_logged_once_and_the_daemon_runs_without_the_page(
    tmp_path: Path, trakt: FakeTrakt, daemons: Callable[..., DaemonProcess],
) -> None:  # fmt: skip
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = mpv_config(tmp_path, trakt, tmp_path / "no-mpv.sock", web={"listen": f"127.0.0.1:{port}"})
        daemon = daemons(config)
        assert daemon.wait_event("web_unavailable", 5, listen=f"127.0.0.1:{port}")
        report = status_json(config)
        assert report["daemon"]["running"] is True and report["players"]["mpv"]["enabled"] is True
        assert daemon.proc.poll() is None
        assert daemon.stop() == 0
    assert [r["event"] for r in daemon.lines].count("web_unavailable") == 1


def test_no_secret_on_the_page_in_api_status_or_in_metrics(
    tmp_path: Path, trakt: FakeTrakt, daemons: Callable[..., DaemonProcess],
) -> None:  # fmt: skip
    token = authorise(trakt, tmp_path / "state")
    port = free_port()
    config = mpv_config(
        tmp_path, trakt, tmp_path / "no-mpv.sock",
        web={"listen": f"127.0.0.1:{port}", "token": SECRETS["web_token"]},
        alerts={"urls": [f"json://alice:{SECRETS['alert_password']}@127.0.0.1:9/"]},
        players={"vlc": {"enabled": True, "url": "http://127.0.0.1:9", "password": SECRETS["vlc_password"]}},
    )  # fmt: skip
    sections = yaml.safe_load(config.read_text())
    sections["trakt"]["client_secret"] = SECRETS["client_secret"]
    config.write_text(yaml.safe_dump(sections))
    daemon = daemons(config)
    values = [*SECRETS.values(), token.access_token, token.refresh_token]
    auth = {"Authorization": f"Bearer {SECRETS['web_token']}"}
    with http() as web:
        for path in ("/", "/live", "/api/status", "/metrics", "/healthz", "/app.js"):
            resp = web.get(f"http://127.0.0.1:{port}{path}", headers=auth, timeout=5)
            assert resp.status_code == 200, (path, resp.status_code)
            for value in values:
                assert value not in resp.text and value not in str(resp.headers), (path, value)
        bad = web.get(f"http://127.0.0.1:{port}/api/status", headers={"Authorization": "Bearer x"}, timeout=5)
        assert bad.status_code == 401
    written = (tmp_path / "state" / "status.json").read_text()
    assert not [v for v in values if v in written]
    assert daemon.stop() == 0
    assert not [v for v in values if v in daemon.log_text()]


def test_the_daemon_alerts_once_about_a_watch_that_failed_for_good(
    tmp_path: Path, trakt: FakeTrakt, daemons: Callable[..., DaemonProcess],
) -> None:  # fmt: skip
    from tests.e2e.test_web_browser import seed_failed
    from tests.test_alerts import Receiver

    authorise(trakt, tmp_path / "state")
    seed_failed(
        tmp_path / "state", "/home/Garden.Party.mkv", "Garden Party", "unidentified: garden", time.time()
    )
    receiver: Any = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    receiver.received, receiver.status = [], 200
    thread = threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"json://127.0.0.1:{receiver.server_address[1]}/"
        config = mpv_config(
            tmp_path, trakt, tmp_path / "no-mpv.sock", web={"enabled": False}, alerts={"urls": [url]}
        )
        daemon = daemons(config)
        assert daemon.wait_event("alert", 10, condition="failed", started=True), daemon.log_text()
        assert wait_until(lambda: receiver.received, 5)
        [message] = receiver.received
        assert message["title"] == "scrobblerd" and "Garden Party failed for good" in message["message"]
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_metrics_from_the_real_daemon_count_a_real_viewing(  # noqa: PLR0917 - fixtures
    tmp_path: Path, trakt: FakeTrakt, mpv_socket: Path, mpv: MpvPlayer, media_dir: Path,
    daemons: Callable[..., DaemonProcess],
) -> None:  # fmt: skip
    from prometheus_client.parser import text_string_to_metric_families

    authorise(trakt, tmp_path / "state")
    port = free_port()
    daemon = daemons(mpv_config(tmp_path, trakt, mpv_socket, web={"listen": f"127.0.0.1:{port}"}))
    assert daemon.wait_event("player_found", 15), daemon.log_text()
    mpv.load(media_dir / MATRIX)
    mpv.wait_playing(MATRIX)
    assert trakt.wait_for(lambda t: any(s["action"] == "start" for s in t.scrobbles), 15)
    mpv.seek_percent(95)
    assert trakt.wait_for(lambda t: len(t.history) == 1, 30), trakt.history
    assert daemon.wait_event("watch_scrobbled", 10), daemon.log_text()
    with http() as web:
        text = web.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("scrobblerd_scrobbles_total", (("action", "start"), ("result", "ok")))] >= 1
    assert samples[("scrobblerd_scrobbles_total", (("action", "stop"), ("result", "ok")))] == 1
    assert (
        samples[("scrobblerd_trakt_requests_total", (("endpoint", "scrobble/stop"), ("status", "201")))] == 1
    )
    assert samples[("scrobblerd_identify_total", (("result", "found"), ("source", "search")))] >= 1
    assert samples[("scrobblerd_delivery_latency_seconds_count", ())] >= 2
    assert samples[("scrobblerd_delivery_latency_seconds_bucket", (("le", "30.0"),))] >= 2
    instance = (("instance", f"mpv:{mpv_socket}"), ("player", "mpv"))
    assert samples[("scrobblerd_player_connected", instance)] == 1
    assert samples[("scrobblerd_queue_depth", (("state", "pending"),))] == 0
    assert 0 < samples[("scrobblerd_token_expiry_seconds", ())] <= 90 * 86400


def test_drop_on_the_page_removes_the_row_from_the_real_queue(
    tmp_path: Path, trakt: FakeTrakt, daemons: Callable[..., DaemonProcess],
) -> None:  # fmt: skip
    import re

    from tests.e2e.test_web_browser import seed_failed

    state = tmp_path / "state"
    row = seed_failed(state, "/home/Garden.Party.mkv", "Garden Party", "unidentified: garden", time.time())
    port = free_port()
    daemons(mpv_config(tmp_path, trakt, tmp_path / "no-mpv.sock", web={"listen": f"127.0.0.1:{port}"}))
    base = f"http://127.0.0.1:{port}"
    with http() as web:
        csrf = re.search(r'name=csrf value="([^"]+)"', web.get(base + "/", timeout=5).text)
        assert csrf is not None
        refused = web.post(base + "/queue/drop", data={"id": str(row)}, timeout=5, allow_redirects=False)
        assert refused.status_code == 403
        dropped = web.post(base + "/queue/drop", data={"id": str(row), "csrf": csrf.group(1)}, timeout=5)
        assert dropped.status_code == 200 and f"Queue item {row}: dropped." in dropped.text
        assert f'data-queue-id="{row}"' not in dropped.text
    config = str(tmp_path / "config.yaml")
    listed = subprocess.run(
        [sys.executable, "-m", "scrobblerd", "--config", config, "queue", "list", "--json"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert json.loads(listed.stdout) == []
