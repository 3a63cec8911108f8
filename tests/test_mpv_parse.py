"""The mpv watcher's pure parts, driven by payloads recorded from a real mpv 0.35.

tests/fixtures/mpv/session.jsonl: every event one client saw (properties observed as in
OBSERVED) for: load The.Matrix (relative path, tagged), pause, resume, seek 85 % exact,
playlist-next to Breaking.Bad.S01E02, loadfile replace start=98 %, natural end, stop.
tests/fixtures/mpv/playing_props.json: get_property answers while the first file played.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from scrobblerd.errors import PlayerError
from scrobblerd.models import EventKind, MediaRef, PlayerEvent
from scrobblerd.players.mpv.settings import MpvConfig
from scrobblerd.players.mpv.watcher import (
    MpvIpc,
    MpvTracker,
    MpvWatcher,
    end_file_kind,
    expand_paths,
    is_url,
    media_from_props,
    resolve_path,
    split_lines,
    tags_from_metadata,
)

FIXTURES = Path(__file__).parent / "fixtures" / "mpv"
MATRIX = "/tmp/mpvx/The.Matrix.1999.1080p.BluRay.x264.mkv"
BREAKING_BAD = "/tmp/mpvx/Breaking.Bad.S01E02.720p.mkv"


def load_session() -> list[dict[str, Any]]:
    lines = (FIXTURES / "session.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def load_props() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "playing_props.json").read_text())
    return data


class FakeMpv:
    """Answers the tracker's property reads from what mpv last pushed, plus a settable clock."""

    def __init__(self, **props: Any) -> None:
        self.props: dict[str, Any] = {"working-directory": "/tmp/mpvx", **props}
        self.mono = 100.0
        self.tracker = MpvTracker("mpv:/tmp/mpvsocket", self.query, clock=lambda: 1e9, monotonic=self.now)

    def now(self) -> float:
        return self.mono

    def query(self, name: str) -> Any:
        return self.props.get(name)

    def feed(self, messages: list[dict[str, Any]]) -> list[PlayerEvent]:
        events: list[PlayerEvent] = []
        for message in messages:
            if message.get("event") == "property-change":
                self.props[message["name"]] = message.get("data")  # absent data: unavailable
            events.extend(self.tracker.handle(message))
        return events


# -- pure helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("https://example.com/v.mkv", True),
        ("ytdl://abc", True),
        ("file:///x.mkv", True),
        ("/films/a://b.mkv", False),
        ("Movie.mkv", False),
        ("", False),
    ],
)
def test_is_url(path: str, expected: bool) -> None:
    assert is_url(path) is expected


def test_resolve_path() -> None:
    assert resolve_path("a/../Movie.mkv", "/films") == "/films/Movie.mkv"
    assert resolve_path("/abs/Movie.mkv", "/films") == "/abs/Movie.mkv"
    assert resolve_path("https://example.com/x", "/films") == "https://example.com/x"
    assert resolve_path("Movie.mkv", None) == "Movie.mkv"
    assert resolve_path(None, "/films") is None
    assert resolve_path("", "/films") is None


def test_tags_from_matroska_and_mp4_metadata() -> None:
    assert tags_from_metadata(load_props()["metadata"]) == {
        "title": "The Matrix",
        "year": "1999",
        "imdb": "tt0133093",
    }
    mp4 = {"title": "Pilot", "show": "Breaking Bad", "season_number": "1", "episode_sort": "2",
           "date": "2008-01-20", "encoder": "Lavf"}  # fmt: skip
    assert tags_from_metadata(mp4) == {
        "title": "Pilot",
        "show": "Breaking Bad",
        "season": "1",
        "episode": "2",
        "year": "2008",
    }
    assert tags_from_metadata({"DATE": "unknown", "TITLE": "  "}) == {}
    assert tags_from_metadata(None) == {}


def test_media_from_recorded_properties() -> None:
    media = media_from_props(load_props())
    assert media == MediaRef(
        path=MATRIX,
        title="The Matrix",
        tags={"title": "The Matrix", "year": "1999", "imdb": "tt0133093"},
    )
    assert media.kind is None
    assert media_from_props({"path": None, "media-title": None}) is None


def test_end_file_reasons() -> None:
    assert end_file_kind("eof") is EventKind.ENDED
    assert end_file_kind("stop") is EventKind.STOPPED
    assert end_file_kind("quit") is EventKind.STOPPED
    assert end_file_kind("error") is EventKind.STOPPED
    assert end_file_kind("redirect") is None
    assert end_file_kind(None) is None


