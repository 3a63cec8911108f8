"""Odd but valid-JSON input from players is dropped at the edge with one log line, and no watcher
restarts: a real mpv-speaking Unix socket that answers with lists, numbers, NaN and deep lines;
the trackers and parsers of mpv, Kodi and VLC on the same kind of values."""

from __future__ import annotations

import json
import math
import queue
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from scrobblerd.models import EventKind, PlayerEvent
from scrobblerd.players import fields
from scrobblerd.players.kodi.parse import parse_notification, parse_properties, time_to_seconds
from scrobblerd.players.kodi.track import Tracker
from scrobblerd.players.mpv.ipc import MpvIpc
from scrobblerd.players.mpv.settings import MpvConfig
from scrobblerd.players.mpv.watcher import MpvWatcher
from scrobblerd.players.vlc.parse import parse_status
from tests.test_mpv_parse import FakeMpv

DEEP_LINE = b'{"event": "property-change", "name": "x", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"

# -- the pure edge -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(12.5, 12.5), (0, 0.0), (math.nan, None), (-1.0, None), (1e300, None), (math.inf, None), (True, None),
     ("12", None), ([1], None)],
)  # fmt: skip
def test_seconds_takes_only_finite_sane_numbers(value: object, expected: float | None) -> None:
    bad: set[str] = set()
    assert fields.seconds(value, "time-pos", bad) == expected
    assert bad == (set() if expected is not None else {"time-pos"})


def test_mpv_properties_of_the_wrong_type_are_dropped_and_named() -> None:
    mpv = FakeMpv(
        **{"path": "/v/The.Matrix.1999.mkv", "media-title": ["not", "text"], "metadata": [1, 2],
           "duration": math.nan, "time-pos": -3.0, "percent-pos": 1e9, "pause": False,
           "idle-active": False, "eof-reached": False},
    )  # fmt: skip
    [event] = mpv.tracker.attach()
    assert event.kind is EventKind.PLAYING
    assert event.media is not None and event.media.path == "/v/The.Matrix.1999.mkv"
    assert (event.media.title, event.media.tags, event.duration, event.position) == (None, {}, None, None)
    assert mpv.tracker.bad_fields == {"media-title", "metadata", "duration", "time-pos", "percent-pos"}


def test_an_mpv_path_that_is_a_number_announces_nothing_and_raises_nothing() -> None:
    mpv = FakeMpv(path=12345, **{"idle-active": False, "eof-reached": False})
    assert mpv.tracker.attach() == []
    assert mpv.tracker.bad_fields == {"path"}
    odd = [
        {"event": "end-file", "reason": ["eof"]},
        {"event": "property-change", "name": "duration", "data": {}},
    ]
    assert mpv.feed(odd) == []


def events_until(ipc: MpvIpc, last: str) -> list[str]:
    """Read pushed events (waiting on the socket, at most 5 s in all) until `last` arrives."""
    seen: list[str] = []
    for _ in range(100):
        select.select([ipc.fileno()], [], [], 0.05)
        ipc.receive()
        seen += [str(m["event"]) for m in ipc.pending]
        ipc.pending.clear()
        if last in seen:
            break
    return seen


def test_mpv_ipc_skips_a_deep_line_and_an_endless_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fields, "MAX_MESSAGE", 10_000)
    ours, theirs = socket.socketpair()
    ipc = MpvIpc(ours)
    try:
        theirs.sendall(b'{"event": ' + b"[" * 100 + b"]" * 100 + b'}\n{"event": "pause"}\n')
        assert events_until(ipc, "pause") == ["pause"]
        assert ipc.rejected == ["a message nested deeper than 64 levels"]
        theirs.sendall(b'{"event": "' + b"x" * 30_000)  # a line that does not end within the limit
        theirs.sendall(b'"}\n{"event": "unpause"}\n')
        assert events_until(ipc, "unpause") == ["unpause"]
        # however the socket cut it: skipped as a line over the limit, or as it grew past it
        assert len(ipc.rejected) == 2
        assert "10000" in ipc.rejected[1]
    finally:
        ipc.close()
        theirs.close()


def test_kodi_get_active_players_answering_a_number_is_dropped() -> None:
    events: list[PlayerEvent] = []
    tracker = Tracker("kodi:test", events.append, 10.0)
    assert tracker.sample(lambda method, params=None: 5) is None
    assert tracker.bad_fields == {"Player.GetActivePlayers"}


