"""The VLC watcher against the real VLC (headless, HTTP on 127.0.0.1), driven by VLC's HTTP commands.

The last tests use a stand-in HTTP server on 127.0.0.1 for answers a healthy VLC never gives
(broken JSON, HTML error pages, missing fields).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog

from scrobblerd.models import EventKind, PlayerEvent
from scrobblerd.players.vlc import watcher as vlc_module
from scrobblerd.players.vlc.settings import VlcConfig
from scrobblerd.players.vlc.watcher import VlcWatcher
from tests.live.run_vlc import VlcProcess, filename, free_port

POLL = 0.25  # seconds; small to keep the tests fast
POS_TOL = 1.0  # seconds: one poll interval plus VLC's ~0.3 s position granularity
MATRIX = "The.Matrix.1999.1080p.BluRay.x264.mkv"  # 90 s
SHORT = "Short.Sample.2020.mkv"  # 20 s
E02, E03, E04 = (f"Breaking.Bad.S01E0{n}.720p.mkv" for n in (2, 3, 4))  # 60 s each

Events = queue.Queue[PlayerEvent]


def expect(w: Watching, *kinds: EventKind, timeout: float = 5.0) -> list[PlayerEvent]:
    """The next events (PROGRESS skipped unless asked for) must be exactly `kinds`, in order."""
    events = w.events
    got: list[PlayerEvent] = []
    deadline = time.monotonic() + timeout
    while len(got) < len(kinds):
        try:
            event = events.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(
                f"expected {[str(k) for k in kinds]}, got {got}; "
                f"status {w.watcher.status()}, restarts {w.watcher.restarts}"
            )
        if event.kind == EventKind.PROGRESS and EventKind.PROGRESS not in kinds:
            continue
        got.append(event)
    assert [e.kind for e in got] == list(kinds)
    return got


def assert_quiet(events: Events, seconds: float) -> None:
    """No event but PROGRESS for `seconds` (absence can only be shown by waiting)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = events.get(timeout=left)
        except queue.Empty:
            return
        assert event.kind == EventKind.PROGRESS, event


def vlc_seconds(status: dict[str, Any], duration: float) -> float:
    return float(status["position"]) * duration


class Watching:
    """A started VlcWatcher whose events land in a queue."""

    def __init__(self, url: str, password: str = "secret", poll: float = POLL) -> None:
        self.watcher = VlcWatcher(VlcConfig(enabled=True, url=url, password=password, poll_interval=poll))
        self.events: Events = queue.Queue()
        self.watcher.start(self.events.put)

    @property
    def state(self) -> str:
        return next(iter(self.watcher.status().values())).state

    def wait_state(self, state: str, timeout: float = 8.0) -> None:
        deadline = time.monotonic() + timeout
        while self.state != state:
            assert time.monotonic() < deadline, f"status stayed {self.state!r}, wanted {state!r}"
            time.sleep(0.02)


@pytest.fixture
def vlc(media_dir: Path) -> Iterator[VlcProcess]:
    with VlcProcess(media_dir) as proc:
        yield proc


@pytest.fixture
def watching(vlc: VlcProcess) -> Iterator[Watching]:
    w = Watching(vlc.url)
    yield w
    w.watcher.stop()


@pytest.mark.live
def test_play_pause_resume_seek_stop(vlc: VlcProcess, watching: Watching, media_dir: Path) -> None:
    path = media_dir / MATRIX
    vlc.command("in_play", input=str(path))
    [played] = expect(watching, EventKind.PLAYING)
    assert played.media is not None and played.media.path == str(path)
    assert played.player == f"vlc:{vlc.url}" and played.paused is False
    assert played.duration == pytest.approx(90.046, abs=0.1)  # VLC adds the precise tag later
    assert played.position == pytest.approx(0.0, abs=POS_TOL)
    assert watching.watcher.status()[played.player].state == "playing"

    vlc.wait_for(lambda s: s["time"] >= 1)
    now = vlc_seconds(vlc.command("pl_forcepause"), 90.046)
    [paused] = expect(watching, EventKind.PAUSED)
    assert paused.paused is True and paused.position == pytest.approx(now, abs=0.5)

    vlc.command("pl_forceresume")
    [resumed] = expect(watching, EventKind.PLAYING)
    assert resumed.position == pytest.approx(now, abs=POS_TOL)

    vlc.command("seek", val="85%")
    [seeked] = expect(watching, EventKind.SEEKED)
    assert seeked.position == pytest.approx(0.85 * 90.046, abs=POS_TOL)
    assert seeked.media == played.media

    time.sleep(0.5)  # let it play a little after the seek, so the stop position is not the seek target
    at_stop = vlc_seconds(vlc.status(), 90.046)
    vlc.command("pl_stop")
    [stopped] = expect(watching, EventKind.STOPPED)
    assert stopped.position == pytest.approx(at_stop, abs=POS_TOL)
    assert stopped.media == played.media
    assert_quiet(watching.events, 0.6)
    assert watching.state == "stopped"


