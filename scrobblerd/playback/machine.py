"""The playback state machine: player events in, scrobble actions out.

Pure: no clock, I/O, threads or logging; `now` is a parameter. One Session per player; the
dispatcher calls `step` for every event and schedules a TICK at `next_deadline`.

Decisions worth knowing (the README explains them to users):
- A viewing begins once the media has a usable duration (>= min_duration) and a known position.
  It is silent until it plays; opened already past the threshold it is a preview and stays silent
  until it has played `preview_time` seconds.
- Trakt hears STOP only for a watch: ending a viewing (or leaving a part) at >= threshold sends
  STOP(watched=True), at most once per viewing and part; below it a PAUSE is sent if Trakt thinks
  we are watching, so Trakt never records a watch we did not decide (also for thresholds > 80).
- Debounce: a START/PAUSE goes out at once unless another went out less than `debounce` seconds
  ago; then it waits until the toggling has been quiet for `debounce` seconds and the last state
  is sent (or nothing, when it ends where Trakt already is). Stops are never delayed.
- The watched decision uses the position where the viewing ends (like Trakt), not the furthest
  position ever seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrobblerd.models import Decision, EventKind, MediaRef, PlayerEvent, ResumeQuery, SeekCommand
from scrobblerd.playback.conversation import Step, conclude, cross, finish, sync
from scrobblerd.playback.session import (
    RESUME_ASKED,
    RESUME_DONE,
    RESUME_SEEKING,
    Draft,
    Rules,
    ScrobbleSettings,
    Session,
    extrapolate,
    freeze,
    new_session,
    number,
    part_of,
    parts_of,
    restored,
    saved_state,
    split,
    thaw,
    transition_of,
)
from scrobblerd.playback.steady import steady

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "Rules",
    "ScrobbleSettings",
    "Session",
    "close",
    "new_session",
    "next_deadline",
    "restored",
    "saved_state",
    "step",
    "transition_of",
]

# Deadlines are nudged past the instant they are due, so a TICK at the deadline always fires
# (epoch floats carry ~0.2 µs of precision).
_DEADLINE_SLACK = 1e-3
# A reported position this far past the duration is garbage, not player rounding.
_POSITION_SLACK = 10.0  # seconds
# A viewing that begins this close to the start was opened "from the beginning": its saved point
# is looked up. Anywhere else the user chose where to start, and no point is offered.
_START_SECONDS = 10.0
_START_PERCENT = 1.0


# --- state updates --------------------------------------------------------------------------


def _refresh(d: Draft, rules: Rules) -> None:
    if d.viewing is not None and d.playing:
        if d.preview and d.played >= rules.preview_time:
            d.preview = False
        if not d.preview:
            d.live, d.closed = True, False


def _advance(d: Draft, c: Step) -> None:
    """Act on the time since the last step: play time (preview), pause timeout. The rest of
    what time does (debounce flush, part crossing) happens in the `sync` after the event."""
    if d.viewing is None:
        return
    if d.playing and d.clock is not None:
        d.played += max(0.0, c.now - d.clock)
    if d.resume in (RESUME_ASKED, RESUME_SEEKING) and c.now >= d.resume_since + c.rules.resume_wait:
        d.resume = RESUME_DONE  # no answer, or the seek never showed: the START waits no longer
    _refresh(d, c.rules)
    if (
        d.live
        and not d.playing
        and not d.closed
        and d.paused_at is not None
        and c.now >= d.paused_at + c.rules.pause_timeout
    ):
        conclude(d, c)
        d.closed = True


def _load(d: Draft, c: Step, ev: PlayerEvent) -> bool:
    """Take the event's media (a different item ends the current viewing) and duration."""
    media = ev.media
    if isinstance(media, MediaRef) and (d.media is None or media.key != d.media.key):
        finish(d, c)
        d.media, d.parts = media, parts_of(media)
    if d.media is None:
        return False
    duration = number(ev.duration)
    if duration is not None and duration > 0 and (d.viewing is None or duration >= c.rules.min_duration):
        d.duration = duration
    return True


