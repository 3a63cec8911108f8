"""The quick path of `step`: a plain position report on a viewing that changes nothing Trakt
should hear and trips no timer costs one tuple, not a full copy of the state. A property test
checks that it always agrees with the full step."""

from __future__ import annotations

from scrobblerd.models import ActionKind, EventKind, PlayerEvent
from scrobblerd.playback.session import (
    ANCHOR,
    CLOCK,
    PLAYED,
    POSITION,
    Core,
    Rules,
    Session,
    extrapolate,
    part_of,
)


def steady(s: Session, ev: PlayerEvent, now: float, rules: Rules) -> Session | None:
    """The common case without copying the whole state: a position report (or a restated
    play/pause) that changes nothing Trakt should hear and trips no timer. None when the full
    step is needed; a property test checks that both paths agree."""
    c = s.core
    pos = steady_position(c, ev, now, rules)
    if pos is None or c.clock is None:
        return None
    part = part_of(c, pos)
    if c.sent is not None and c.sent_part != part:
        return None
    if c.playing:
        if (c.sent is not ActionKind.START or c.stale) and part not in c.watched:
            return None
        played = c.played + (now - c.clock)
    else:
        if c.sent is ActionKind.START:
            return None
        if c.live and not c.closed and c.paused_at is not None and now >= c.paused_at + rules.pause_timeout:
            return None
        played = c.played
    values = list(c)  # Core._replace is several times slower, and this is the hot path
    values[CLOCK] = values[ANCHOR] = now
    values[POSITION], values[PLAYED] = pos, played
    return Session(s.player, tuple.__new__(Core, values))


def steady_position(c: Core, ev: PlayerEvent, now: float, rules: Rules) -> float | None:
    """The event's position if the event is a plain report on the current viewing: same item,
    same duration, same play state, no seek, nothing pending. Otherwise None."""
    kind = ev.kind
    if kind is EventKind.PROGRESS:
        if ev.paused is not None and ev.paused is not (not c.playing):
            return None
    elif kind is not (EventKind.PLAYING if c.playing else EventKind.PAUSED):
        return None
    if c.viewing is None or c.pending_at is not None or c.preview or c.clock is None or now < c.clock:
        return None
    media, pos, duration = ev.media, ev.position, c.duration
    if media is not None and media is not c.media and (c.media is None or media.key != c.media.key):
        return None
    if duration is None or (ev.duration is not None and ev.duration != duration) or type(pos) is not float:
        return None
    expected = extrapolate(c, now)
    if expected is None or not 0.0 <= pos <= duration:
        return None
    return pos if abs(pos - expected) <= rules.seek_tolerance / 100.0 * duration else None
