"""Table-driven tests for the playback state machine (scrobblerd.playback.machine).

A script is a list of (seconds after T0, kind, position[, extras]); the runner feeds it through
`step` and, like the daemon's dispatcher, fires TICKs at `next_deadline` in between. Expected
actions are (seconds, kind, progress[, part]); "stop" always means a watched stop.
"""

from __future__ import annotations

import ast
import math
from dataclasses import fields
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from scrobblerd.config.settings import ScrobbleConfig
from scrobblerd.models import ActionKind, EventKind, MediaRef, PlayerEvent, ScrobbleAction
from scrobblerd.playback import conversation
from scrobblerd.playback import machine as state
from scrobblerd.playback import session as session_types
from scrobblerd.playback import steady as quick_path
from scrobblerd.playback.machine import Rules, Session, close, new_session, next_deadline, step
from scrobblerd.playback.steady import steady

PLAYER = "mpv:/tmp/mpvsocket"
T0 = 1_700_000_000.0
DUR = 6000.0  # 100 minutes: 1 % is 60 s
MOVIE = MediaRef(path="/media/Heat.1995.1080p.mkv")
OTHER = MediaRef(path="/media/Ronin.1998.1080p.mkv")
DOUBLE = MediaRef(path="/media/Show.S01E01E02.mkv", parts=2)  # 3000 s per part
R = Rules()

KINDS = {
    "play": EventKind.PLAYING,
    "pause": EventKind.PAUSED,
    "seek": EventKind.SEEKED,
    "progress": EventKind.PROGRESS,
    "stop": EventKind.STOPPED,
    "end": EventKind.ENDED,
    "lost": EventKind.LOST,
    "tick": EventKind.TICK,
}

Script = list[tuple[Any, ...]]


def event(kind: str, pos: float | None = None, **extra: Any) -> PlayerEvent:
    ek = KINDS[kind]
    if ek in (EventKind.PLAYING, EventKind.PROGRESS) and "media" not in extra:
        extra["media"] = MOVIE
    if ek in (EventKind.PLAYING, EventKind.PROGRESS) and "duration" not in extra:
        extra["duration"] = DUR
    return PlayerEvent(kind=ek, player=PLAYER, at=0.0, position=pos, **extra)


def run(
    script: Script, rules: Rules = R, until: float | None = None, session: Session | None = None
) -> tuple[Session, list[ScrobbleAction]]:
    """Feed the script; TICK at every deadline before each event and up to `until`
    (default: 10 s after the last event)."""
    s = session or new_session(PLAYER)
    actions: list[ScrobbleAction] = []

    def tick_until(t: float) -> None:
        nonlocal s
        for _ in range(1000):
            due = next_deadline(s, rules)
            if due is None or due > t:
                return
            s, out = step(s, event("tick"), due, rules)
            actions.extend(out)
        raise AssertionError("deadlines do not advance")

    for row in script:
        t, kind, pos = row[0], row[1], row[2] if len(row) > 2 else None
        extra = row[3] if len(row) > 3 else {}
        tick_until(T0 + t)
        s, out = step(s, event(kind, pos, **extra), T0 + t, rules)
        actions.extend(out)
    tick_until(T0 + (until if until is not None else script[-1][0] + 10))
    return s, actions


