"""Kodi watcher without Kodi: parsers on payloads recorded from Kodi 20.1, the stream decoder,
the transition rules, and the watcher against tiny JSON-RPC stubs on 127.0.0.1 (TCP with
notifications, and the HTTP fallback, which the live tests cannot reach: Kodi's web server binds
0.0.0.0 and is kept off there)."""

from __future__ import annotations

import base64
import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from scrobblerd.models import EventKind, MediaRef, PlayerEvent
from scrobblerd.players.kodi import rpc as kodi_rpc
from scrobblerd.players.kodi import watcher as kodi
from scrobblerd.players.kodi.parse import (
    Change,
    Notification,
    Snapshot,
    parse_ids,
    parse_item,
    parse_notification,
    parse_properties,
    time_to_seconds,
    transitions,
)
from scrobblerd.players.kodi.rpc import StreamDecoder
from scrobblerd.players.kodi.settings import KodiConfig
from scrobblerd.players.kodi.track import Tracker
from scrobblerd.players.kodi.watcher import KodiWatcher

FIXTURES = Path(__file__).parent / "fixtures" / "kodi"
RESPONSES: dict[str, Any] = json.loads((FIXTURES / "responses.json").read_text())
STREAM = (FIXTURES / "notifications.stream").read_bytes()
MOVIE_FILE = "/srv/media/library/movies/The Matrix (1999)/The.Matrix.1999.1080p.BluRay.x264.mkv"


def recorded_messages() -> list[dict[str, Any]]:
    return StreamDecoder().feed(STREAM)


# -- parsers ----------------------------------------------------------------------------------


def test_time_to_seconds() -> None:
    assert time_to_seconds({"hours": 1, "minutes": 2, "seconds": 3, "milliseconds": 500}) == 3723.5
    assert time_to_seconds({"hours": 0, "minutes": 0, "seconds": 0, "milliseconds": -53}) == 0.0
    assert time_to_seconds({"seconds": 2, "milliseconds": -52}) == pytest.approx(1.948)
    assert time_to_seconds(None) is None
    assert time_to_seconds({"seconds": "x"}) is None


def test_parse_properties_recorded() -> None:
    playing = parse_properties(RESPONSES["GetProperties_playing"])
    assert playing.position == pytest.approx(0.363)
    assert playing.duration == pytest.approx(90.046)
    assert (playing.speed, playing.is_video) == (1.0, True)
    assert parse_properties(RESPONSES["GetProperties_paused"]).speed == 0.0
    assert parse_properties(RESPONSES["GetProperties_seek85"]).position == pytest.approx(76.539)
    assert parse_properties(RESPONSES["GetProperties_negative_ms"]).position == 0.0
    assert parse_properties({"totaltime": {"hours": 0}, "type": "audio"}) == (None, None, 1.0, False)


def test_parse_item_library_movie() -> None:
    media = parse_item(RESPONSES["GetItem_movie"]["item"])
    assert media == MediaRef(
        path=MOVIE_FILE,
        title="The Matrix",
        kind="movie",
        year=1999,
        ids={"imdb": "tt0133093", "tmdb": 603},
    )


def test_parse_item_library_episode_uses_uniqueid_not_imdbnumber() -> None:
    item = RESPONSES["GetItem_episode"]["item"]
    assert item["imdbnumber"] == "349232"  # Kodi: the default uniqueid (tvdb), not IMDb
    media = parse_item(item, RESPONSES["GetTVShowDetails"]["tvshowdetails"])
    assert media.kind == "episode"
    assert (media.title, media.show_title, media.season, media.episode) == (
        "Cat's in the Bag...",
        "Breaking Bad",
        1,
        2,
    )
    assert media.ids == {"imdb": "tt1054724", "tvdb": 349232}
    assert media.show_ids == {"tvdb": 81189, "imdb": "tt0903747", "tmdb": 1396}
    assert media.path is not None and media.path.endswith("Breaking.Bad.S01E02.720p.mkv")