def test_split_lines_keeps_the_incomplete_tail_and_skips_noise() -> None:
    messages, rest = split_lines(b'{"event":"idle"}\nnot json\n[1]\n{"request_id":1,"err')
    assert messages == [{"event": "idle"}]
    assert rest == b'{"request_id":1,"err'
    messages, rest = split_lines(rest + b'or":"success"}\n')
    assert messages == [{"request_id": 1, "error": "success"}]
    assert rest == b""


def test_expand_paths(tmp_path: Path) -> None:
    for name in ("mpv-b.sock", "mpv-a.sock", "other"):
        (tmp_path / name).touch()
    found = expand_paths((str(tmp_path / "mpv-*.sock"), "/tmp/mpvsocket", str(tmp_path / "mpv-a.sock")))
    assert found == [str(tmp_path / "mpv-a.sock"), str(tmp_path / "mpv-b.sock"), "/tmp/mpvsocket"]
    assert expand_paths((str(tmp_path / "none-*"),)) == []
    assert expand_paths(("~/mpv.sock",)) == [str(Path.home() / "mpv.sock")]


# -- the tracker over the recorded session ------------------------------------------------------


def test_recorded_session_gives_the_exact_events() -> None:
    mpv = FakeMpv()
    mpv.props["time-pos"] = 12.5
    events = mpv.feed(load_session())
    kinds = [e.kind for e in events]
    assert kinds == [
        EventKind.PLAYING,  # The Matrix loaded and playing
        EventKind.PAUSED,
        EventKind.PLAYING,  # resume
        EventKind.SEEKED,  # seek 85 %
        EventKind.STOPPED,  # playlist-next stops The Matrix ...
        EventKind.PLAYING,  # ... and plays Breaking Bad
        EventKind.STOPPED,  # loadfile replace
        EventKind.PLAYING,  # Breaking Bad again from 98 %: the start seek is not a user seek
        EventKind.ENDED,  # natural end
    ]
    matrix, bb = events[0].media, events[5].media
    assert matrix is not None and matrix.path == MATRIX and matrix.title == "The Matrix"
    assert matrix.tags == {"title": "The Matrix", "year": "1999", "imdb": "tt0133093"}
    assert bb is not None and bb.path == BREAKING_BAD and bb.tags == {}
    assert [e.media for e in events] == [matrix] * 5 + [bb] * 4
    assert [e.paused for e in events[:3]] == [False, True, False]
    assert events[0].duration == pytest.approx(90.046)
    assert events[8].position == events[8].duration == pytest.approx(60.046)
    assert all(e.player == "mpv:/tmp/mpvsocket" and e.at == 1e9 for e in events)
    assert mpv.tracker.state == "idle"


def test_attach_reports_what_is_already_playing() -> None:
    playing = FakeMpv(**load_props())
    [event] = playing.tracker.attach()
    assert (event.kind, event.position, event.paused) == (EventKind.PLAYING, 0.546, False)
    assert event.media is not None and event.media.path == MATRIX

    paused = FakeMpv(**{**load_props(), "pause": True})
    assert [e.kind for e in paused.tracker.attach()] == [EventKind.PAUSED]

    assert FakeMpv(**{**load_props(), "idle-active": True}).tracker.attach() == []
    assert FakeMpv(**{**load_props(), "eof-reached": True}).tracker.attach() == []
    assert FakeMpv().tracker.attach() == []


def test_lost_extrapolates_the_last_position_while_playing() -> None:
    mpv = FakeMpv(**load_props())
    mpv.tracker.attach()
    mpv.mono += 7.0
    [lost] = mpv.tracker.lost()
    assert (lost.kind, lost.duration) == (EventKind.LOST, 90.046)
    assert lost.position == pytest.approx(7.546)
    assert mpv.tracker.lost() == []  # once


def test_lost_position_is_capped_by_duration_and_frozen_while_paused() -> None:
    mpv = FakeMpv(**load_props())
    mpv.tracker.attach()
    mpv.mono += 500.0
    assert mpv.tracker.lost()[0].position == 90.046

    paused = FakeMpv(**{**load_props(), "pause": True})
    paused.tracker.attach()
    paused.mono += 500.0
    assert paused.tracker.lost()[0].position == 0.546