def _place(d: Draft, c: Step, raw: object, *, seek: bool = False, detect: bool = True) -> bool:
    """Take a reported position; returns whether it is a seek (explicit, or off the expectation)."""
    pos = number(raw)
    if pos is None or pos < 0:
        return False
    if d.duration is not None:
        if pos > d.duration + _POSITION_SLACK:
            return False
        pos = min(pos, d.duration)
    expected = extrapolate(d, c.now)
    if expected is not None and d.duration is not None and not seek and detect:
        seek = abs(pos - expected) > c.rules.seek_tolerance / 100.0 * d.duration
    if seek and expected is not None and d.sent is not None and d.duration is not None:
        # A jump out of the part: that part ends where playback was before the jump.
        cross(d, c, pos, expected)
    d.position, d.anchor = pos, c.now
    d.stale = d.stale or seek
    if seek and d.resume in (RESUME_ASKED, RESUME_SEEKING):
        d.resume = RESUME_DONE  # our seek landed, or the user moved first: either way, settled
    return seek


def _set_playing(d: Draft, playing: bool, now: float) -> bool:
    if d.playing == playing:
        return False
    if d.position is not None:  # fold the time played so far into the position
        d.position, d.anchor = extrapolate(d, now), now
    d.playing, d.paused_at = playing, (None if playing else now)
    return True


def _begin(d: Draft, c: Step) -> None:
    """Start a viewing once the media is scrobbleable and the position known."""
    if d.viewing is not None or d.duration is None or d.position is None:
        return
    if d.duration < c.rules.min_duration:
        return
    d.viewings += 1
    d.viewing = f"{d.player}@{c.now:.3f}#{d.viewings}"
    d.preview = split(d, d.position)[1] >= c.rules.threshold
    d.late = d.preview
    d.paused_at = None if d.playing else c.now
    _ask_for_point(d, c)


def _ask_for_point(d: Draft, c: Step) -> None:
    """A viewing opened at the start of a single item asks for its saved point, once."""
    assert d.duration is not None and d.position is not None and d.viewing is not None
    at_start = d.position < _START_SECONDS or d.position / d.duration * 100.0 < _START_PERCENT
    if not c.rules.resume or d.parts > 1 or not at_start or d.media is None:
        return
    d.resume, d.resume_since = RESUME_ASKED, c.now
    c.out.append(ResumeQuery(d.player, d.viewing, d.media, d.duration, c.now))


# --- event handlers: each returns whether the play state changed (toggle or seek) ------------


def _on_play_state(d: Draft, c: Step, ev: PlayerEvent, playing: bool) -> bool:
    if not _load(d, c, ev):
        return False
    seek = _place(d, c, ev.position)
    toggled = _set_playing(d, playing, c.now)
    _begin(d, c)
    return seek or toggled


def _on_playing(d: Draft, c: Step, ev: PlayerEvent) -> bool:
    return _on_play_state(d, c, ev, True)


def _on_paused(d: Draft, c: Step, ev: PlayerEvent) -> bool:
    return _on_play_state(d, c, ev, False)


def _on_seeked(d: Draft, c: Step, ev: PlayerEvent) -> bool:
    if not _load(d, c, ev):
        return False
    seek = _place(d, c, ev.position, seek=True)
    _begin(d, c)
    return seek


def _on_progress(d: Draft, c: Step, ev: PlayerEvent) -> bool:
    if not _load(d, c, ev):
        return False
    seek = _place(d, c, ev.position)
    toggled = isinstance(ev.paused, bool) and _set_playing(d, not ev.paused, c.now)
    _begin(d, c)
    return seek or toggled


def _same_media(d: Draft, ev: PlayerEvent) -> bool:
    return d.media is not None and (ev.media is None or ev.media.key == d.media.key)


def _on_stopped(d: Draft, c: Step, ev: PlayerEvent) -> bool:
    # Some players reset their clock to 0 on stop: a final 0 says nothing, extrapolate instead.
    if _same_media(d, ev) and ev.position != 0:
        _place(d, c, ev.position)
    finish(d, c)
    return False


