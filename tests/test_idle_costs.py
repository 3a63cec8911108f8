"""What an idle daemon pays for: absent players are looked for without HTTP requests, the
dispatcher sleeps until an event when no watchdog wants a heartbeat, and identification (with the
daemon's other rarely used libraries) is loaded only when something needs it. The figures
themselves are in bench/bench_e2e.py; these tests pin the mechanisms."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from scrobblerd.playback.dispatcher import IDLE_WAIT, Dispatcher
from scrobblerd.playback.machine import Rules
from scrobblerd.players.base import refuses_connections
from scrobblerd.players.kodi import watcher as kodi_watcher
from scrobblerd.players.kodi.settings import KodiConfig
from scrobblerd.players.kodi.track import Tracker
from scrobblerd.players.vlc.settings import VlcConfig
from scrobblerd.players.vlc.watcher import VlcWatcher
from tests.conftest import free_port


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def test_refuses_connections_tells_a_closed_port_from_a_listening_one(listener: socket.socket) -> None:
    assert refuses_connections("127.0.0.1", free_port(), 1.0) is True
    assert refuses_connections("127.0.0.1", listener.getsockname()[1], 1.0) is False


def test_an_absent_vlc_is_looked_for_without_an_http_request() -> None:
    watcher = VlcWatcher(VlcConfig(enabled=True, url=f"http://127.0.0.1:{free_port()}"))
    with structlog.testing.capture_logs() as logs:
        delay = watcher.poll_once(lambda _e: None)
    assert watcher.requests_made == 0
    status = watcher.status()[watcher.player]
    assert (status.connected, status.state, status.detail) == (False, "waiting", "ConnectionError")
    assert 0 < delay <= 5.0
    assert [entry["event"] for entry in logs] == []  # never seen: absent from the start is no news


def test_a_vlc_port_that_listens_is_asked_over_http(listener: socket.socket) -> None:
    # Something listens (it never answers HTTP): the watcher goes on to the real request.
    listener_port = listener.getsockname()[1]
    watcher = VlcWatcher(VlcConfig(enabled=True, url=f"http://127.0.0.1:{listener_port}"))
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    watcher.poll_once(lambda _e: None)
    for conn in accepted:
        conn.close()
    assert watcher.requests_made == 1


def test_an_absent_kodi_web_server_is_looked_for_without_an_http_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[str] = []
    real = kodi_watcher.HttpRpc

    def recording(url: str, *args: object) -> object:
        made.append(url)
        return real(url, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(kodi_watcher, "HttpRpc", recording)
    watcher = kodi_watcher.KodiWatcher(KodiConfig(enabled=True, port=free_port(), http_port=free_port()))
    answered = watcher._session(Tracker(watcher.player_id, lambda _e: None, 5.0), threading.Event())
    assert answered is False and made == []
    status = watcher.status()[watcher.player_id]
    assert status.state == "waiting"
    assert status.detail is not None and status.detail.endswith("http: JSONRPC.Ping: ConnectionError")


def test_an_idle_dispatcher_sleeps_until_an_event_unless_a_heartbeat_is_asked_for() -> None:
    rules = Rules()
    assert Dispatcher(rules, lambda _a: None)._wait_time() == IDLE_WAIT
    beating = Dispatcher(rules, lambda _a: None, heartbeat=lambda: None, heartbeat_every=7.5)
    assert beating._wait_time() == 7.5


def test_a_heartbeat_is_fed_without_events() -> None:
    beats = threading.Semaphore(0)
    dispatcher = Dispatcher(Rules(), lambda _a: None, heartbeat=beats.release, heartbeat_every=0.05)
    dispatcher.start()
    try:
        assert all(beats.acquire(timeout=2.0) for _ in range(3))
    finally:
        dispatcher.stop()


def test_the_daemons_services_load_identification_only_when_it_is_used(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\n")
    script = (
        "import sys\n"
        "import scrobblerd.cli\n"  # the process entry, as `scrobblerd run` starts
        "from scrobblerd.config.loader import load_config\n"
        "from scrobblerd.daemon.services import Services\n"
        f"services = Services.open(load_config({str(config)!r}))\n"
        "heavy = [m for m in ('scrobblerd.identify.identifier', 'guessit', 'charset_normalizer')\n"
        "         if sys.modules.get(m) is not None]\n"
        "assert heavy == [], heavy\n"
        "assert not services.identification.built\n"
        "services.identifier.count_parts\n"
        "assert services.identification.built and 'scrobblerd.identify.identifier' in sys.modules\n"
        "services.close()\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0 and out.stdout.splitlines()[-1:] == ["ok"], out.stdout + out.stderr