def test_stop_position_is_extrapolated_since_the_last_read() -> None:
    mpv = FakeMpv(**load_props())
    mpv.tracker.attach()
    mpv.mono += 3.0
    [stopped] = mpv.feed([{"event": "end-file", "reason": "stop"}])
    assert stopped.position == pytest.approx(3.546)
    assert mpv.feed([{"event": "end-file", "reason": "stop"}]) == []


def test_a_stop_right_after_a_seek_while_paused_ends_at_the_seek_target() -> None:
    # No playback-restart came between the seek and the stop: the stop still carries the target.
    mpv = FakeMpv(**{**load_props(), "pause": True})
    mpv.tracker.attach()
    mpv.props["time-pos"] = 36.0  # what mpv answers from the seek on
    assert mpv.feed([{"event": "seek"}]) == []
    mpv.props.pop("time-pos")  # gone once the file is unloaded
    [stopped] = mpv.feed([{"event": "end-file", "reason": "stop"}])
    assert (stopped.kind, stopped.position) == (EventKind.STOPPED, 36.0)


def test_nothing_is_lost_or_ended_when_nothing_played() -> None:
    mpv = FakeMpv()
    assert mpv.tracker.lost() == []
    assert mpv.feed([{"event": "start-file"}, {"event": "end-file", "reason": "error"}]) == []
    assert mpv.tracker.tick() == []


def test_keep_open_eof_ends_without_end_file() -> None:
    mpv = FakeMpv(**load_props())
    mpv.tracker.attach()
    events = mpv.feed(
        [
            {"event": "property-change", "name": "eof-reached", "data": True},
            {"event": "property-change", "name": "pause", "data": True},
            {"event": "playback-restart"},
        ]
    )
    assert [(e.kind, e.position) for e in events] == [(EventKind.ENDED, 90.046)]
    mpv.props["time-pos"] = 45.0
    back = mpv.feed([{"event": "seek"}, {"event": "property-change", "name": "eof-reached", "data": False}])
    assert [(e.kind, e.position) for e in back] == [(EventKind.PAUSED, 45.0)]  # a new viewing
    assert mpv.feed([{"event": "playback-restart"}]) == []


def test_ticks_report_progress_only_while_playing() -> None:
    mpv = FakeMpv(**load_props())
    mpv.tracker.attach()
    mpv.props["time-pos"] = 30.0
    [progress] = mpv.tracker.tick()
    assert (progress.kind, progress.position, progress.paused) == (EventKind.PROGRESS, 30.0, False)
    mpv.feed([{"event": "property-change", "name": "pause", "data": True}])
    assert mpv.tracker.tick() == []


def test_position_falls_back_to_percent_pos() -> None:
    mpv = FakeMpv(**{**load_props(), "time-pos": None, "percent-pos": 50.0})
    [event] = mpv.tracker.attach()
    assert event.position == pytest.approx(45.023)


def test_repeated_pause_values_are_not_events() -> None:
    mpv = FakeMpv(**load_props())
    mpv.tracker.attach()
    pause = {"event": "property-change", "name": "pause", "data": False}
    assert mpv.feed([pause, pause]) == []
    assert mpv.feed([{"event": "seek"}, {"event": "seek"}, {"event": "playback-restart"}])[0].kind is (
        EventKind.SEEKED
    )
    assert mpv.feed([{"event": "playback-restart"}]) == []


# -- the IPC client over a socket pair ---------------------------------------------------------


@pytest.fixture
def pair() -> Any:
    ours, theirs = socket.socketpair()
    ipc = MpvIpc(ours)
    yield ipc, theirs
    ipc.close()
    theirs.close()


def test_request_answers_and_keeps_events_for_later(pair: Any) -> None:
    ipc, mpv = pair
    mpv.sendall(b'{"event":"pause"}\n{"request_id":7,"error":"success"}\n')
    mpv.sendall(b'{"data":12.5,"request_id":1,"error":"success"}\n')
    assert ipc.get("time-pos") == 12.5
    assert list(ipc.pending) == [{"event": "pause"}]
    assert json.loads(mpv.recv(4096)) == {"command": ["get_property", "time-pos"], "request_id": 1}