def summary(actions: list[ScrobbleAction]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for a in actions:
        assert (a.kind is ActionKind.STOP) == a.watched
        row: tuple[Any, ...] = (round(a.at - T0, 2), a.kind.value, a.progress)
        rows.append((*row, a.part) if a.parts > 1 else row)
    return rows


CASES: dict[str, tuple[Script, list[tuple[Any, ...]]]] = {
    # --- the basics ------------------------------------------------------------------------
    "play starts": ([(0, "play", 0)], [(0, "start", 0.0)]),
    "restart mid-movie starts at 40": ([(0, "play", 2400)], [(0, "start", 40.0)]),
    "pause then resume": (
        [(0, "play", 0), (600, "pause", 600), (700, "play", 600)],
        [(0, "start", 0.0), (600, "pause", 10.0), (700, "start", 10.0)],
    ),
    "stop below threshold is a pause": (
        [(0, "play", 0), (600, "stop", 600)],
        [(0, "start", 0.0), (600, "pause", 10.0)],
    ),
    "stop reported at 0 uses the extrapolated position": (
        [(0, "play", 0), (600, "stop", 0)],
        [(0, "start", 0.0), (600, "pause", 10.0)],
    ),
    "stop without position extrapolates": (
        [(0, "play", 4700), (100, "stop")],
        [(0, "start", 78.33), (100, "stop", 80.0)],
    ),
    "stop at threshold is watched": (
        [(0, "play", 4700), (100, "stop", 4800)],
        [(0, "start", 78.33), (100, "stop", 80.0)],
    ),
    "stop while paused below threshold sends nothing more": (
        [(0, "play", 0), (600, "pause", 600), (700, "stop", 600)],
        [(0, "start", 0.0), (600, "pause", 10.0)],
    ),
    "ended is watched at 100": (
        [(0, "play", 4700), (1300, "end")],
        [(0, "start", 78.33), (1300, "stop", 100.0)],
    ),
    "ended with a final position uses it": (
        [(0, "play", 4700), (1299, "end", 5999)],
        [(0, "start", 78.33), (1299, "stop", 99.98)],
    ),
    # --- player lost ------------------------------------------------------------------------
    "lost while playing extrapolates": (
        [(0, "play", 4500), (400, "lost")],
        [(0, "start", 75.0), (400, "stop", 81.67)],
    ),
    "lost extrapolation is capped at the duration": (
        [(0, "play", 4700), (3000, "lost")],
        [(0, "start", 78.33), (3000, "stop", 100.0)],
    ),
    "lost while paused below threshold": (
        [(0, "play", 0), (600, "pause", 600), (5000, "lost")],
        [(0, "start", 0.0), (600, "pause", 10.0)],
    ),
    "lost while playing below threshold pauses": (
        [(0, "play", 0), (600, "lost")],
        [(0, "start", 0.0), (600, "pause", 10.0)],
    ),
    # --- credits and keep-open -------------------------------------------------------------
    "pause at the credits then stop": (
        [(0, "play", 4000), (1000, "pause", 5000), (2000, "stop")],
        [(0, "start", 66.67), (1000, "pause", 83.33), (2000, "stop", 83.33)],
    ),
    "pause at the credits then lost": (
        [(0, "play", 4000), (1000, "pause", 5000), (2000, "lost")],
        [(0, "start", 66.67), (1000, "pause", 83.33), (2000, "stop", 83.33)],
    ),
    "keep-open pause on the last frame then lost": (
        [(0, "play", 4700), (1300, "pause", 5999.96), (1700, "lost")],
        [(0, "start", 78.33), (1300, "pause", 100.0), (1700, "stop", 100.0)],
    ),
    "pause at the credits then pause timeout, later stop sends nothing": (
        [(0, "play", 4000), (1000, "pause", 5000), (9000, "stop")],
        [(0, "start", 66.67), (1000, "pause", 83.33), (4600, "stop", 83.33)],
    ),
    "pause timeout then resume at the credits stays silent": (
        [(0, "play", 4000), (1000, "pause", 5000), (5000, "play", 5000), (5500, "stop")],
        [(0, "start", 66.67), (1000, "pause", 83.33), (4600, "stop", 83.33)],
    ),
    "pause timeout below threshold, resume starts again": (
        [(0, "play", 0), (600, "pause", 600), (5000, "play", 600)],
        [(0, "start", 0.0), (600, "pause", 10.0), (5000, "start", 10.0)],
    ),
    # --- preview ----------------------------------------------------------------------------
    "preview closed early sends nothing": ([(0, "play", 5700), (30, "stop")], []),
    "preview ended early sends nothing": ([(0, "play", 5700), (30, "end")], []),
    "preview lost early sends nothing": ([(0, "play", 5700), (59, "lost")], []),
    "preview that keeps playing starts after preview_time": (
        [(0, "play", 5400), (100, "stop")],
        [(60, "start", 91.0), (100, "stop", 91.67)],
    ),
    "preview time counts only playing time": (
        [(0, "play", 5400), (30, "pause", 5430), (100, "play", 5430), (200, "stop")],
        [(130, "start", 91.0), (200, "stop", 92.17)],
    ),
    "opened paused past the threshold is a preview": (
        [(0, "pause", 5400, {"media": MOVIE, "duration": DUR}), (10, "play", 5400), (50, "stop")],
        [],
    ),
    "opened paused then stopped sends nothing": (
        [(0, "pause", 1200, {"media": MOVIE, "duration": DUR}), (10, "stop")],
        [],
    ),
    "opened paused then played starts": (
        [(0, "pause", 1200, {"media": MOVIE, "duration": DUR}), (10, "play", 1200)],
        [(10, "start", 20.0)],
    ),
    # --- threshold above 80 -----------------------------------------------------------------
    # (these use the "t90" rules, see test_table)
    # --- seeks ------------------------------------------------------------------------------
    "explicit seek restarts": (
        [(0, "play", 0), (10, "seek", 3000)],
        [(0, "start", 0.0), (10, "start", 50.0)],
    ),
    "progress jump beyond tolerance is a seek": (
        [(0, "play", 0), (10, "progress", 3000, {"paused": False})],
        [(0, "start", 0.0), (10, "start", 50.0)],
    ),
    "progress within tolerance is not a seek": (
        [(0, "play", 0), (100, "progress", 250, {"paused": False}), (200, "progress", 200)],
        [(0, "start", 0.0)],
    ),
    "seek while paused waits for the resume": (
        [(0, "play", 0), (100, "pause", 100), (200, "seek", 3000), (300, "play", 3000)],
        [(0, "start", 0.0), (100, "pause", 1.67), (300, "start", 50.0)],
    ),
    "seek while paused then stop tells Trakt the new point": (
        [(0, "play", 0), (100, "pause", 100), (200, "seek", 3000), (300, "stop")],
        [(0, "start", 0.0), (100, "pause", 1.67), (300, "pause", 50.0)],
    ),
    "seek while paused then the pause timeout tells Trakt the new point": (
        [(0, "play", 0), (100, "pause", 100), (200, "seek", 3000), (100 + 3600, "tick")],
        [(0, "start", 0.0), (100, "pause", 1.67), (3700, "pause", 50.0)],
    ),
    "a seek storm collapses into its last position": (
        [(0, "play", 0), (10, "seek", 600), (10.2, "seek", 1200), (10.4, "seek", 1800), (10.6, "seek", 2400)],
        [(0, "start", 0.0), (10, "start", 10.0), (11.6, "start", 40.02)],
    ),
    "seek back below threshold then stop is not watched": (
        [(0, "play", 4700), (200, "seek", 600), (300, "stop")],
        [(0, "start", 78.33), (200, "start", 10.0), (300, "pause", 11.67)],
    ),
    # --- debounce ---------------------------------------------------------------------------
    "toggle storm collapses into the last state": (
        [(0, "play", 0), (10, "pause", 10), (10.2, "play", 10), (10.4, "pause", 10), (10.6, "play", 10)],
        [(0, "start", 0.0), (10, "pause", 0.17), (11.6, "start", 0.18)],
    ),
    "toggle storm ending where Trakt is sends nothing more": (
        [(0, "play", 0), (10, "pause", 10), (10.2, "play", 10), (10.4, "pause", 10), (30, "tick")],
        [(0, "start", 0.0), (10, "pause", 0.17)],
    ),
    "pause right after the start is deferred": (
        [(0, "play", 0), (0.5, "pause", 0.5), (5, "tick")],
        [(0, "start", 0.0), (1.5, "pause", 0.01)],
    ),
    "stop is never deferred": (
        [(0, "play", 0), (10, "pause", 10), (10.2, "play", 10), (10.3, "lost")],
        [(0, "start", 0.0), (10, "pause", 0.17)],
    ),
    # --- duplicates -------------------------------------------------------------------------
    "restated playing is a no-op": (
        [(0, "play", 0), (5, "play", 5), (10, "play", 10), (20, "progress", 20, {"paused": False})],
        [(0, "start", 0.0)],
    ),
    "restated paused is a no-op": (
        [(0, "play", 0), (60, "pause", 60), (65, "pause", 60), (70, "progress", 60, {"paused": True})],
        [(0, "start", 0.0), (60, "pause", 1.0)],
    ),
    # --- media change, rewatch ----------------------------------------------------------------
    "media change stops the previous item": (
        [(0, "play", 0), (600, "play", 0, {"media": OTHER})],
        [(0, "start", 0.0), (600, "pause", 10.0), (600, "start", 0.0)],
    ),
    "autoplay next after the credits": (
        [(0, "play", 4700), (1200, "play", 0, {"media": OTHER})],
        [(0, "start", 78.33), (1200, "stop", 98.33), (1200, "start", 0.0)],
    ),
    "progress reporting a new item is a media change": (
        [(0, "play", 4700), (1200, "progress", 0, {"media": OTHER, "paused": False})],
        [(0, "start", 78.33), (1200, "stop", 98.33), (1200, "start", 0.0)],
    ),
    "rewatch after the end is a new viewing with its own watch": (
        [(0, "play", 4700), (1300, "end"), (1400, "play", 0), (7400, "end")],
        [(0, "start", 78.33), (1300, "stop", 100.0), (1400, "start", 0.0), (7400, "stop", 100.0)],
    ),
    # --- ignored media ------------------------------------------------------------------------
    "duration learned later starts then": (
        [(0, "play", 0, {"duration": None}), (5, "progress", 5, {"paused": False})],
        [(5, "start", 0.08)],
    ),
    "events before any media are ignored": (
        [(0, "pause", 10), (1, "seek", 20), (2, "stop"), (3, "tick")],
        [],
    ),
    # --- multi-episode files --------------------------------------------------------------------
    "parts: crossing by time is a watched stop and a start": (
        [(0, "play", 0, {"media": DOUBLE}), (6000, "end")],
        [(0, "start", 0.0, 0), (3000, "stop", 100.0, 0), (3000, "start", 0.0, 1), (6000, "stop", 100.0, 1)],
    ),
    "parts: crossing seen in a progress report": (
        [(0, "play", 2300, {"media": DOUBLE}), (690, "progress", 3001, {"media": DOUBLE, "paused": False})],
        [(0, "start", 76.67, 0), (690, "stop", 100.0, 0), (690, "start", 0.03, 1)],
    ),
    "parts: a seek over a part pauses it": (
        [(0, "play", 0, {"media": DOUBLE}), (100, "seek", 4500), (200, "end")],
        [(0, "start", 0.0, 0), (100, "pause", 3.33, 0), (100, "start", 50.0, 1), (200, "stop", 100.0, 1)],
    ),
    "parts: a seek back into a watched part stays silent for it": (
        [(0, "play", 2300, {"media": DOUBLE}), (800, "seek", 100), (900, "stop")],
        [(0, "start", 76.67, 0), (700, "stop", 100.0, 0), (700, "start", 0.0, 1), (800, "pause", 3.33, 1)],
    ),
    "parts: lost in the middle of part two": (
        [(0, "play", 2300, {"media": DOUBLE}), (1600, "lost")],
        [(0, "start", 76.67, 0), (700, "stop", 100.0, 0), (700, "start", 0.0, 1), (1600, "pause", 30.0, 1)],
    ),
    "parts: preview is judged per part": (
        [(0, "play", 2900, {"media": DOUBLE}), (50, "stop")],
        [],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_table(name: str) -> None:
    script, expected = CASES[name]
    _, actions = run(script)
    assert summary(actions) == expected


T90 = Rules(threshold=90.0)
T90_CASES: dict[str, tuple[Script, list[tuple[Any, ...]]]] = {
    "threshold 90: stop at 85 is a pause": (
        [(0, "play", 5000), (100, "stop")],
        [(0, "start", 83.33), (100, "pause", 85.0)],
    ),
    "threshold 90: stop at 91 is watched": (
        [(0, "play", 5000), (460, "stop")],
        [(0, "start", 83.33), (460, "stop", 91.0)],
    ),
    "threshold 90: paused at 85 then lost sends nothing more": (
        [(0, "play", 5000), (100, "pause", 5100), (200, "lost")],
        [(0, "start", 83.33), (100, "pause", 85.0)],
    ),
    "threshold 90: opened at 85 is not a preview": (
        [(0, "play", 5100)],
        [(0, "start", 85.0)],
    ),
}


@pytest.mark.parametrize("name", list(T90_CASES))
def test_threshold_above_80(name: str) -> None:
    script, expected = T90_CASES[name]
    _, actions = run(script, rules=T90)
    assert summary(actions) == expected


BAD_DURATIONS = [None, 0.0, -5.0, math.nan, math.inf, -math.inf, 120.0, 299.9, "6000", True]


@pytest.mark.parametrize("duration", BAD_DURATIONS, ids=repr)
def test_ignored_media_never_scrobbles(duration: Any) -> None:
    media = {"media": MOVIE, "duration": duration}
    script: Script = [
        (0, "play", 0, media),
        (10, "progress", 10, {**media, "paused": False}),
        (20, "pause", 20),
        (30, "seek", 100),
        (40, "play", 100, media),
        (100, "progress", 160, {**media, "paused": True}),
        (200, "end"),
        (300, "play", 0, media),
        (400, "lost"),
    ]
    s, actions = run(script, until=10_000)
    assert actions == []
    assert s.viewing is None


@pytest.mark.parametrize("position", [math.nan, math.inf, -math.inf, -1.0, 1e12, "12", None, True])
def test_garbage_positions_are_ignored(position: Any) -> None:
    script: Script = [
        (0, "play", 600),
        (10, "progress", position, {"paused": False}),
        (20, "seek", position),
        (30, "pause", position),
        (40, "stop", position),
    ]
    _, actions = run(script)
    # Position 600 extrapolated 30 s to the pause; garbage never moves it.
    assert summary(actions) == [(0, "start", 10.0), (30, "pause", 10.5)]


def test_garbage_position_on_first_play_starts_nothing_until_known() -> None:
    _, actions = run([(0, "play", math.nan), (1, "progress", -3), (2, "progress", 60, {"paused": False})])
    assert summary(actions) == [(2, "start", 1.0)]


def test_media_short_of_min_duration_with_custom_rule() -> None:
    rules = Rules(min_duration=60.0)
    _, actions = run([(0, "play", 0, {"duration": 120.0}), (120, "end")], rules=rules)
    assert summary(actions) == [(0, "start", 0.0), (120, "stop", 100.0)]


def test_every_action_is_stamped_and_rounded() -> None:
    _, actions = run([(0, "play", 123.456), (0.123, "pause", 777.777), (3, "lost")])
    assert summary(actions) == [(0, "start", 2.06), (1.12, "pause", 12.96)]
    for a in actions:
        assert a.player == PLAYER
        assert a.media == MOVIE
        assert a.progress == round(a.progress, 2)
        assert 0.0 <= a.progress <= 100.0


def test_viewing_ids_are_deterministic_and_new_per_viewing() -> None:
    script: Script = [(0, "play", 0), (100, "stop"), (200, "play", 0), (300, "play", 0, {"media": OTHER})]
    _, first = run(script)
    _, again = run(script)
    assert first == again
    ids = [a.viewing for a in first if a.kind is ActionKind.START]
    assert ids == [f"{PLAYER}@{T0:.3f}#1", f"{PLAYER}@{T0 + 200:.3f}#2", f"{PLAYER}@{T0 + 300:.3f}#3"]
    assert len({a.viewing for a in first}) == 3


def test_one_watched_stop_per_viewing_even_when_stopped_twice() -> None:
    _, actions = run([(0, "play", 4700), (1250, "stop"), (1260, "stop"), (1270, "lost"), (1280, "end")])
    assert summary(actions) == [(0, "start", 78.33), (1250, "stop", 99.17)]


def test_close_past_threshold_is_a_watch() -> None:
    s, _ = run([(0, "play", 4700)])
    s, actions = close(s, T0 + 400, R)
    assert summary(actions) == [(400, "stop", 85.0)]
    assert s.viewing is None and s.media is None


def test_close_below_threshold_is_a_pause() -> None:
    s, _ = run([(0, "play", 0)])
    _, actions = close(s, T0 + 600, R)
    assert summary(actions) == [(600, "pause", 10.0)]


def test_close_in_preview_or_idle_sends_nothing() -> None:
    s, _ = run([(0, "play", 5700)])
    assert close(s, T0 + 10, R)[1] == []
    assert close(new_session(PLAYER), T0, R)[1] == []


def test_session_properties_for_status() -> None:
    s = new_session(PLAYER)
    assert (s.playing, s.media, s.viewing, s.progress(T0), s.part) == (False, None, None, None, 0)
    s, _ = run([(0, "play", 600)])
    assert s.playing and s.media == MOVIE and s.viewing is not None
    assert s.progress(T0 + 60) == 11.0
    s, _ = run([(0, "play", 600), (60, "pause", 660)])
    assert not s.playing and s.progress(T0 + 1000) == 11.0
    s, _ = run([(0, "play", 3600, {"media": DOUBLE})])
    assert s.part == 1 and s.progress(T0) == 20.0


def test_next_deadline_names_each_timer() -> None:
    assert next_deadline(new_session(PLAYER), R) is None
    s, _ = run([(0, "play", 0)], until=0)
    assert next_deadline(s, R) is None  # single part, playing: nothing to wait for
    s, _ = run([(0, "play", 0), (0.5, "pause", 0.5)], until=0)
    assert next_deadline(s, R) == pytest.approx(T0 + 1.5, abs=0.01)  # debounce flush
    s, _ = run([(0, "play", 5700)], until=0)
    assert next_deadline(s, R) == pytest.approx(T0 + 60, abs=0.01)  # preview end
    s, _ = run([(0, "play", 0), (100, "pause", 100)], until=0)
    assert next_deadline(s, R) == pytest.approx(T0 + 3700, abs=0.01)  # pause timeout
    s, _ = run([(0, "play", 100, {"media": DOUBLE})], until=0)
    assert next_deadline(s, R) == pytest.approx(T0 + 2900, abs=0.01)  # part crossing
    s, _ = run([(0, "play", 5700), (10, "stop")], until=0)
    assert next_deadline(s, R) is None


def test_step_is_pure() -> None:
    s, _ = run([(0, "play", 0), (10, "pause", 10)])
    before = s
    ev = event("play", 10)
    first = step(s, ev, T0 + 20, R)
    second = step(s, ev, T0 + 20, R)
    assert first == second
    assert s == before


def test_session_state_mirrors_the_draft_fields() -> None:
    assert ["player", *session_types.Core._fields] == [f.name for f in fields(session_types.Draft)]


def test_rules_from_config() -> None:
    cfg = ScrobbleConfig(threshold=90.0, min_duration=120.0, preview_time=30.0, pause_timeout=600.0)
    rules = Rules.from_config(cfg)
    assert (rules.threshold, rules.min_duration, rules.preview_time, rules.pause_timeout) == (
        90.0,
        120.0,
        30.0,
        600.0,
    )
    assert Rules.from_config(ScrobbleConfig()) == Rules()


PURE_MODULES = (state, session_types, conversation, quick_path)
ALLOWED_IMPORTS = {"__future__", "math", "dataclasses", "typing", "enum", "scrobblerd.models"} | {
    m.__name__ for m in PURE_MODULES
}
TYPE_CHECKING_IMPORTS = {"collections.abc"}


def _imported(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if isinstance(node, ast.ImportFrom):
        return {node.module or ""}
    return set()


@pytest.mark.parametrize("module", PURE_MODULES, ids=lambda m: m.__name__)
def test_the_pure_machine_imports_only_models_and_the_standard_library(module: ModuleType) -> None:
    tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
    runtime: set[str] = set()
    typing_only: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for inner in ast.walk(node):
                typing_only |= _imported(inner)
        else:
            for inner in ast.walk(node):
                runtime |= _imported(inner)
    assert runtime <= ALLOWED_IMPORTS, runtime - ALLOWED_IMPORTS
    assert typing_only <= TYPE_CHECKING_IMPORTS, typing_only - TYPE_CHECKING_IMPORTS


def test_plain_progress_reports_take_the_quick_path() -> None:
    s, _ = run([(0, "play", 600)], until=0)
    report = event("progress", 630.5, paused=False)
    quick = steady(s, report, T0 + 30, R)
    assert quick is not None
    assert (quick, []) == state._full_step(s, report, T0 + 30, R)
    assert quick.progress(T0 + 30) == 10.51


def test_a_viewing_opened_past_the_threshold_is_marked_late() -> None:
    """Delivery uses `late` to tell the rest of an earlier watch (a restart) from a rewatch."""
    from scrobblerd.models import EventKind, MediaRef, PlayerEvent
    from scrobblerd.playback import machine as st

    rules = st.Rules(min_duration=60, preview_time=5)
    media = MediaRef(path="/m/x.mkv")
    s = st.new_session("p")
    s, _ = st.step(s, PlayerEvent(EventKind.PLAYING, "p", 0.0, media, 900.0, 1000.0), 0.0, rules)
    s, _ = st.step(s, PlayerEvent(EventKind.TICK, "p", 10.0), 10.0, rules)
    s, acts = st.step(s, PlayerEvent(EventKind.ENDED, "p", 20.0, media, 1000.0, 1000.0), 20.0, rules)
    assert [a.watched for a in acts if a.kind.value == "stop"] == [True]
    assert all(a.late for a in acts)
    s2 = st.new_session("p")
    s2, acts = st.step(s2, PlayerEvent(EventKind.PLAYING, "p", 0.0, media, 0.0, 1000.0), 0.0, rules)
    assert acts and not acts[0].late
