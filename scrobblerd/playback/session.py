"""Playback sessions: the state one player's viewing is in, and the arithmetic on it.

Pure: no clock, I/O, threads or logging. A Session is immutable (a tuple inside, because the
machine builds one per event); a Draft is the mutable copy one `step` works on. The rules that
move a session from one state to the next are in machine.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol

from scrobblerd.models import WATCHED_THRESHOLD, ActionKind, MediaRef

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


class ResumeSettings(Protocol):
    """The `resume.*` settings (the config's ResumeConfig has them)."""

    @property
    def enabled(self) -> bool: ...
    @property
    def min_progress(self) -> float: ...
    @property
    def max_progress(self) -> float | None: ...


@dataclass(frozen=True)
class Rules:
    """The scrobbling rules, from `scrobble.*` and `resume.*` in the config plus internal tunables."""

    threshold: float = WATCHED_THRESHOLD
    min_duration: float = 300.0
    preview_time: float = 60.0
    pause_timeout: float = 3600.0
    debounce: float = 1.0  # seconds of quiet before a burst of pause/resume/seek is sent
    seek_tolerance: float = 3.0  # percent of the duration a position may drift before it is a seek
    resume: bool = False  # look up a saved point when a viewing begins at the start
    resume_min: float = 2.0  # percent; saved points outside [resume_min, resume_max] are ignored
    resume_max: float = WATCHED_THRESHOLD
    # Seconds the first START of a viewing waits for the point lookup, then for the seek to land:
    # Trakt deletes an item's point when a START for it arrives, so the lookup must go first.
    resume_wait: float = 1.5

    @classmethod
    def from_config(cls, scrobble: ScrobbleSettings, resume: ResumeSettings | None = None) -> Rules:
        rules = cls(
            threshold=scrobble.threshold,
            min_duration=scrobble.min_duration,
            preview_time=scrobble.preview_time,
            pause_timeout=scrobble.pause_timeout,
            resume_max=scrobble.threshold,
        )
        if resume is None:
            return rules
        top = resume.max_progress if resume.max_progress is not None else scrobble.threshold
        return replace(rules, resume=resume.enabled, resume_min=resume.min_progress, resume_max=top)


# Where a viewing is with its saved point (Core.resume).
RESUME_NONE = 0  # not looked up (resume off, opened mid-file, or a multi-episode file): never
RESUME_ASKED = 1  # a ResumeQuery is out; the first START waits for the answer
RESUME_SEEKING = 2  # a SeekCommand is out; the first START waits until the seek is seen
RESUME_DONE = 3  # settled: sought, or nothing to seek to, or the user moved first


@dataclass(slots=True)
class Draft:
    """The mutable working copy of a Session inside one `step`: `player`, then Core's fields."""

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
    resume: int = RESUME_NONE  # RESUME_* phase of this viewing
    resume_since: float = 0.0  # when the current RESUME_ASKED/RESUME_SEEKING phase began


class Core(NamedTuple):
    """A Session's state, immutable (same fields as Draft after `player`). A tuple, because
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
    resume: int = RESUME_NONE
    resume_since: float = 0.0


IDLE = Core()


@dataclass(frozen=True, slots=True)
class Session:
    """One player's playback state. Opaque to callers except `player`, `media`, `playing`,
    `viewing`, `part` and `progress(now)`; build with `new_session`, advance with `step`."""

    player: str
    core: Core = IDLE

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
        pos = extrapolate(c, now)
        if c.duration is None or pos is None or c.viewing is None:
            return None
        return split(c, pos)[1]

    @property
    def part(self) -> int:
        """The 0-based part (episode of a multi-episode file) the position is in."""
        c = self.core
        if c.duration is None or c.position is None:
            return 0
        return split(c, c.position)[0]


CLOCK, POSITION, ANCHOR, PLAYED = (Core._fields.index(n) for n in ("clock", "position", "anchor", "played"))
State = Draft | Core


def new_session(player: str) -> Session:
    return Session(player)


def thaw(s: Session) -> Draft:
    return Draft(s.player, *s.core)


def freeze(d: Draft) -> Session:
    # tuple.__new__ skips Core's generated __new__ (with its defaults): this runs every event.
    fields = (
        d.viewings, d.clock, d.media, d.parts, d.duration, d.position, d.anchor, d.playing,
        d.viewing, d.live, d.preview, d.played, d.closed, d.paused_at, d.sent, d.sent_part,
        d.last_sent, d.stale, d.pending_at, d.watched, d.late, d.resume, d.resume_since,
    )  # fmt: skip
    return Session(d.player, tuple.__new__(Core, fields))


# --- saving a live viewing -------------------------------------------------------------------


def saved_state(s: Session) -> dict[str, Any] | None:
    """What a restarted daemon needs to carry this viewing on (plain JSON), or None when no
    viewing is in progress."""
    c = s.core
    if c.viewing is None or c.media is None:
        return None
    data: dict[str, Any] = c._asdict()
    data["media"] = c.media.to_json()
    data["sent"] = c.sent.value if c.sent is not None else None
    data["watched"] = sorted(c.watched)
    return data


def restored(player: str, data: dict[str, Any]) -> Session | None:
    """The Session a `saved_state` describes, or None when it does not read as one."""
    try:
        fields = {name: data[name] for name in Core._fields}
        fields["media"] = MediaRef.from_json(fields["media"])
        fields["sent"] = ActionKind(fields["sent"]) if fields["sent"] is not None else None
        fields["watched"] = frozenset(int(p) for p in fields["watched"])
        core = Core(**fields)
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(core.viewing, str) or not isinstance(core.viewings, int):
        return None
    return Session(player, core)


def transition_of(s: Session) -> tuple[Any, ...]:
    """The parts of a session whose change is a transition worth saving: not the clock ticking
    or the position moving on while it plays, but a seek (playing) or a new position (paused)."""
    c = s.core
    if c.position is None:
        where = None
    else:  # while playing, position - anchor only changes with a seek
        where = round(c.position - c.anchor) if c.playing else round(c.position, 1)
    return (c.viewing, c.media, c.duration, c.playing, c.live, c.preview, c.closed, c.sent,
            c.sent_part, c.last_sent, c.stale, c.pending_at, c.watched, c.late, c.resume, where)  # fmt: skip


# --- arithmetic -----------------------------------------------------------------------------


def number(x: object) -> float | None:
    """A finite float, or None for anything else (None, NaN, inf, bool, str, ...)."""
    if type(x) is float:  # the common case first: this runs for every event
        return x if math.isfinite(x) else None
    if type(x) is int:
        return float(x)
    return None


def parts_of(media: MediaRef) -> int:
    n = media.parts
    return n if isinstance(n, int) and 1 < n <= _MAX_PARTS else 1


def extrapolate(s: State, now: float) -> float | None:
    """Where playback is at `now`, assuming it went on since the last report."""
    if s.position is None or not s.playing or now <= s.anchor:
        return s.position
    pos = s.position + (now - s.anchor)
    return pos if s.duration is None or pos < s.duration else s.duration


def progress_in(s: State, pos: float, part: int) -> float:
    assert s.duration is not None
    length = s.duration / s.parts
    return round(min(100.0, max(0.0, (pos - part * length) / length * 100.0)), 2)


def split(s: State, pos: float) -> tuple[int, float]:
    """(part, progress within it) for a position."""
    assert s.duration is not None
    part = part_of(s, pos)
    return part, progress_in(s, pos, part)


def part_of(s: State, pos: float) -> int:
    assert s.duration is not None
    n = s.parts
    return min(n - 1, int(pos * n // s.duration)) if n > 1 else 0