def _on_ended(d: Draft, c: Step, ev: PlayerEvent) -> bool:
    if _same_media(d, ev) and d.duration is not None:
        final = number(ev.position)
        _place(d, c, d.duration if final is None else final, detect=False)
    finish(d, c)
    return False


def _on_tick(d: Draft, c: Step, ev: PlayerEvent) -> bool:
    return False


def _on_resume(d: Draft, c: Step, ev: PlayerEvent) -> bool:
    """The saved point for the item the viewing asked about: seek there if it is in bounds."""
    if d.resume != RESUME_ASKED or ev.media is None or not _same_media(d, ev):
        return False
    point = number(ev.point)
    d.resume = RESUME_DONE
    if point is None or not c.rules.resume_min <= point <= c.rules.resume_max:
        return False
    assert d.duration is not None and d.viewing is not None and d.media is not None
    target = round(point / 100.0 * d.duration, 3)
    c.out.append(SeekCommand(d.player, d.viewing, d.media, target, point, c.now))
    d.resume, d.resume_since = RESUME_SEEKING, c.now
    return False


_HANDLERS: dict[EventKind, Callable[[Draft, Step, PlayerEvent], bool]] = {
    EventKind.PLAYING: _on_playing,
    EventKind.PAUSED: _on_paused,
    EventKind.SEEKED: _on_seeked,
    EventKind.PROGRESS: _on_progress,
    EventKind.STOPPED: _on_stopped,
    EventKind.ENDED: _on_ended,
    EventKind.LOST: _on_stopped,  # the best position is the extrapolated one; same handling
    EventKind.TICK: _on_tick,
    EventKind.RESUME: _on_resume,
}

# --- the API --------------------------------------------------------------------------------


def step(session: Session, event: PlayerEvent, now: float, rules: Rules) -> tuple[Session, list[Decision]]:
    """Advance one player's session by one event at wall time `now`; returns the actions to send."""
    quick = steady(session, event, now, rules)
    if quick is not None:
        return quick, []
    return _full_step(session, event, now, rules)


def _full_step(
    session: Session, event: PlayerEvent, now: float, rules: Rules
) -> tuple[Session, list[Decision]]:
    d, c = thaw(session), Step(now, rules)
    _advance(d, c)
    changed = _HANDLERS.get(event.kind, _on_tick)(d, c, event)
    _refresh(d, rules)
    sync(d, c, changed)
    d.clock = now
    return freeze(d), c.out


def close(session: Session, now: float, rules: Rules) -> tuple[Session, list[Decision]]:
    """Daemon shutdown: end the viewing in progress (watched stop past the threshold, else pause)."""
    d, c = thaw(session), Step(now, rules)
    _advance(d, c)
    finish(d, c)
    d.clock = now
    return freeze(d), c.out


def next_deadline(session: Session, rules: Rules) -> float | None:
    """Wall time at which the session needs a TICK (debounce flush, preview end, part crossing,
    pause timeout), or None."""
    s = session.core
    if s.viewing is None or s.clock is None:
        return None
    due: list[float] = []
    if s.pending_at is not None:
        due.append(s.pending_at + rules.debounce)
    if s.playing and s.preview:
        due.append(s.clock + rules.preview_time - s.played)
    if s.playing and s.live and not s.closed and s.position is not None and s.duration is not None:
        now_pos = extrapolate(s, s.clock)
        assert now_pos is not None
        part, n = part_of(s, now_pos), s.parts
        if part < n - 1:
            due.append(s.anchor + (part + 1) * s.duration / n - s.position)
    if not s.playing and s.live and not s.closed and s.paused_at is not None:
        due.append(s.paused_at + rules.pause_timeout)
    if s.resume in (RESUME_ASKED, RESUME_SEEKING):
        due.append(s.resume_since + rules.resume_wait)
    return min(due) + _DEADLINE_SLACK if due else None