@pytest.mark.live
def test_next_item(vlc: VlcProcess, watching: Watching, media_dir: Path) -> None:
    vlc.play(media_dir / E02)
    vlc.command("in_enqueue", input=str(media_dir / E03))
    [first] = expect(watching, EventKind.PLAYING)
    assert first.media is not None and first.media.path == str(media_dir / E02)
    vlc.wait_for(lambda s: s["time"] >= 1)
    vlc.command("pl_next")
    moved = vlc.wait_for(lambda s: s["state"] == "stopped" or filename(s) == E03)
    if moved["state"] == "stopped":
        # VLC 3.0 now and then stops instead of starting the next item (its playlist marks the
        # next one current); the user presses play. The watcher's events are the same.
        vlc.command("pl_play", id=vlc.item_id(E03))
    stopped, started = expect(watching, EventKind.STOPPED, EventKind.PLAYING)
    assert stopped.media is not None and stopped.media.path == first.media.path
    assert stopped.position == pytest.approx(1.5, abs=1.0)
    assert started.media is not None and started.media.path == str(media_dir / E03)
    # VLC's filename meta reader has parsed the enqueued file by now
    assert (started.media.kind, started.media.show_title, started.media.season, started.media.episode) == (
        "episode",
        "Breaking Bad",
        1,
        3,
    )
    assert started.position == pytest.approx(0.0, abs=POS_TOL)


@pytest.mark.live
def test_natural_end_of_an_item_and_of_the_playlist(
    vlc: VlcProcess, watching: Watching, media_dir: Path
) -> None:
    vlc.play(media_dir / SHORT)
    vlc.command("in_enqueue", input=str(media_dir / E04))
    expect(watching, EventKind.PLAYING)
    vlc.command("seek", val="18")
    [seeked] = expect(watching, EventKind.SEEKED)
    assert seeked.position == pytest.approx(18.0, abs=POS_TOL)
    moved = vlc.wait_for(lambda s: s["state"] == "stopped" or filename(s) == E04)
    if moved["state"] == "stopped":
        vlc.command("pl_play", id=vlc.item_id(E04))  # the VLC quirk of test_next_item; same events
    ended, started = expect(watching, EventKind.ENDED, EventKind.PLAYING, timeout=6.0)
    assert ended.media is not None and ended.media.path == str(media_dir / SHORT)
    assert ended.position == pytest.approx(20.046, abs=0.1) and ended.duration == ended.position
    assert started.media is not None and started.media.path == str(media_dir / E04)

    vlc.command("seek", val="58")
    expect(watching, EventKind.SEEKED)
    [last] = expect(watching, EventKind.ENDED, timeout=6.0)
    assert last.media == started.media and last.position == pytest.approx(60.046, abs=0.1)
    assert_quiet(watching.events, 0.6)


@pytest.mark.live
def test_vlc_killed_is_lost_with_the_estimated_position(
    vlc: VlcProcess, watching: Watching, media_dir: Path
) -> None:
    vlc.play(media_dir / MATRIX)
    expect(watching, EventKind.PLAYING)
    vlc.wait_for(lambda s: s["time"] >= 1)
    vlc.command("seek", val="30")
    expect(watching, EventKind.SEEKED)
    before = vlc_seconds(vlc.wait_for(lambda s: s["time"] >= 30), 90.046)
    t0 = time.monotonic()
    with structlog.testing.capture_logs() as logs:
        vlc.kill()
        killed_at = before + (time.monotonic() - t0)
        [lost] = expect(watching, EventKind.LOST, timeout=3.0)
        watching.wait_state("waiting")
    assert lost.media is not None and lost.media.path == str(media_dir / MATRIX)
    assert lost.position == pytest.approx(killed_at, abs=POLL + 0.5)
    assert [e["event"] for e in logs if e["event"].startswith("player_")] == ["player_lost"]
    status = watching.watcher.status()[lost.player]
    assert status.connected is False
    assert_quiet(watching.events, 0.5)