def test_parse_item_plain_file() -> None:
    media = parse_item(RESPONSES["GetItem_plain"]["item"])
    assert media == MediaRef(path="/srv/media/downloads/Short.Sample.2020.mkv")


def test_parse_item_movie_without_uniqueid_falls_back_to_imdbnumber() -> None:
    media = parse_item({"type": "movie", "title": "X", "imdbnumber": "tt0000001", "year": 0, "season": -1})
    assert media.ids == {"imdb": "tt0000001"}
    assert (media.year, media.season) == (None, None)


def test_parse_ids_drops_junk() -> None:
    raw = {"imdb": "123", "tmdb": "abc", "tvdb": "0", "anidb": "5", "Trakt": "42", "TMDB": 7}
    assert parse_ids(raw) == {"trakt": 42, "tmdb": 7}
    assert parse_ids(None) == {}


def test_parse_notification_recorded() -> None:
    notes = [parse_notification(m) for m in recorded_messages()]
    by_method = {n.method: n for n in notes if n is not None}
    assert by_method["Player.OnPause"].speed == 0.0
    assert by_method["Player.OnPause"].playerid == 1
    seek = by_method["Player.OnSeek"]
    assert seek.time == pytest.approx(58.244)  # the last seek in the recording (episode, 97 %)
    stops = [n for n in notes if n is not None and n.method == "Player.OnStop"]
    assert [s.end for s in stops] == [False, True, False]
    assert by_method["System.OnQuit"] == Notification("System.OnQuit")
    assert parse_notification({"id": 1, "jsonrpc": "2.0", "result": "pong"}) is None
    assert parse_notification({"jsonrpc": "2.0", "method": "X", "params": "junk"}) == Notification("X")


# -- the stream decoder -----------------------------------------------------------------------


def test_decoder_recorded_stream_whole() -> None:
    messages = recorded_messages()
    assert len(messages) == 48
    assert messages[-1]["method"] == "System.OnQuit"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=40))
def test_decoder_any_split_points(cuts: list[int]) -> None:
    decoder, out, start = StreamDecoder(), [], 0
    for cut in [*sorted(set(cuts)), len(STREAM)]:
        out += decoder.feed(STREAM[start:cut])
        start = cut
    assert out == recorded_messages()
    assert decoder.malformed == 0


def test_decoder_multibyte_split_and_garbage() -> None:
    decoder = StreamDecoder()
    text = '{"a":"Café \u2019s"}'.encode()
    cut = text.index("\u2019".encode()) + 1
    assert decoder.feed(text[:cut]) == []
    assert decoder.feed(text[cut:] + b"garbage!!") == [{"a": "Café \u2019s"}]
    assert decoder.feed(b'{"bad": tru}  {"ok":1}[1]{"ok":2}') == [{"ok": 1}, {"ok": 2}]
    assert decoder.malformed == 3


def test_decoder_drops_an_oversized_frame_to_its_end_and_a_never_ending_one_by_resync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kodi_rpc, "MAX_MESSAGE", 100)
    monkeypatch.setattr(kodi_rpc, "RESYNC_AFTER", 400)
    decoder = StreamDecoder()
    big = b'{"a":"' + b"{x}" * 100 + b'", "b": {"c": 1}}'
    assert decoder.feed(big[:150]) == []
    assert decoder.feed(big[150:] + b'{"b":1}') == [{"b": 1}]
    assert (decoder.oversized, decoder.malformed) == (1, 0)
    assert decoder.feed(b'{"a":"' + b"x" * 500) == []  # a string that never closes
    assert decoder.oversized == 2
    assert decoder.feed(b'{"b":2}') == [{"b": 2}]


def test_decoder_rejects_a_deep_frame_without_decoding_it() -> None:
    decoder = StreamDecoder()
    deep = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert decoder.feed(deep + b'{"ok":1}') == [{"ok": 1}]
    assert decoder.too_deep == 1
    assert decoder.feed(b'{"a":' + b"[" * 60 + b"]" * 60 + b"}") == [{"a": decoder_deep(60)}]


