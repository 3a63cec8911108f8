"""The pure half of the VLC watcher, on status.json / playlist.json payloads recorded from VLC 3.0."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrobblerd.errors import PlayerError
from scrobblerd.models import EventKind
from scrobblerd.players.vlc.parse import (
    END_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    PROGRESS_EVERY,
    STOPPED_MAX_INTERVAL,
    VlcSnapshot,
    end_event,
    events_from,
    find_uri,
    media_from,
    parse_status,
    path_from_uri,
    poll_delay,
)

FIXTURES = Path(__file__).parent / "fixtures" / "vlc"
PLAYER = "vlc:http://127.0.0.1:8080"
MATRIX = "/tmp/vlccap/media/The.Matrix.1999.1080p.BluRay.x264.mkv"


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def snap(name: str, at: float = 0.0, **changes: Any) -> VlcSnapshot:
    return replace(parse_status(load(name), at=at), **changes)


def playing(at: float, position: float, **changes: Any) -> VlcSnapshot:
    """The recorded Matrix payload (90.046 s), moved to `position` seconds at wall time `at`."""
    base = snap("status_playing_movie", at=at, uri="file://" + MATRIX)
    return replace(base, position=position / 90.046, time=float(int(position)), **changes)


def kinds(events: list[Any]) -> list[EventKind]:
    return [e.kind for e in events]


# --- parse_status -------------------------------------------------------------------------------


def test_idle_vlc_is_stopped_with_no_item() -> None:
    s = parse_status(load("status_idle"))
    assert (s.state, s.currentplid, s.active, s.duration, s.filename) == ("stopped", -1, False, None, None)
    assert s.missing == ()


def test_playing_movie() -> None:
    s = parse_status(load("status_playing_movie"), at=100.0)
    assert (s.state, s.time, s.length, s.currentplid, s.active) == ("playing", 1.0, 90.0, 3, True)
    assert s.filename == "The.Matrix.1999.1080p.BluRay.x264.mkv"
    assert s.duration == pytest.approx(90.046)  # the Matroska DURATION tag, finer than `length`
    assert s.seconds == pytest.approx(0.011507018469274 * 90.046)
    assert s.estimate(102.0) == pytest.approx(0.011507018469274 * 90.046 + 2.0)
    assert s.at == 100.0


def test_paused_estimate_does_not_advance() -> None:
    s = parse_status(load("status_paused_movie"), at=10.0)
    assert s.state == "paused"
    assert s.estimate(50.0) == s.seconds


def test_estimate_stops_at_the_end() -> None:
    assert playing(0.0, 89.0).estimate(10.0) == pytest.approx(90.046)


def test_episode_meta_from_vlc_filename_reader() -> None:
    s = parse_status(load("status_playing_episode"))
    assert (s.show_name, s.season, s.episode, s.title) == ("Breaking Bad", 1, 2, "Breaking Bad S01E02")
    media = media_from(replace(s, uri="file:///media/Breaking.Bad.S01E02.720p.mkv"))
    assert media.path == "/media/Breaking.Bad.S01E02.720p.mkv"
    assert (media.kind, media.show_title, media.season, media.episode) == ("episode", "Breaking Bad", 1, 2)
    assert media.title is None  # "Breaking Bad S01E02" is made up from the filename, not a title


def test_media_falls_back_to_filename_without_playlist() -> None:
    media = media_from(snap("status_playing_movie"))
    assert media.path == "The.Matrix.1999.1080p.BluRay.x264.mkv"
    assert (media.kind, media.title) == (None, None)


def test_real_title_tag_is_kept() -> None:
    media = media_from(snap("status_playing_movie", title="The Matrix"))
    assert media.title == "The Matrix"


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("file:///home/me/Movies/The%20Matrix%20%281999%29.mkv", "/home/me/Movies/The Matrix (1999).mkv"),
        ("file:///m/%C3%89t%C3%A9.mkv", "/m/Été.mkv"),
        ("http://example.invalid/live/stream.m3u8", "http://example.invalid/live/stream.m3u8"),
    ],
)
def test_path_from_uri(uri: str, path: str) -> None:
    assert path_from_uri(uri) == path


def test_stream_url_meta_is_the_path_without_playlist() -> None:
    s = snap("status_playing_movie", url="http://example.invalid/a.ts", filename="a.ts")
    assert media_from(s).path == "http://example.invalid/a.ts"


def test_playlist_uri_by_current_item_id() -> None:
    tree = load("playlist_two_items")
    assert find_uri(tree, 4) == "file:///tmp/vlccap/media/Breaking.Bad.S01E02.720p.mkv"
    assert find_uri(tree, 5) == "file:///tmp/vlccap/media/Breaking.Bad.S01E03.720p.mkv"
    assert find_uri(tree, 99) is None
    assert find_uri({"children": "junk"}, 1) is None


@pytest.mark.parametrize(
    "payload",
    [[], "x", None, {}, {"state": "buffering"}, {"state": 3}, {"time": 5}],
)
def test_unusable_payloads_raise_player_error(payload: Any) -> None:
    with pytest.raises(PlayerError):
        parse_status(payload)


def test_missing_and_mistyped_fields_are_named() -> None:
    s = parse_status({"state": "playing", "time": "5", "position": None, "currentplid": 4})
    assert s.missing == ("time", "length", "position")
    assert (s.seconds, s.duration, s.active) == (None, None, True)


def test_information_of_the_wrong_shape_is_ignored() -> None:
    s = parse_status({**load("status_playing_movie"), "information": ["x"]})
    assert s.filename is None and s.active


SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
META = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        ("filename", "title", "showName", "seasonNumber", "episodeNumber", "DURATION"), SCALAR
    ),
)
VALUE = SCALAR | st.sampled_from(["playing", "paused", "stopped"]) | st.lists(SCALAR, max_size=2)
INFORMATION = VALUE | st.fixed_dictionaries({"category": VALUE | st.fixed_dictionaries({"meta": META})})
PAYLOAD = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(("state", "time", "length", "position", "currentplid", "rate"), VALUE),
        "information": INFORMATION,
    },
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(PAYLOAD)
def test_parse_status_never_raises_anything_but_player_error(payload: dict[str, Any]) -> None:
    try:
        s = parse_status(payload)
    except PlayerError:
        return
    events_from(None, s, 1.0, player=PLAYER)
    events_from(s, s, 2.0, player=PLAYER)
    poll_delay(s, 1.0, 1.0, 3)


# --- events_from --------------------------------------------------------------------------------


def test_first_sight_of_playing_media() -> None:
    [event] = events_from(None, playing(10.0, 5.0), 10.0, player=PLAYER)
    assert (event.kind, event.player, event.at, event.paused) == (EventKind.PLAYING, PLAYER, 10.0, False)
    assert event.media is not None and event.media.path == MATRIX
    assert event.position == pytest.approx(5.0)
    assert event.duration == pytest.approx(90.046)


def test_first_sight_of_paused_media_is_paused() -> None:
    [event] = events_from(None, playing(10.0, 5.0, state="paused"), 10.0, player=PLAYER)
    assert (event.kind, event.paused) == (EventKind.PAUSED, True)


def test_steady_playback_is_quiet_then_reports_progress() -> None:
    prev, cur = playing(10.0, 5.0), playing(11.0, 6.1)
    assert events_from(prev, cur, 11.0, player=PLAYER, last_progress=10.0) == []
    [event] = events_from(prev, cur, 11.0, player=PLAYER, last_progress=11.0 - PROGRESS_EVERY)
    assert (event.kind, event.paused) == (EventKind.PROGRESS, False)
    assert event.position == pytest.approx(6.1)


def test_pause_and_resume() -> None:
    prev = playing(10.0, 5.0)
    paused = playing(11.0, 5.5, state="paused")
    [event] = events_from(prev, paused, 11.0, player=PLAYER)
    assert (event.kind, event.paused) == (EventKind.PAUSED, True)
    assert event.position == pytest.approx(5.5)
    resumed = playing(40.0, 5.8)  # paused for ~29 s: no seek, however long the pause
    [event] = events_from(paused, resumed, 40.0, player=PLAYER)
    assert (event.kind, event.paused) == (EventKind.PLAYING, False)


def test_seek_forward_and_back_while_playing() -> None:
    prev = playing(10.0, 5.0)
    [event] = events_from(prev, playing(11.0, 76.5), 11.0, player=PLAYER)
    assert event.kind == EventKind.SEEKED
    assert event.position == pytest.approx(76.5)
    [event] = events_from(prev, playing(11.0, 1.0), 11.0, player=PLAYER)
    assert event.kind == EventKind.SEEKED


def test_jitter_below_tolerance_is_no_seek() -> None:
    prev = playing(10.0, 5.0)
    assert events_from(prev, playing(11.0, 7.2), 11.0, player=PLAYER, last_progress=11.0) == []
    assert events_from(prev, playing(11.0, 4.8), 11.0, player=PLAYER, last_progress=11.0) == []


def test_seek_while_paused() -> None:
    prev = playing(10.0, 5.0, state="paused")
    [event] = events_from(prev, playing(11.0, 60.0, state="paused"), 11.0, player=PLAYER)
    assert (event.kind, event.paused) == (EventKind.SEEKED, True)


def test_seek_and_pause_in_one_poll() -> None:
    events = events_from(playing(10.0, 5.0), playing(11.0, 70.0, state="paused"), 11.0, player=PLAYER)
    assert kinds(events) == [EventKind.SEEKED, EventKind.PAUSED]


def test_user_stop_is_stamped_when_last_seen_playing() -> None:
    # It stopped somewhere between the two polls: the earliest moment, so that Trakt's stop
    # window (5 s from the real end) does not start a poll interval late.
    prev = playing(10.0, 40.0)
    [event] = events_from(prev, snap("status_stopped_by_user", at=10.6), 10.6, player=PLAYER)
    assert event.kind == EventKind.STOPPED
    assert (event.at, event.position) == (10.0, pytest.approx(40.0))
    assert event.media is not None and event.media.path == MATRIX
    assert event.paused is None


def test_stop_at_the_end_is_ended_with_full_position_stamped_when_last_seen() -> None:
    prev = playing(10.0, 89.6)
    [event] = events_from(prev, snap("status_stopped_at_end", at=10.5), 10.5, player=PLAYER)
    assert event.kind == EventKind.ENDED
    assert (event.at, event.position) == (10.0, pytest.approx(90.046))


def test_a_lost_vlc_is_stamped_when_last_seen_with_the_position_seen_then() -> None:
    event = end_event(playing(10.0, 40.0), 13.0, PLAYER, EventKind.LOST)
    assert (event.kind, event.at, event.position) == (EventKind.LOST, 10.0, pytest.approx(40.0))


def test_stop_while_paused_keeps_the_paused_position() -> None:
    prev = playing(10.0, 30.0, state="paused")
    [event] = events_from(prev, snap("status_stopped_by_user", at=99.0), 99.0, player=PLAYER)
    assert event.kind == EventKind.STOPPED
    assert event.position == pytest.approx(30.0)


def test_next_item_mid_file_stops_the_old_and_plays_the_new() -> None:
    prev = replace(snap("status_playing_episode", at=10.0), position=0.5, uri="file:///m/e2.mkv")
    cur = replace(snap("status_playing_next_item", at=11.0), uri="file:///m/e3.mkv")
    stopped, started = events_from(prev, cur, 11.0, player=PLAYER)
    assert stopped.kind == EventKind.STOPPED
    assert stopped.media is not None and stopped.media.path == "/m/e2.mkv"
    assert (stopped.at, stopped.position) == (10.0, pytest.approx(0.5 * 60.046))
    assert started.kind == EventKind.PLAYING
    assert started.media is not None and started.media.path == "/m/e3.mkv"
    assert started.media.episode == 3
    assert started.position == pytest.approx(cur.seconds)


def test_natural_advance_to_the_next_item_is_ended() -> None:
    prev = replace(snap("status_playing_episode", at=10.0), position=59.5 / 60.046)
    ended, started = events_from(prev, snap("status_playing_next_item", at=10.5), 10.5, player=PLAYER)
    assert (ended.kind, ended.position, started.kind) == (EventKind.ENDED, 60.046, EventKind.PLAYING)


def test_filename_arriving_late_is_the_same_item() -> None:
    prev = playing(10.0, 0.0, filename=None)
    assert events_from(prev, playing(11.0, 1.0), 11.0, player=PLAYER, last_progress=10.0) == []


def test_stopped_to_stopped_is_quiet() -> None:
    idle = snap("status_idle", at=1.0)
    assert events_from(idle, replace(idle, at=2.0), 2.0, player=PLAYER) == []
    assert events_from(None, idle, 2.0, player=PLAYER) == []


# --- poll_delay ---------------------------------------------------------------------------------


def test_playing_polls_at_the_interval_and_faster_near_the_end() -> None:
    assert poll_delay(playing(0.0, 10.0), 0.0, 1.0) == 1.0
    assert poll_delay(playing(0.0, 70.0), 0.0, 1.0) == END_POLL_INTERVAL
    assert poll_delay(playing(0.0, 70.0), 0.0, 0.2) == 0.2  # never slower than configured
    assert poll_delay(playing(0.0, 10.0, state="paused"), 0.0, 1.0) == 1.0


def test_stopped_polls_slow_down_to_a_ceiling() -> None:
    idle = snap("status_idle")
    delays = [poll_delay(idle, 0.0, 1.0, n) for n in range(6)]
    assert delays == [1.0, 2.0, 4.0, STOPPED_MAX_INTERVAL, STOPPED_MAX_INTERVAL, STOPPED_MAX_INTERVAL]
    assert poll_delay(idle, 0.0, 10.0, 5) == 10.0  # a slow configured interval is honoured


def test_never_busy_polls() -> None:
    assert poll_delay(playing(0.0, 89.0), 0.0, 0.0) == MIN_POLL_INTERVAL
    assert poll_delay(snap("status_idle"), 0.0, 0.0, 0) == MIN_POLL_INTERVAL