def test_kodi_times_and_speeds_out_of_range_are_dropped() -> None:
    assert time_to_seconds({"hours": 1e300}) is None
    assert time_to_seconds({"hours": math.nan}) is None
    assert time_to_seconds({"hours": [1]}) is None
    assert time_to_seconds({"hours": 1, "minutes": 2, "seconds": 3, "milliseconds": 500}) == 3723.5
    progress = parse_properties({"speed": math.inf, "time": {"hours": -1e9}, "totaltime": "x"})
    assert (progress.speed, progress.position, progress.duration) == (1.0, None, None)
    note = parse_notification({"method": "Player.OnPlay", "params": {"data": {"player": {"playerid": 1e400,
                               "speed": math.nan}, "item": [1]}}})  # fmt: skip
    assert note is not None and (note.playerid, note.speed, dict(note.item)) == (None, None, {})


def test_vlc_status_with_nan_negative_and_absurd_fields_keeps_what_is_sane() -> None:
    meta = {"filename": "x" * 100_000, "title": ["a"]}
    snap = parse_status(
        {"state": "playing", "time": -5, "length": math.nan, "position": 7.5, "currentplid": 10**30,
         "rate": math.inf, "information": {"category": {"meta": meta}}},
    )  # fmt: skip
    assert (snap.time, snap.length, snap.position, snap.currentplid, snap.rate) == (
        None,
        None,
        None,
        None,
        1.0,
    )
    assert (snap.filename, snap.title) == (None, None)
    assert set(snap.missing) == {"time", "length", "position", "currentplid"}


# -- a watcher on a real socket ------------------------------------------------------------------


class OddMpv:
    """A Unix socket that speaks mpv's IPC: every property read answers with an odd value, and
    it pushes odd property changes and a very deep line."""

    ANSWERS: dict[str, Any] = {
        "path": 42, "media-title": {"a": 1}, "metadata": ["x"], "duration": math.nan,
        "idle-active": False, "eof-reached": False, "pause": "no", "time-pos": -1,
    }  # fmt: skip

    def __init__(self, path: Path) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(4)
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        buf = b""
        pushed = False
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    request = json.loads(line)
                    command = request.get("command", [])
                    value = self.ANSWERS.get(command[1]) if len(command) > 1 else None
                    reply = {"request_id": request.get("request_id"), "error": "success", "data": value}
                    conn.sendall(json.dumps(reply).encode() + b"\n")
                if not pushed:
                    pushed = True
                    conn.sendall(DEEP_LINE)
                    for name, data in (("metadata", [1]), ("duration", -7), ("path", 3.5), ("pause", [])):
                        change = {"event": "property-change", "name": name, "data": data}
                        conn.sendall(json.dumps(change).encode() + b"\n")
                    conn.sendall(b'{"event": "end-file", "reason": {"x": 1}}\n')

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def odd_mpv(tmp_path: Path) -> Iterator[tuple[OddMpv, Path]]:
    path = tmp_path / "mpv.sock"
    server = OddMpv(path)
    yield server, path
    server.close()


def test_the_mpv_watcher_survives_odd_values_and_a_deep_line_without_a_restart(
    odd_mpv: tuple[OddMpv, Path],
) -> None:
    server, path = odd_mpv
    watcher = MpvWatcher(MpvConfig(ipc_path=(str(path),)), tick_interval=0.1)
    events: queue.Queue[PlayerEvent] = queue.Queue()
    with structlog.testing.capture_logs() as logs:
        watcher.start(events.put)
        try:
            seen = threading.Event()

            def said_both() -> bool:
                names = {(e["event"], e.get("problem")) for e in logs}
                return ("player_message_rejected", "a message nested deeper than 64 levels") in names and any(
                    n == "player_field_dropped" and p == "path" for n, p in names
                )

            for _ in range(100):
                if said_both():
                    seen.set()
                    break
                seen.wait(0.05)
            assert seen.is_set(), logs
        finally:
            watcher.stop(2.0)
    assert watcher.restarts == 0
    assert server.connections == 1  # never dropped and reconnected
    assert not [e for e in logs if e["event"] == "watcher_crashed"]
    dropped = [e["problem"] for e in logs if e["event"] == "player_field_dropped"]
    assert len(dropped) == len(set(dropped))  # each said once
