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

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

from scrobblerd.models import (
    WATCHED_THRESHOLD,
    ActionKind,
    EventKind,
    MediaRef,
    PlayerEvent,
    ScrobbleAction,
)

if TYPE_CHECKING:
    from collections.abc import Callable

# Deadlines are nudged past the instant they are due, so a TICK at the deadline always fires
# (epoch floats carry ~0.2 µs of precision).
_DEADLINE_SLACK = 1e-3
# A reported position this far past the duration is garbage, not player rounding.
_POSITION_SLACK = 10.0  # seconds
# More parts than this in one file is garbage metadata; such a file is treated as one item.
_MAX_PARTS = 50


class ScrobbleSettings(Protocol):
    """The `scrobble.*` settings the rules come from (the config's ScrobbleConfig has them)."""

    @property
    def threshold(self) -> float: ...
    @property
    def min_duration(self) -> float: ...
    @property
    def preview_time(self) -> float: ...
    @property
    def pause_timeout(self) -> float: ...


@dataclass(frozen=True)
class Rules:
    """The scrobbling rules, from `scrobble.*` in the config plus two internal tunables."""

    threshold: float = WATCHED_THRESHOLD
    min_duration: float = 300.0
    preview_time: float = 60.0
    pause_timeout: float = 3600.0
    debounce: float = 1.0  # seconds of quiet before a burst of pause/resume/seek is sent
    seek_tolerance: float = 3.0  # percent of the duration a position may drift before it is a seek

    @classmethod
    def from_config(cls, scrobble: ScrobbleSettings) -> Rules:
        return cls(
            threshold=scrobble.threshold,
            min_duration=scrobble.min_duration,
            preview_time=scrobble.preview_time,
            pause_timeout=scrobble.pause_timeout,
        )


@dataclass(slots=True)
class _Draft:
    """The mutable working copy of a Session inside one `step`: `player`, then _Core's fields."""

    player: str
    viewings: int = 0  # viewings begun so far, for viewing ids
    clock: float | None = None  # `now` of the last step
    media: MediaRef | None = None
    parts: int = 1  # episodes in the file (MediaRef.parts, sanitised)
    duration: float | None = None  # seconds, finite and > 0, or None while unknown
    position: float | None = None  # seconds, at wall time `anchor`
    anchor: float = 0.0
    playing: bool = False
    viewing: str | None = None
    live: bool = False  # played (and past any preview): may talk to Trakt
    preview: bool = False  # opened past the threshold; silent until it played preview_time
    played: float = 0.0  # seconds played in this viewing
    closed: bool = False  # ended by the pause timeout; silent until it plays again
    paused_at: float | None = None
    sent: ActionKind | None = None  # what Trakt last heard for `sent_part` (START/PAUSE) or None
    sent_part: int = 0
    last_sent: float | None = None
    stale: bool = False  # a seek happened since the last START
    pending_at: float | None = None  # debounce: a change waits since then
    watched: frozenset[int] = frozenset()  # parts of this viewing already sent as watched
    late: bool = False  # opened past the threshold: likely the rest of an earlier viewing


class _Core(NamedTuple):
    """A Session's state, immutable (same fields as _Draft after `player`). A tuple, because
    building a frozen dataclass of this size costs more than the rest of a step."""

    viewings: int = 0
    clock: float | None = None
    media: MediaRef | None = None
    parts: int = 1
    duration: float | None = None
    position: float | None = None
    anchor: float = 0.0
    playing: bool = False
    viewing: str | None = None
    live: bool = False
    preview: bool = False
    played: float = 0.0
    closed: bool = False
    paused_at: float | None = None
    sent: ActionKind | None = None
    sent_part: int = 0
    last_sent: float | None = None
    stale: bool = False
    pending_at: float | None = None
    watched: frozenset[int] = frozenset()
    late: bool = False


_IDLE = _Core()


@dataclass(frozen=True, slots=True)
class Session:
    """One player's playback state. Opaque to callers except `player`, `media`, `playing`,
    `viewing`, `part` and `progress(now)`; build with `new_session`, advance with `step`."""

    player: str
    core: _Core = _IDLE

    @property
    def playing(self) -> bool:
        return self.core.playing

    @property
    def media(self) -> MediaRef | None:
        """The item the player is on (also while it is not scrobbleable), or None."""
        return self.core.media

    @property
    def viewing(self) -> str | None:
        """The id of the viewing in progress, or None."""
        return self.core.viewing

    def progress(self, now: float) -> float | None:
        """Progress (0-100) of the current part at `now`, or None when it is not scrobbleable."""
        c = self.core
        pos = _extrapolate(c, now)
        if c.duration is None or pos is None or c.viewing is None:
            return None
        return _split(c, pos)[1]

    @property
    def part(self) -> int:
        """The 0-based part (episode of a multi-episode file) the position is in."""
        c = self.core
        if c.duration is None or c.position is None:
            return 0
        return _split(c, c.position)[0]