@pytest.mark.live
def test_wrong_password_is_unauthorized_once_and_quiet(
    vlc: VlcProcess, media_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vlc_module, "UNAUTHORIZED_INTERVAL", 0.2)  # retry often, to see one log line
    vlc.play(media_dir / MATRIX)
    with structlog.testing.capture_logs() as logs:
        w = Watching(vlc.url, password="wrong")
        try:
            w.wait_state("unauthorized", timeout=5.0)
            assert_quiet(w.events, 1.0)
            assert w.events.empty()
            assert w.watcher.requests_made >= 3
            status = w.watcher.status()[f"vlc:{vlc.url}"]
        finally:
            w.watcher.stop()
    assert (status.connected, status.state) == (False, "unauthorized")
    warnings = [e for e in logs if e["event"] == "vlc_unauthorized"]
    assert len(warnings) == 1 and "players.vlc.password" in warnings[0]["hint"]
    assert "wrong" not in json.dumps(logs, default=str)

    fixed = Watching(vlc.url, password="secret")  # what a config reload does: a new watcher
    try:
        [event] = expect(fixed, EventKind.PLAYING)
        assert event.media is not None and event.media.path == str(media_dir / MATRIX)
    finally:
        fixed.watcher.stop()


@pytest.mark.live
def test_vlc_started_after_the_watcher_and_restarted(media_dir: Path) -> None:
    port = free_port()
    w = Watching(f"http://127.0.0.1:{port}")
    try:
        with structlog.testing.capture_logs() as logs:
            w.wait_state("waiting")
            assert w.watcher.status()[f"vlc:http://127.0.0.1:{port}"].connected is False
            time.sleep(1.0)  # VLC starts a while after the watcher, with the backoff under way
            with VlcProcess(media_dir, port=port) as first:
                w.wait_state("stopped", timeout=6.0)  # found within the reconnect backoff ceiling
                first.command("in_play", input=str(media_dir / E02))
                expect(w, EventKind.PLAYING)
                first.kill()
                expect(w, EventKind.LOST)
            with VlcProcess(media_dir, port=port) as second:
                second.command("in_play", input=str(media_dir / E03))
                [event] = expect(w, EventKind.PLAYING, timeout=8.0)
                assert event.media is not None and event.media.path == str(media_dir / E03)
        found_lost = [e["event"] for e in logs if e["event"] in ("player_found", "player_lost")]
        # the last VLC's exit may or may not have been seen yet
        assert found_lost[:3] == ["player_found", "player_lost", "player_found"]
    finally:
        w.watcher.stop()


# --- answers a healthy VLC never gives, from a stand-in server ------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body, ctype = self.server.reply  # type: ignore[attr-defined]
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def fake_vlc() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.reply = ("{}", "application/json")  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_malformed_answers_are_logged_once_and_survived(
    fake_vlc: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vlc_module, "ERROR_INTERVAL", 0.05)
    playing = json.loads((Path(__file__).parents[1] / "fixtures/vlc/status_playing_movie.json").read_text())
    answers = [
        ('{"state": "play', "application/json"),  # truncated JSON
        ("<html><h1>500 oops</h1></html>", "text/html"),
        (json.dumps(["not", "an", "object"]), "application/json"),
        (json.dumps({k: v for k, v in playing.items() if k not in ("time", "length")}), "application/json"),
        (json.dumps(playing), "application/json"),
    ]
    port = fake_vlc.server_address[1]
    fake_vlc.reply = answers[0]  # type: ignore[attr-defined]
    with structlog.testing.capture_logs() as logs:
        w = Watching(f"http://127.0.0.1:{port}", poll=0.05)
        try:
            for reply in answers:
                fake_vlc.reply = reply  # type: ignore[attr-defined]
                seen = w.watcher.requests_made
                deadline = time.monotonic() + 3.0
                while w.watcher.requests_made < seen + 4:  # several polls of each answer
                    assert time.monotonic() < deadline
                    time.sleep(0.02)
                if reply is not answers[-1]:
                    assert w.state in ("error", "playing")
            assert w.state == "playing"
            assert w.watcher.restarts == 0
        finally:
            w.watcher.stop()
    problems = [e for e in logs if e["event"] in ("vlc_bad_response", "vlc_incomplete_status")]
    assert [e["event"] for e in problems] == ["vlc_bad_response"] * 3 + ["vlc_incomplete_status"], logs
    assert [e["event"] for e in logs if e["event"].startswith("player_")] == ["player_found"]