def decoder_deep(levels: int) -> list[object]:
    value: list[object] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_decoder_keeps_no_more_than_the_limit_of_a_large_message_fed_in_small_chunks() -> None:
    """10 MB in 64 KiB chunks is skipped to its end and the next message still arrives (its
    CPU cost, linear now, is measured by `python -m bench framing`)."""
    decoder = StreamDecoder()
    body = b'{"jsonrpc":"2.0","method":"Other.Big","params":{"data":"' + b"y" * 10_000_000 + b'"}}'
    for i in range(0, len(body), 65536):
        assert decoder.feed(body[i : i + 65536]) == []
        assert sum(map(len, decoder._parts)) <= kodi_rpc.MAX_MESSAGE
    assert decoder.feed(b'{"after":1}') == [{"after": 1}]
    assert decoder.oversized == 1


# -- transitions (pure) -----------------------------------------------------------------------

MOVIE = MediaRef(path="/m.mkv", kind="movie", title="M")
OTHER = MediaRef(path="/o.mkv")


def snap(position: float, speed: float = 1.0, at: float = 100.0, media: MediaRef = MOVIE) -> Snapshot:
    return Snapshot(1, media, position, 90.0, speed, at)


def kinds(changes: list[Change]) -> list[EventKind]:
    return [c.kind for c in changes]


def test_transitions() -> None:
    assert transitions(None, None, 0) == []
    assert kinds(transitions(None, snap(5), 100)) == [EventKind.PLAYING]
    assert kinds(transitions(None, snap(5, speed=0), 100)) == [EventKind.PAUSED]
    assert kinds(transitions(snap(5), snap(7, at=102), 102)) == []
    assert kinds(transitions(snap(5), snap(7, speed=0, at=102), 102)) == [EventKind.PAUSED]
    assert kinds(transitions(snap(5, speed=0), snap(5, at=150), 150)) == [EventKind.PLAYING]
    seek = transitions(snap(5), snap(60, at=102), 102)
    assert kinds(seek) == [EventKind.SEEKED] and seek[0].position == 60
    stop = transitions(snap(50), None, 110)
    assert kinds(stop) == [EventKind.STOPPED] and stop[0].position == pytest.approx(60)
    end = transitions(snap(88), None, 101.5)
    assert kinds(end) == [EventKind.ENDED] and end[0].position == 90.0
    assert kinds(transitions(snap(5), snap(0, media=OTHER), 101)) == [EventKind.STOPPED, EventKind.PLAYING]
    assert snap(80).position_at(200) == 90.0  # clamped to the duration


# -- the tracker on recorded responses --------------------------------------------------------


class FakeKodi:
    """Kodi's JSON-RPC answers from recorded payloads, with a switchable player state."""

    def __init__(self) -> None:
        self.item: dict[str, Any] | None = None
        self.props: dict[str, Any] = dict(RESPONSES["GetProperties_playing"])
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def play(self, item: str, props: str = "GetProperties_playing") -> None:
        with self.lock:
            self.item = RESPONSES[item]["item"]
            self.props = dict(RESPONSES[props])

    def stop(self) -> None:
        with self.lock:
            self.item = None

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        method, rid = request.get("method"), request.get("id")
        with self.lock:
            self.calls.append(str(method))
            result: Any
            if method == "JSONRPC.Ping":
                result = "pong"
            elif method == "Player.GetActivePlayers":
                result = RESPONSES["GetActivePlayers"] if self.item else []
            elif method == "Player.GetProperties" and self.item:
                result = self.props
            elif method == "Player.GetItem" and self.item:
                result = {"item": self.item}
            elif method == "VideoLibrary.GetTVShowDetails":
                result = RESPONSES["GetTVShowDetails"]
            else:
                return {"id": rid, "jsonrpc": "2.0", "error": {"code": -32100, "message": "Failed"}}
        return {"id": rid, "jsonrpc": "2.0", "result": result}

    def rpc(self, method: str, params: dict[str, Any] | None = None) -> Any:
        reply = self.answer({"id": 1, "method": method, "params": params})
        return kodi_rpc._result(method, reply)


