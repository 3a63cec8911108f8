"""The resume decision in the pure playback machine: when a viewing asks for its saved point,
when it seeks there, and how the first START waits for it. No threads, sockets or sleeps."""

from __future__ import annotations

from scrobblerd.models import (
    ActionKind,
    Decision,
    EventKind,
    MediaRef,
    PlayerEvent,
    ResumeQuery,
    ScrobbleAction,
    SeekCommand,
)
from scrobblerd.playback.machine import Rules, Session, new_session, next_deadline, step

PLAYER = "mpv:/tmp/mpvsocket"
T0 = 1_700_000_000.0
DUR = 6000.0
MOVIE = MediaRef(path="/media/Heat.1995.1080p.mkv")
ON = Rules(resume=True, resume_min=2.0, resume_max=80.0, resume_wait=1.5)


def ev(kind: EventKind, at: float, position: float | None = None, **kw: object) -> PlayerEvent:
    return PlayerEvent(kind, PLAYER, T0 + at, media=MOVIE, position=position, duration=DUR, **kw)  # type: ignore[arg-type]


def feed(script: list[PlayerEvent], rules: Rules = ON) -> tuple[Session, list[Decision]]:
    s, out = new_session(PLAYER), []
    for e in script:
        s, got = step(s, e, e.at, rules)
        out += got
    return s, out


def starts(out: list[Decision]) -> list[float]:
    return [a.progress for a in out if isinstance(a, ScrobbleAction) and a.kind is ActionKind.START]


def test_a_viewing_opened_at_the_start_asks_for_its_point_and_holds_the_start() -> None:
    s, out = feed([ev(EventKind.PLAYING, 0, 0.0)])
    assert [type(a) for a in out] == [ResumeQuery]
    query = out[0]
    assert isinstance(query, ResumeQuery)
    assert (query.player, query.media, query.duration) == (PLAYER, MOVIE, DUR)
    assert starts(out) == []
    assert next_deadline(s, ON) == T0 + 1.5 + 1e-3


def test_a_point_in_bounds_is_sought_and_the_start_follows_the_seek_at_the_point() -> None:
    script = [
        ev(EventKind.PLAYING, 0, 0.0),
        ev(EventKind.RESUME, 0.2, point=40.0),
    ]
    _, out = feed(script)
    seeks = [a for a in out if isinstance(a, SeekCommand)]
    assert [(x.position, x.progress) for x in seeks] == [(2400.0, 40.0)]
    assert starts(out) == []  # still waiting for the seek to show
    _, out = feed([*script, ev(EventKind.SEEKED, 0.3, 2400.0)])
    assert starts(out) == [40.0]


def test_no_point_lets_the_start_go_at_once() -> None:
    _, out = feed([ev(EventKind.PLAYING, 0, 0.0), ev(EventKind.RESUME, 0.1, point=None)])
    assert [type(a) for a in out] == [ResumeQuery, ScrobbleAction]
    assert starts(out) == [0.0]


def test_points_outside_the_bounds_are_ignored() -> None:
    for point in (1.0, 85.0):
        _, out = feed([ev(EventKind.PLAYING, 0, 0.0), ev(EventKind.RESUME, 0.1, point=point)])
        assert not any(isinstance(a, SeekCommand) for a in out), point
        assert starts(out) == [0.0]


def test_an_unanswered_lookup_holds_the_start_no_longer_than_the_wait() -> None:
    s, _ = feed([ev(EventKind.PLAYING, 0, 0.0)])
    deadline = next_deadline(s, ON)
    assert deadline is not None
    s, got = step(s, PlayerEvent(EventKind.TICK, PLAYER, deadline), deadline, ON)
    assert starts(got) == [0.03]  # 1.5 s played of 6000 s
    s, late = step(s, ev(EventKind.RESUME, 2.0, point=40.0), T0 + 2.0, ON)
    assert not any(isinstance(a, SeekCommand) for a in late)


def test_no_lookup_when_the_user_opened_mid_file() -> None:
    _, out = feed([ev(EventKind.PLAYING, 0, 1800.0)])
    assert not any(isinstance(a, ResumeQuery) for a in out)
    assert starts(out) == [30.0]


def test_no_lookup_when_resume_is_off() -> None:
    _, out = feed([ev(EventKind.PLAYING, 0, 0.0)], Rules())
    assert [type(a) for a in out] == [ScrobbleAction]


def test_a_user_seek_before_the_answer_cancels_the_resume() -> None:
    _, out = feed(
        [
            ev(EventKind.PLAYING, 0, 0.0),
            ev(EventKind.SEEKED, 0.2, 3000.0),
            ev(EventKind.RESUME, 0.4, point=40.0),
        ]
    )
    assert not any(isinstance(a, SeekCommand) for a in out)
    assert starts(out) == [50.0]


def test_a_viewing_seeks_at_most_once() -> None:
    _, out = feed(
        [
            ev(EventKind.PLAYING, 0, 0.0),
            ev(EventKind.RESUME, 0.1, point=40.0),
            ev(EventKind.SEEKED, 0.2, 2400.0),
            ev(EventKind.RESUME, 0.3, point=40.0),
            ev(EventKind.SEEKED, 5.0, 0.0),  # the user goes back to the start himself
            ev(EventKind.RESUME, 5.1, point=40.0),
        ]
    )
    assert len([a for a in out if isinstance(a, SeekCommand)]) == 1


def test_an_answer_for_another_item_is_ignored() -> None:
    other = PlayerEvent(
        EventKind.RESUME, PLAYER, T0 + 0.1, media=MediaRef(path="/media/Ronin.mkv"), point=40.0
    )
    _, out = feed([ev(EventKind.PLAYING, 0, 0.0), other])
    assert not any(isinstance(a, SeekCommand) for a in out)


def test_a_multi_episode_file_never_asks() -> None:
    media = MediaRef(path="/tv/Show.S01E01E02.mkv", parts=2)
    e = PlayerEvent(EventKind.PLAYING, PLAYER, T0, media=media, position=0.0, duration=DUR)
    _, out = feed([e])
    assert not any(isinstance(a, ResumeQuery) for a in out)


def test_rules_from_config_default_the_upper_bound_to_the_threshold() -> None:
    from scrobblerd.config.settings import ResumeConfig, ScrobbleConfig

    rules = Rules.from_config(ScrobbleConfig(threshold=90.0), ResumeConfig(enabled=True))
    assert (rules.resume, rules.resume_min, rules.resume_max) == (True, 2.0, 90.0)
    rules = Rules.from_config(ScrobbleConfig(), ResumeConfig(enabled=True, min_progress=5, max_progress=70))
    assert (rules.resume_min, rules.resume_max) == (5.0, 70.0)