def test_events_that_come_in_the_same_read_as_the_answer_are_kept(pair: Any) -> None:
    # mpv often writes the answer and the next events together (a seek's playback-restart).
    ipc, mpv = pair
    mpv.sendall(b'{"data":36.0,"request_id":1,"error":"success"}\n{"event":"playback-restart"}\n')
    assert ipc.get("time-pos") == 36.0
    assert list(ipc.pending) == [{"event": "playback-restart"}]


def test_request_errors(pair: Any) -> None:
    ipc, mpv = pair
    mpv.sendall(b'{"request_id":1,"error":"property unavailable"}\n')
    assert ipc.get("time-pos") is None
    mpv.sendall(b'{"request_id":2,"error":"property not found"}\n')
    with pytest.raises(PlayerError, match="property not found"):
        ipc.get("nonsense")
    with pytest.raises(PlayerError, match="did not answer"):
        ipc.request("get_property", "path", timeout=0.05)
    mpv.close()
    with pytest.raises(PlayerError, match="connection"):
        ipc.receive()


def test_receive_never_blocks(pair: Any) -> None:
    ipc, mpv = pair
    started = time.monotonic()
    ipc.receive()
    assert time.monotonic() - started < 0.1 and not ipc.pending
    mpv.sendall(b'{"event":"seek"}\n{"event":"playback-')
    ipc.receive()
    assert list(ipc.pending) == [{"event": "seek"}]


def test_connect_refused_leaks_no_socket(tmp_path: Path) -> None:
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as leftover:
        leftover.bind(str(stale))
    with pytest.raises(ConnectionRefusedError):
        MpvIpc.connect(str(stale))
    with pytest.raises(FileNotFoundError):
        MpvIpc.connect(str(tmp_path / "absent.sock"))


def test_watcher_without_mpv_waits_and_stops_promptly(tmp_path: Path) -> None:
    watcher = MpvWatcher(MpvConfig(ipc_path=(str(tmp_path / "mpv.sock"), str(tmp_path / "x-*.sock"))))
    events: list[PlayerEvent] = []
    threads = set(threading.enumerate())
    watcher.start(events.append)
    deadline = time.monotonic() + 5.0
    while len(watcher.status()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    status = watcher.status()
    assert status[f"mpv:{tmp_path / 'mpv.sock'}"].state == "waiting"
    assert status[f"mpv:{tmp_path / 'mpv.sock'}"].detail == "No such file or directory"
    assert status[f"mpv:{tmp_path / 'x-*.sock'}"].detail == "no socket matches"
    started = time.monotonic()
    watcher.stop()
    assert time.monotonic() - started < 0.5
    assert set(threading.enumerate()) <= threads
    assert events == [] and watcher.restarts == 0


def test_a_file_that_started_while_attaching_is_announced_at_the_next_tick() -> None:
    """Connected mid-load: the file's playback-restart came before our subscriptions, and attach()
    still saw mpv idle. The next tick announces it instead of never."""
    mpv = FakeMpv(**{"idle-active": True})
    assert mpv.tracker.attach() == []
    props = load_props()
    mpv.props.update(props)
    # what the subscriptions push: the current values, no start-file, no playback-restart
    for name in ("path", "filename", "media-title", "duration", "idle-active", "eof-reached", "pause"):
        mpv.feed([{"event": "property-change", "name": name, "data": props[name]}])
    events = mpv.tracker.tick()
    assert [e.kind for e in events] == [EventKind.PLAYING]
    assert events[0].media is not None and events[0].media.path == "/tmp/mpvx/" + props["path"]
    assert mpv.tracker.tick()[0].kind is EventKind.PROGRESS  # announced once, then progress


def test_no_late_announce_between_start_file_and_playback_restart_or_after_an_end() -> None:
    mpv = FakeMpv(**{"idle-active": True})
    mpv.tracker.attach()
    props = load_props()
    mpv.props.update(props)
    mpv.feed([{"event": "start-file"}])
    for name in ("path", "duration", "idle-active", "eof-reached"):
        mpv.feed([{"event": "property-change", "name": name, "data": props[name]}])
    assert mpv.tracker.tick() == []  # loading: playback-restart will announce it
    assert [e.kind for e in mpv.feed([{"event": "playback-restart"}])] == [EventKind.PLAYING]
    assert [e.kind for e in mpv.feed([{"event": "end-file", "reason": "eof"}])] == [EventKind.ENDED]
    assert mpv.tracker.tick() == []  # ended: the path may linger a moment, it is not a new file