def note(method: str, **data: Any) -> Notification:
    return Notification(method, playerid=1, item={"id": 1, "type": "episode"}, **data)


def test_tracker_recorded_episode_flow() -> None:
    fake, events = FakeKodi(), list[PlayerEvent]()
    tracker = Tracker("kodi:test", events.append, tick_interval=3600)
    fake.play("GetItem_episode")
    tracker.handle(fake.rpc, note("Player.OnPlay", speed=1.0))
    tracker.handle(fake.rpc, note("Player.OnAVStart", speed=1.0))
    fake.props = dict(RESPONSES["GetProperties_paused"])
    tracker.handle(fake.rpc, note("Player.OnPause", speed=0.0))
    tracker.handle(fake.rpc, note("Player.OnPause", speed=0.0))
    fake.props = dict(RESPONSES["GetProperties_seek85"])
    tracker.handle(fake.rpc, note("Player.OnResume", speed=1.0))
    tracker.handle(fake.rpc, note("Player.OnSeek", speed=1.0))
    tracker.handle(fake.rpc, note("Player.OnSeek", speed=1.0))  # Kodi repeats a seek now and then
    tracker.handle(fake.rpc, Notification("Player.OnStop", end=True))
    assert [e.kind for e in events] == [
        EventKind.PLAYING,
        EventKind.PAUSED,
        EventKind.PLAYING,
        EventKind.SEEKED,
        EventKind.ENDED,
    ]
    assert events[0].media is not None and events[0].media.show_ids["tvdb"] == 81189
    assert events[1].paused is True and events[2].paused is False
    assert events[-1].position == events[-1].duration == pytest.approx(90.046)
    assert fake.calls.count("VideoLibrary.GetTVShowDetails") == 1  # cached per connection
    assert fake.calls.count("Player.GetItem") == 1  # only when a new item starts


def test_tracker_ignores_audio_and_stop_without_video() -> None:
    fake, events = FakeKodi(), list[PlayerEvent]()
    tracker = Tracker("kodi:test", events.append, tick_interval=3600)
    fake.play("GetItem_plain")
    fake.props["type"] = "audio"
    tracker.handle(fake.rpc, note("Player.OnPlay", speed=1.0))
    tracker.handle(fake.rpc, Notification("Player.OnStop", end=False))
    tracker.handle(fake.rpc, Notification("System.OnQuit"))
    assert events == []


def test_tracker_quit_while_playing_and_lost() -> None:
    fake, events = FakeKodi(), list[PlayerEvent]()
    tracker = Tracker("kodi:test", events.append, tick_interval=3600)
    fake.play("GetItem_movie")
    tracker.sync(fake.rpc)
    tracker.handle(fake.rpc, Notification("System.OnQuit"))
    tracker.sync(fake.rpc)
    tracker.end(EventKind.LOST)
    expected = [EventKind.PLAYING, EventKind.STOPPED, EventKind.PLAYING, EventKind.LOST]
    assert [e.kind for e in events] == expected
    assert events[-1].position is not None and events[-1].position >= 0.363


def test_tracker_progress_only_while_playing() -> None:
    fake, events = FakeKodi(), list[PlayerEvent]()
    tracker = Tracker("kodi:test", events.append, tick_interval=0.0)
    fake.play("GetItem_movie")
    tracker.sync(fake.rpc)
    tracker.tick(fake.rpc)
    fake.props = dict(RESPONSES["GetProperties_paused"])
    tracker.handle(fake.rpc, note("Player.OnPause", speed=0.0))
    tracker.tick(fake.rpc)
    fake.stop()
    tracker.handle(fake.rpc, note("Player.OnResume", speed=1.0))  # the player is gone: nothing
    assert [e.kind for e in events] == [EventKind.PLAYING, EventKind.PROGRESS, EventKind.PAUSED]