class _Step:
    """What one call works with: its time, the rules, and the actions it decided."""

    __slots__ = ("now", "out", "rules")

    def __init__(self, now: float, rules: Rules) -> None:
        self.now = now
        self.rules = rules
        self.out: list[ScrobbleAction] = []


_CLOCK, _POSITION, _ANCHOR, _PLAYED = (
    _Core._fields.index(n) for n in ("clock", "position", "anchor", "played")
)
_RESET = tuple(n for n in _Core._fields if n not in ("viewings", "clock"))
_State = _Draft | _Core


def new_session(player: str) -> Session:
    return Session(player)


def _thaw(s: Session) -> _Draft:
    return _Draft(s.player, *s.core)


def _freeze(d: _Draft) -> Session:
    # tuple.__new__ skips _Core's generated __new__ (with its defaults): this runs every event.
    fields = (
        d.viewings, d.clock, d.media, d.parts, d.duration, d.position, d.anchor, d.playing,
        d.viewing, d.live, d.preview, d.played, d.closed, d.paused_at, d.sent, d.sent_part,
        d.last_sent, d.stale, d.pending_at, d.watched, d.late,
    )  # fmt: skip
    return Session(d.player, tuple.__new__(_Core, fields))


# --- arithmetic -----------------------------------------------------------------------------


def _number(x: object) -> float | None:
    """A finite float, or None for anything else (None, NaN, inf, bool, str, ...)."""
    if type(x) is float:  # the common case first: this runs for every event
        return x if math.isfinite(x) else None
    if type(x) is int:
        return float(x)
    return None


def _parts_of(media: MediaRef) -> int:
    n = media.parts
    return n if isinstance(n, int) and 1 < n <= _MAX_PARTS else 1


def _extrapolate(s: _State, now: float) -> float | None:
    """Where playback is at `now`, assuming it went on since the last report."""
    if s.position is None or not s.playing or now <= s.anchor:
        return s.position
    pos = s.position + (now - s.anchor)
    return pos if s.duration is None or pos < s.duration else s.duration


def _progress_in(s: _State, pos: float, part: int) -> float:
    assert s.duration is not None
    length = s.duration / s.parts
    return round(min(100.0, max(0.0, (pos - part * length) / length * 100.0)), 2)


def _split(s: _State, pos: float) -> tuple[int, float]:
    """(part, progress within it) for a position."""
    assert s.duration is not None
    part = _part_of(s, pos)
    return part, _progress_in(s, pos, part)


