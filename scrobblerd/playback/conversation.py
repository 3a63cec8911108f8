"""What Trakt hears: the START/PAUSE/STOP a step decides, from a session's Draft.

Pure, like the rest of playback/: `Step` collects the actions of one call.
"""

from __future__ import annotations

from scrobblerd.models import ActionKind, Decision, ScrobbleAction
from scrobblerd.playback.session import (
    RESUME_ASKED,
    RESUME_SEEKING,
    Core,
    Draft,
    Rules,
    extrapolate,
    part_of,
    progress_in,
    split,
)

_RESET = tuple(n for n in Core._fields if n not in ("viewings", "clock"))


class Step:
    """What one call works with: its time, the rules, and the actions it decided."""

    __slots__ = ("now", "out", "rules")

    def __init__(self, now: float, rules: Rules) -> None:
        self.now = now
        self.rules = rules
        self.out: list[Decision] = []


def emit(d: Draft, c: Step, kind: ActionKind, part: int, progress: float) -> None:
    assert d.media is not None and d.viewing is not None
    c.out.append(
        ScrobbleAction(
            kind=kind,
            player=d.player,
            viewing=d.viewing,
            media=d.media,
            progress=progress,
            at=c.now,
            watched=kind is ActionKind.STOP,
            part=part,
            parts=d.parts,
            late=d.late,
        )
    )


def leave(d: Draft, c: Step, part: int, progress: float) -> None:
    """Playback left `part` (crossed into another, or the viewing ends): watched or paused."""
    if part not in d.watched:
        if d.live and progress >= c.rules.threshold:
            emit(d, c, ActionKind.STOP, part, progress)
            d.watched = d.watched | {part}
        elif d.sent is ActionKind.START or (d.sent is ActionKind.PAUSE and d.stale):
            # A seek while paused moved the point Trakt holds: it hears the new one.
            emit(d, c, ActionKind.PAUSE, part, progress)
    d.sent, d.last_sent, d.pending_at, d.stale = None, None, None, False


def cross(d: Draft, c: Step, pos: float, last: float) -> tuple[int, float]:
    """Leave the part Trakt knows about if `pos` is in another one; `last` is where playback was
    in the old part (differs from `pos` for a seek). Returns (part, progress) at `pos`."""
    part, progress = split(d, pos)
    if d.sent is not None and d.sent_part != part:
        leave(d, c, d.sent_part, progress_in(d, last, d.sent_part))
    return part, progress


def conclude(d: Draft, c: Step) -> None:
    """The viewing (or, on a pause timeout, its Trakt conversation) ends where playback is now."""
    pos = extrapolate(d, c.now)
    if d.viewing is None or pos is None or d.duration is None:
        return
    part, progress = cross(d, c, pos, pos)
    leave(d, c, part, progress)


def finish(d: Draft, c: Step) -> None:
    conclude(d, c)
    blank = Draft(d.player)
    for name in _RESET:
        setattr(d, name, getattr(blank, name))


def sync(d: Draft, c: Step, changed: bool) -> None:
    """Bring Trakt to the current state (START/PAUSE), through the debounce gate."""
    pos = extrapolate(d, c.now)
    if d.viewing is None or pos is None or d.duration is None:
        return
    part = part_of(d, pos)
    if d.sent is not None and d.sent_part != part:
        leave(d, c, d.sent_part, progress_in(d, pos, d.sent_part))
    if not d.live or d.closed or part in d.watched:
        want = None
    else:
        want = ActionKind.START if d.playing else ActionKind.PAUSE
    if want is None or (want is d.sent and not (d.stale and d.playing)) or (d.sent is None and not d.playing):
        d.pending_at = None
        return
    if d.sent is None and d.resume in (RESUME_ASKED, RESUME_SEEKING):
        return  # the first START waits for the saved point (next_deadline bounds the wait)
    if d.pending_at is None:
        due = d.last_sent is None or c.now - d.last_sent >= c.rules.debounce
    else:
        due = c.now >= d.pending_at + c.rules.debounce
    if not due:
        if changed or d.pending_at is None:
            d.pending_at = c.now
        return
    emit(d, c, want, part, progress_in(d, pos, part))
    d.sent, d.sent_part, d.last_sent, d.stale, d.pending_at = want, part, c.now, False, None
