"""Property tests for the state machine over random event sequences.

The runner plays the dispatcher: before each event it fires TICKs at `next_deadline`.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrobblerd.models import ActionKind, EventKind, MediaRef, PlayerEvent, ScrobbleAction
from scrobblerd.playback import machine as state
from scrobblerd.playback.machine import Rules, Session, close, new_session, next_deadline, step
from scrobblerd.playback.steady import steady

PLAYER = "kodi:127.0.0.1:9090"
T0 = 1_700_000_000.0
RULES = Rules()
MEDIA = [
    MediaRef(path="/media/Heat.1995.mkv"),
    MediaRef(path="/media/Ronin.1998.mkv"),
    MediaRef(path="/media/Show.S01E01E02E03.mkv", parts=3),
]
GOOD_DURATIONS = [600.0, 2700.0, 6000.0]
BAD_DURATIONS = [None, 0.0, -1.0, math.nan, math.inf, 30.0, 299.0]

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KINDS = list(EventKind)
# Mostly "the current item" (None), so viewings last long enough to reach their rules.
MEDIA_CHOICES = [None, None, None, None, MEDIA[0], MEDIA[0], MEDIA[1], MEDIA[2]]
SPECIAL_POSITIONS = [None, 0.0, -5.0, math.nan, math.inf, 1e9, 599.99, 2999.5, 5999.96, 2000.0]
SPECIAL_GAPS = [3600.0, 4000.0, 0.0, 1.0]


def decode(code: int, durations: list[Any]) -> tuple[float, PlayerEvent]:
    """One integer -> (gap before, event). Integers are cheap for hypothesis to draw and shrink."""
    code, kind = divmod(code, len(KINDS))
    code, media = divmod(code, len(MEDIA_CHOICES))
    code, duration = divmod(code, len(durations))
    code, paused = divmod(code, 3)
    code, pos = divmod(code, 1000 + len(SPECIAL_POSITIONS))
    gap = code % (500 + len(SPECIAL_GAPS))
    return (
        gap / 250 if gap < 250 else (gap - 250) / 2 if gap < 500 else SPECIAL_GAPS[gap - 500],
        PlayerEvent(
            kind=KINDS[kind],
            player=PLAYER,
            at=0.0,
            media=MEDIA_CHOICES[media],
            position=pos * 7.0 if pos < 1000 else SPECIAL_POSITIONS[pos - 1000],
            duration=durations[duration],
            paused=(None, True, False)[paused],
        ),
    )


def events(durations: list[Any], max_size: int = 40) -> st.SearchStrategy[list[tuple[float, PlayerEvent]]]:
    code = st.integers(min_value=0, max_value=2**40)
    return st.lists(code, max_size=max_size).map(lambda codes: [decode(c, durations) for c in codes])


def play(
    script: list[tuple[float, PlayerEvent]], rules: Rules = RULES
) -> tuple[Session, list[ScrobbleAction]]:
    s = new_session(PLAYER)
    now = T0
    actions: list[ScrobbleAction] = []
    for gap, ev in script:
        target = now + gap
        for _ in range(1000):
            due = next_deadline(s, rules)
            if due is None or due > target:
                break
            assert due > now, "a deadline must lie in the future"
            now = due
            s, out = step(s, PlayerEvent(EventKind.TICK, PLAYER, now), now, rules)
            check_actions(out, now)
            actions.extend(out)
        now = target
        s, out = step(s, ev, now, rules)
        check_actions(out, now)
        actions.extend(out)
        due = next_deadline(s, rules)
        assert due is None or due > now
    return s, actions


def check_actions(out: list[ScrobbleAction], now: float) -> None:
    for a in out:
        assert 0.0 <= a.progress <= 100.0
        assert a.progress == round(a.progress, 2)
        assert a.at == now and a.player == PLAYER
        assert (a.kind is ActionKind.STOP) == a.watched
        assert 0 <= a.part < a.parts


@SETTINGS
@given(events(GOOD_DURATIONS + BAD_DURATIONS))
def test_progress_bounded_and_one_watch_per_viewing_part(script: list[tuple[float, PlayerEvent]]) -> None:
    _, actions = play(script)
    watched = [(a.viewing, a.part) for a in actions if a.watched]
    assert len(watched) == len(set(watched))


@SETTINGS
@given(events(GOOD_DURATIONS + BAD_DURATIONS))
def test_every_start_is_closed_when_the_player_is_lost(script: list[tuple[float, PlayerEvent]]) -> None:
    _, actions = play([*script, (5.0, PlayerEvent(EventKind.LOST, PLAYER, 0.0))])
    last: dict[tuple[str, int], ActionKind] = {}
    for a in actions:
        last[(a.viewing, a.part)] = a.kind
    assert ActionKind.START not in last.values()


@SETTINGS
@given(events(GOOD_DURATIONS), st.floats(min_value=0, max_value=5000))
def test_close_leaves_nothing_open(script: list[tuple[float, PlayerEvent]], later: float) -> None:
    s, actions = play(script)
    s, out = close(s, T0 + sum(gap for gap, _ in script) + later, RULES)
    actions.extend(out)
    last: dict[tuple[str, int], ActionKind] = {}
    for a in actions:
        last[(a.viewing, a.part)] = a.kind
    assert ActionKind.START not in last.values()
    assert s.viewing is None and next_deadline(s, RULES) is None


@SETTINGS
@given(events(BAD_DURATIONS))
def test_ignored_media_never_acts(script: list[tuple[float, PlayerEvent]]) -> None:
    s, actions = play(script)
    assert actions == []
    assert s.viewing is None


@SETTINGS
@given(events(GOOD_DURATIONS))
def test_no_storm_within_a_viewing(script: list[tuple[float, PlayerEvent]]) -> None:
    """START/PAUSE of one single-part viewing are at least `debounce` apart (its final
    pause or stop excepted, which is never delayed)."""
    _, actions = play(script)
    by_viewing: dict[str, list[ScrobbleAction]] = defaultdict(list)
    for a in actions:
        if a.parts == 1:
            by_viewing[a.viewing].append(a)
    for seq in by_viewing.values():
        talk = [a.at for a in seq[:-1]]
        assert all(b - a >= RULES.debounce for a, b in itertools.pairwise(talk))


@SETTINGS
@given(events(GOOD_DURATIONS + BAD_DURATIONS, max_size=30))
def test_step_is_deterministic(script: list[tuple[float, PlayerEvent]]) -> None:
    assert play(script) == play(script)


@SETTINGS
@given(
    events(GOOD_DURATIONS, max_size=30),
    st.floats(min_value=80, max_value=100),
    st.floats(min_value=0, max_value=3),
)
def test_other_rules_keep_the_invariants(
    script: list[tuple[float, PlayerEvent]], threshold: float, debounce: float
) -> None:
    rules = Rules(threshold=threshold, debounce=debounce, preview_time=30.0, pause_timeout=600.0)
    _, actions = play([*script, (1.0, PlayerEvent(EventKind.LOST, PLAYER, 0.0))], rules)
    watched = [(a.viewing, a.part) for a in actions if a.watched]
    assert len(watched) == len(set(watched))
    assert all(a.progress >= threshold for a in actions if a.watched)


@SETTINGS
@given(events(GOOD_DURATIONS + BAD_DURATIONS), st.integers(min_value=0, max_value=2**40))
def test_the_quick_path_agrees_with_the_full_step(script: list[tuple[float, PlayerEvent]], seed: int) -> None:
    """Every state reached by a random sequence, followed by a plain position report near
    the expected position: when the quick path answers, the full step says the same."""
    s = new_session(PLAYER)
    now = T0
    for i, (gap, ev) in enumerate(script):
        now += gap
        core = s.core
        if core.position is not None and core.duration is not None:
            drift = ((seed >> (i % 32)) % 7 - 3) * 1.0
            expected = core.position + (now - core.anchor if core.playing else 0.0)
            same = EventKind.PLAYING if core.playing else EventKind.PAUSED
            report = PlayerEvent(
                (EventKind.PROGRESS, same)[(seed + i) % 2],
                PLAYER,
                0.0,
                (None, core.media)[i % 2],
                min(core.duration, max(0.0, expected + drift)),
                (None, core.duration)[(i // 2) % 2],
                (None, not core.playing)[(seed + i // 3) % 2],
            )
            quick = steady(s, report, now, RULES)
            if quick is not None:
                assert (quick, []) == state._full_step(s, report, now, RULES)
        s, _ = step(s, ev, now, RULES)