def _part_of(s: _State, pos: float) -> int:
    assert s.duration is not None
    n = s.parts
    return min(n - 1, int(pos * n // s.duration)) if n > 1 else 0


# --- output ---------------------------------------------------------------------------------


def _emit(d: _Draft, c: _Step, kind: ActionKind, part: int, progress: float) -> None:
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


def _leave(d: _Draft, c: _Step, part: int, progress: float) -> None:
    """Playback left `part` (crossed into another, or the viewing ends): watched or paused."""
    if part not in d.watched:
        if d.live and progress >= c.rules.threshold:
            _emit(d, c, ActionKind.STOP, part, progress)
            d.watched = d.watched | {part}
        elif d.sent is ActionKind.START:
            _emit(d, c, ActionKind.PAUSE, part, progress)
    d.sent, d.last_sent, d.pending_at, d.stale = None, None, None, False


def _cross(d: _Draft, c: _Step, pos: float, last: float) -> tuple[int, float]:
    """Leave the part Trakt knows about if `pos` is in another one; `last` is where playback was
    in the old part (differs from `pos` for a seek). Returns (part, progress) at `pos`."""
    part, progress = _split(d, pos)
    if d.sent is not None and d.sent_part != part:
        _leave(d, c, d.sent_part, _progress_in(d, last, d.sent_part))
    return part, progress


def _conclude(d: _Draft, c: _Step) -> None:
    """The viewing (or, on a pause timeout, its Trakt conversation) ends where playback is now."""
    pos = _extrapolate(d, c.now)
    if d.viewing is None or pos is None or d.duration is None:
        return
    part, progress = _cross(d, c, pos, pos)
    _leave(d, c, part, progress)


def _finish(d: _Draft, c: _Step) -> None:
    _conclude(d, c)
    blank = _Draft(d.player)
    for name in _RESET:
        setattr(d, name, getattr(blank, name))


def _sync(d: _Draft, c: _Step, changed: bool) -> None:
    """Bring Trakt to the current state (START/PAUSE), through the debounce gate."""
    pos = _extrapolate(d, c.now)
    if d.viewing is None or pos is None or d.duration is None:
        return
    part = _part_of(d, pos)
    if d.sent is not None and d.sent_part != part:
        _leave(d, c, d.sent_part, _progress_in(d, pos, d.sent_part))
    if not d.live or d.closed or part in d.watched:
        want = None
    else:
        want = ActionKind.START if d.playing else ActionKind.PAUSE
    if want is None or (want is d.sent and not (d.stale and d.playing)) or (d.sent is None and not d.playing):
        d.pending_at = None
        return
    if d.pending_at is None:
        due = d.last_sent is None or c.now - d.last_sent >= c.rules.debounce
    else:
        due = c.now >= d.pending_at + c.rules.debounce
    if not due:
        if changed or d.pending_at is None:
            d.pending_at = c.now
        return
    _emit(d, c, want, part, _progress_in(d, pos, part))
    d.sent, d.sent_part, d.last_sent, d.stale, d.pending_at = want, part, c.now, False, None


# --- state updates --------------------------------------------------------------------------


def _refresh(d: _Draft, rules: Rules) -> None:
    if d.viewing is not None and d.playing:
        if d.preview and d.played >= rules.preview_time:
            d.preview = False
        if not d.preview:
            d.live, d.closed = True, False


def _advance(d: _Draft, c: _Step) -> None:
    """Act on the time since the last step: play time (preview), pause timeout. The rest of
    what time does (debounce flush, part crossing) happens in the `_sync` after the event."""
    if d.viewing is None:
        return
    if d.playing and d.clock is not None:
        d.played += max(0.0, c.now - d.clock)
    _refresh(d, c.rules)
    if (
        d.live
        and not d.playing
        and not d.closed
        and d.paused_at is not None
        and c.now >= d.paused_at + c.rules.pause_timeout
    ):
        _conclude(d, c)
        d.closed = True


def _load(d: _Draft, c: _Step, ev: PlayerEvent) -> bool:
    """Take the event's media (a different item ends the current viewing) and duration."""
    media = ev.media
    if isinstance(media, MediaRef) and (d.media is None or media.key != d.media.key):
        _finish(d, c)
        d.media, d.parts = media, _parts_of(media)
    if d.media is None:
        return False
    duration = _number(ev.duration)
    if duration is not None and duration > 0 and (d.viewing is None or duration >= c.rules.min_duration):
        d.duration = duration
    return True


def _place(d: _Draft, c: _Step, raw: object, *, seek: bool = False, detect: bool = True) -> bool:
    """Take a reported position; returns whether it is a seek (explicit, or off the expectation)."""
    pos = _number(raw)
    if pos is None or pos < 0:
        return False
    if d.duration is not None:
        if pos > d.duration + _POSITION_SLACK:
            return False
        pos = min(pos, d.duration)
    expected = _extrapolate(d, c.now)
    if expected is not None and d.duration is not None and not seek and detect:
        seek = abs(pos - expected) > c.rules.seek_tolerance / 100.0 * d.duration
    if seek and expected is not None and d.sent is not None and d.duration is not None:
        # A jump out of the part: that part ends where playback was before the jump.
        _cross(d, c, pos, expected)
    d.position, d.anchor = pos, c.now
    d.stale = d.stale or seek
    return seek


def _set_playing(d: _Draft, playing: bool, now: float) -> bool:
    if d.playing == playing:
        return False
    if d.position is not None:  # fold the time played so far into the position
        d.position, d.anchor = _extrapolate(d, now), now
    d.playing, d.paused_at = playing, (None if playing else now)
    return True


def _begin(d: _Draft, c: _Step) -> None:
    """Start a viewing once the media is scrobbleable and the position known."""
    if d.viewing is not None or d.duration is None or d.position is None:
        return
    if d.duration < c.rules.min_duration:
        return
    d.viewings += 1
    d.viewing = f"{d.player}@{c.now:.3f}#{d.viewings}"
    d.preview = _split(d, d.position)[1] >= c.rules.threshold
    d.late = d.preview
    d.paused_at = None if d.playing else c.now


# --- event handlers: each returns whether the play state changed (toggle or seek) ------------


def _on_play_state(d: _Draft, c: _Step, ev: PlayerEvent, playing: bool) -> bool:
    if not _load(d, c, ev):
        return False
    seek = _place(d, c, ev.position)
    toggled = _set_playing(d, playing, c.now)
    _begin(d, c)
    return seek or toggled


def _on_playing(d: _Draft, c: _Step, ev: PlayerEvent) -> bool:
    return _on_play_state(d, c, ev, True)


def _on_paused(d: _Draft, c: _Step, ev: PlayerEvent) -> bool:
    return _on_play_state(d, c, ev, False)


def _on_seeked(d: _Draft, c: _Step, ev: PlayerEvent) -> bool:
    if not _load(d, c, ev):
        return False
    seek = _place(d, c, ev.position, seek=True)
    _begin(d, c)
    return seek


def _on_progress(d: _Draft, c: _Step, ev: PlayerEvent) -> bool:
    if not _load(d, c, ev):
        return False
    seek = _place(d, c, ev.position)
    toggled = isinstance(ev.paused, bool) and _set_playing(d, not ev.paused, c.now)
    _begin(d, c)
    return seek or toggled


def _same_media(d: _Draft, ev: PlayerEvent) -> bool:
    return d.media is not None and (ev.media is None or ev.media.key == d.media.key)


def _on_stopped(d: _Draft, c: _Step, ev: PlayerEvent) -> bool:
    # Some players reset their clock to 0 on stop: a final 0 says nothing, extrapolate instead.
    if _same_media(d, ev) and ev.position != 0:
        _place(d, c, ev.position)
    _finish(d, c)
    return False


def _on_ended(d: _Draft, c: _Step, ev: PlayerEvent) -> bool:
    if _same_media(d, ev) and d.duration is not None:
        final = _number(ev.position)
        _place(d, c, d.duration if final is None else final, detect=False)
    _finish(d, c)
    return False


def _on_tick(d: _Draft, c: _Step, ev: PlayerEvent) -> bool:
    return False


_HANDLERS: dict[EventKind, Callable[[_Draft, _Step, PlayerEvent], bool]] = {
    EventKind.PLAYING: _on_playing,
    EventKind.PAUSED: _on_paused,
    EventKind.SEEKED: _on_seeked,
    EventKind.PROGRESS: _on_progress,
    EventKind.STOPPED: _on_stopped,
    EventKind.ENDED: _on_ended,
    EventKind.LOST: _on_stopped,  # the best position is the extrapolated one; same handling
    EventKind.TICK: _on_tick,
}


def _steady(s: Session, ev: PlayerEvent, now: float, rules: Rules) -> Session | None:
    """The common case without copying the whole state: a position report (or a restated
    play/pause) that changes nothing Trakt should hear and trips no timer. None when the full
    step is needed; a property test checks that both paths agree."""
    c = s.core
    pos = _steady_position(c, ev, now, rules)
    if pos is None or c.clock is None:
        return None
    part = _part_of(c, pos)
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
    values = list(c)  # _Core._replace is several times slower, and this is the hot path
    values[_CLOCK] = values[_ANCHOR] = now
    values[_POSITION], values[_PLAYED] = pos, played
    return Session(s.player, tuple.__new__(_Core, values))


def _steady_position(c: _Core, ev: PlayerEvent, now: float, rules: Rules) -> float | None:
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
    expected = _extrapolate(c, now)
    if expected is None or not 0.0 <= pos <= duration:
        return None
    return pos if abs(pos - expected) <= rules.seek_tolerance / 100.0 * duration else None


# --- the API --------------------------------------------------------------------------------


def step(
    session: Session, event: PlayerEvent, now: float, rules: Rules
) -> tuple[Session, list[ScrobbleAction]]:
    """Advance one player's session by one event at wall time `now`; returns the actions to send."""
    quick = _steady(session, event, now, rules)
    if quick is not None:
        return quick, []
    return _full_step(session, event, now, rules)


def _full_step(
    session: Session, event: PlayerEvent, now: float, rules: Rules
) -> tuple[Session, list[ScrobbleAction]]:
    d, c = _thaw(session), _Step(now, rules)
    _advance(d, c)
    changed = _HANDLERS.get(event.kind, _on_tick)(d, c, event)
    _refresh(d, rules)
    _sync(d, c, changed)
    d.clock = now
    return _freeze(d), c.out


def close(session: Session, now: float, rules: Rules) -> tuple[Session, list[ScrobbleAction]]:
    """Daemon shutdown: end the viewing in progress (watched stop past the threshold, else pause)."""
    d, c = _thaw(session), _Step(now, rules)
    _advance(d, c)
    _finish(d, c)
    d.clock = now
    return _freeze(d), c.out


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
        now_pos = _extrapolate(s, s.clock)
        assert now_pos is not None
        part, n = _part_of(s, now_pos), s.parts
        if part < n - 1:
            due.append(s.anchor + (part + 1) * s.duration / n - s.position)
    if not s.playing and s.live and not s.closed and s.paused_at is not None:
        due.append(s.paused_at + rules.pause_timeout)
    return min(due) + _DEADLINE_SLACK if due else None