# -- the watcher against local stubs ----------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TcpStub:
    """A Kodi-like TCP JSON-RPC server on 127.0.0.1 that answers from a FakeKodi."""

    def __init__(self, fake: FakeKodi, port: int = 0) -> None:
        self.fake = fake
        self.server = socket.create_server(("127.0.0.1", port))
        self.port = int(self.server.getsockname()[1])
        self.conn: socket.socket | None = None
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:  # one client at a time: a port probe, then the real connection
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            if self.conn is not None:
                self.conn.close()
            self.conn = conn
            self.connected.set()
            self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        decoder = StreamDecoder()
        while True:
            try:
                data = conn.recv(65536)
                if not data:
                    return
                for request in decoder.feed(data):
                    reply = json.dumps(self.fake.answer(request)).encode()
                    conn.sendall(reply[:7])  # replies arrive in pieces, as over a real network
                    conn.sendall(reply[7:])
            except OSError:
                return

    def send(self, raw: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(raw)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept()
        self.server.close()
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.shutdown(socket.SHUT_RDWR)
            self.conn.close()
        self.thread.join(2)


def notification_bytes(method: str, **player: Any) -> bytes:
    message = {"jsonrpc": "2.0", "method": method, "params": {"data": {"item": {"id": 1}, "player": player}}}
    return json.dumps(message, separators=(",", ":")).encode()


def next_event(events: queue.Queue[PlayerEvent], timeout: float = 5.0) -> PlayerEvent:
    return events.get(timeout=timeout)


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


@pytest.fixture
def fake() -> FakeKodi:
    return FakeKodi()


@pytest.fixture
def tcp_stub(fake: FakeKodi) -> Iterator[TcpStub]:
    stub = TcpStub(fake)
    yield stub
    stub.close()


def test_watcher_tcp_reconnect_state_malformed_and_lost(fake: FakeKodi, tcp_stub: TcpStub) -> None:
    fake.play("GetItem_movie", "GetProperties_paused")
    config = KodiConfig(enabled=True, port=tcp_stub.port, http_port=0)
    watcher, events = KodiWatcher(config, tick_interval=3600), queue.Queue[PlayerEvent]()
    with structlog.testing.capture_logs() as logs:
        watcher.start(events.put)
        try:
            first = next_event(events)  # already paused when we connect
            assert (first.kind, first.paused) == (EventKind.PAUSED, True)
            assert first.player == f"kodi:127.0.0.1:{tcp_stub.port}"
            assert first.media is not None and first.media.ids == {"imdb": "tt0133093", "tmdb": 603}
            wait_for(lambda: watcher.status()[watcher.player_id].state == "paused")
            fake.play("GetItem_movie", "GetProperties_seek85")
            raw = b"}}garbage" + notification_bytes("Player.OnResume", playerid=1, speed=1)
            for i in range(0, len(raw), 5):
                tcp_stub.send(raw[i : i + 5])
            resumed = next_event(events)
            assert resumed.kind == EventKind.PLAYING
            assert resumed.position == pytest.approx(76.539)
            tcp_stub.send(b"more garbage" + notification_bytes("Player.OnSeek", playerid=1, speed=1))
            assert next_event(events).kind == EventKind.SEEKED
            tcp_stub.close()
            lost = next_event(events)
            assert lost.kind == EventKind.LOST and lost.position is not None and lost.position >= 76.5
            wait_for(lambda: not watcher.status()[watcher.player_id].connected)
        finally:
            watcher.stop()
    names = [entry["event"] for entry in logs]
    assert names.count("kodi_malformed_json") == 1
    assert names.count("player_found") == 1 and names.count("player_lost") == 1
    assert events.empty()


def test_watcher_absent_kodi_logs_once_and_keeps_trying() -> None:
    config = KodiConfig(enabled=True, port=closed_port(), http_port=closed_port())
    watcher = KodiWatcher(config)
    with structlog.testing.capture_logs() as logs:
        watcher.start(lambda _e: None)
        try:
            time.sleep(1.8)  # several reconnect attempts at 0.5, 1, 2 s: only one log line
            assert watcher.status()[watcher.player_id].state == "waiting"
        finally:
            watcher.stop()
    assert [entry["event"] for entry in logs] == ["player_lost"]


class HttpStub:
    """Kodi's web server JSON-RPC endpoint: POST /jsonrpc with basic auth kodi:secret."""

    def __init__(self, fake: FakeKodi) -> None:
        expected = "Basic " + base64.b64encode(b"kodi:secret").decode()
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(handler) -> None:
                self.requests += 1
                body = handler.rfile.read(int(handler.headers["Content-Length"]))
                if handler.headers.get("Authorization") != expected:
                    handler.send_response(401)
                    handler.send_header("Content-Length", "0")
                    handler.end_headers()
                    return
                reply = json.dumps(fake.answer(json.loads(body))).encode()
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(reply)))
                handler.end_headers()
                handler.wfile.write(reply)

            def log_message(handler, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(2)


@pytest.fixture
def http_stub(fake: FakeKodi, monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpStub]:
    monkeypatch.setattr(kodi, "HTTP_POLL_PLAYING", 0.1)
    monkeypatch.setattr(kodi, "HTTP_POLL_IDLE", 0.1)
    stub = HttpStub(fake)
    yield stub
    stub.close()


def test_watcher_http_fallback(fake: FakeKodi, http_stub: HttpStub) -> None:
    config = KodiConfig(enabled=True, port=closed_port(), http_port=http_stub.port, password="secret")
    watcher, events = KodiWatcher(config, tick_interval=0.3), queue.Queue[PlayerEvent]()
    watcher.start(events.put)
    try:
        wait_for(lambda: watcher.status()[watcher.player_id].connected)
        assert watcher.status()[watcher.player_id].detail == "via http"
        fake.play("GetItem_episode")
        playing = next_event(events)
        assert playing.kind == EventKind.PLAYING and playing.media is not None
        assert playing.media.show_ids == {"tvdb": 81189, "imdb": "tt0903747", "tmdb": 1396}
        assert next_event(events).kind == EventKind.PROGRESS
        fake.props = dict(RESPONSES["GetProperties_paused"])
        while (event := next_event(events)).kind == EventKind.PROGRESS:
            pass
        assert event.kind == EventKind.PAUSED
        fake.stop()
        stopped = next_event(events)
        assert stopped.kind == EventKind.STOPPED and stopped.position == pytest.approx(0.363)
    finally:
        watcher.stop()


def test_watcher_http_wrong_password(http_stub: HttpStub) -> None:
    config = KodiConfig(enabled=True, port=closed_port(), http_port=http_stub.port, password="wrong")
    watcher = KodiWatcher(config)
    watcher.start(lambda _e: None)
    try:
        wait_for(lambda: watcher.status()[watcher.player_id].state == "unauthorized")
        assert not watcher.status()[watcher.player_id].connected
    finally:
        watcher.stop()


def test_watcher_hung_kodi_times_out_and_error_replies_are_survived(
    fake: FakeKodi, tcp_stub: TcpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kodi_rpc, "CALL_TIMEOUT", 0.3)
    fake.play("GetItem_movie")
    fake.item = None  # GetActivePlayers says nothing plays ...
    config = KodiConfig(enabled=True, port=tcp_stub.port, http_port=0)
    watcher, events = KodiWatcher(config), queue.Queue[PlayerEvent]()
    with structlog.testing.capture_logs() as logs:
        watcher.start(events.put)
        try:
            wait_for(lambda: watcher.status()[watcher.player_id].connected)
            tcp_stub.send(
                notification_bytes("Player.OnPause", playerid=1, speed=0)
            )  # ... GetProperties fails
            wait_for(lambda: "Player.GetProperties" in fake.calls)
            fake.answer = lambda request: {}  # type: ignore[method-assign]  # Kodi hangs: no replies
            tcp_stub.send(notification_bytes("Player.OnPlay", playerid=1, speed=1))
            wait_for(lambda: not watcher.status()[watcher.player_id].connected)
        finally:
            watcher.stop()
    assert events.empty()
    lost = [entry for entry in logs if entry["event"] == "player_lost"]
    assert len(lost) == 1 and "no reply" in lost[0]["reason"]


def test_watcher_moves_from_http_back_to_tcp_without_repeating(
    fake: FakeKodi, http_stub: HttpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kodi, "TCP_RECHECK", 0.2)
    port = closed_port()
    config = KodiConfig(enabled=True, port=port, http_port=http_stub.port, password="secret")
    watcher, events = KodiWatcher(config), queue.Queue[PlayerEvent]()
    fake.play("GetItem_movie")
    watcher.start(events.put)
    stub: TcpStub | None = None
    try:
        assert next_event(events).kind == EventKind.PLAYING
        wait_for(lambda: watcher.status()[watcher.player_id].detail == "The Matrix (via http)")
        stub = TcpStub(fake, port)
        wait_for(lambda: watcher.status()[watcher.player_id].detail == "The Matrix (via tcp)")
        assert events.empty()  # the same playback continues: no second PLAYING
    finally:
        watcher.stop()
        if stub is not None:
            stub.close()


def test_tracker_seek_position_comes_from_the_notification() -> None:
    fake, events = FakeKodi(), list[PlayerEvent]()
    tracker = Tracker("kodi:test", events.append, tick_interval=3600)
    fake.play("GetItem_episode", "GetProperties_negative_ms")
    tracker.handle(fake.rpc, note("Player.OnAVStart", speed=1.0))
    tracker.handle(fake.rpc, note("Player.OnSeek", speed=1.0, time=58.244))  # query still says 0
    assert [(e.kind, e.position) for e in events] == [(EventKind.PLAYING, 0.0), (EventKind.SEEKED, 58.244)]


def test_watcher_survives_odd_replies_and_a_deep_notification_without_a_restart(
    fake: FakeKodi, tcp_stub: TcpStub
) -> None:
    odd = {"active": 5}
    original = fake.answer

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        if request.get("method") == "Player.GetActivePlayers" and odd["active"] is not None:
            return {"id": request.get("id"), "jsonrpc": "2.0", "result": odd["active"]}
        return original(request)

    fake.answer = answer  # type: ignore[method-assign]
    config = KodiConfig(enabled=True, port=tcp_stub.port, http_port=0)
    watcher, events = KodiWatcher(config, tick_interval=3600), queue.Queue[PlayerEvent]()
    with structlog.testing.capture_logs() as logs:
        watcher.start(events.put)
        try:
            wait_for(lambda: tcp_stub.conn is not None and any(e["event"] == "player_found" for e in logs))
            tcp_stub.send(b'{"jsonrpc":"2.0","method":"Other.X","params":' + b"[" * 5000 + b"]" * 5000 + b"}")
            tcp_stub.send(notification_bytes("Player.OnPlay", playerid=1e400, speed=float("nan")))
            wait_for(lambda: any(e["event"] == "player_message_rejected" for e in logs))
            odd["active"] = None  # Kodi answers properly again: the same connection carries on
            fake.play("GetItem_movie")
            tcp_stub.send(notification_bytes("Player.OnAVStart", playerid=1, speed=1))
            assert next_event(events).kind is EventKind.PLAYING
        finally:
            watcher.stop(2.0)
    assert watcher.restarts == 0
    assert [e["problem"] for e in logs if e["event"] == "player_field_dropped"] == ["Player.GetActivePlayers"]
    [rejected] = [e for e in logs if e["event"] == "player_message_rejected"]
    assert "nested deeper than 64" in rejected["reason"]
    assert not [e for e in logs if e["event"] in ("watcher_crashed", "player_lost")]
