"""One mpv instance's playback state, and the pure helpers that read mpv's properties.

No I/O: property reads go through an injected `query`, clocks are injected too, so the tracker
runs on recorded payloads.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from scrobblerd.models import EventKind, MediaRef, PlayerEvent
from scrobblerd.players import fields

# Read when a file is announced: what identification gets to see.
MEDIA_PROPS = ("path", "working-directory", "media-title", "metadata")
# mpv end-file reasons -> what the viewing did; "redirect" (a playlist or ytdl URL replaced by
# its entries) ends nothing that played. An end-file for a file never announced emits nothing.
END_REASONS = {
    "eof": EventKind.ENDED,
    "stop": EventKind.STOPPED,
    "quit": EventKind.STOPPED,
    "error": EventKind.STOPPED,  # a stream that broke while playing
}
# Container tags (Matroska upper case, MP4/ffmpeg lower case) -> our tag names.
TAG_KEYS = {
    "title": "title",
    "show": "show", "series": "show", "tvshow": "show",
    "season": "season", "season_number": "season",
    "episode": "episode", "episode_sort": "episode", "part_number": "episode",
    "year": "year", "date": "year", "date_released": "year",
    "imdb": "imdb", "imdb_id": "imdb", "imdbid": "imdb",
}  # fmt: skip

Query = Callable[[str], Any]


# -- pure helpers ------------------------------------------------------------------------------


def is_url(path: str) -> bool:
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme.isascii() and scheme.replace("+", "").isalnum()


def resolve_path(path: str | None, working_dir: str | None) -> str | None:
    """mpv reports `path` as given to it; a relative one is relative to mpv's working directory."""
    if not path:
        return None
    if is_url(path) or os.path.isabs(path) or not working_dir:
        return path
    return os.path.normpath(os.path.join(working_dir, path))


def tags_from_metadata(metadata: Any, bad: set[str] | None = None) -> dict[str, str]:
    """The identification-relevant container tags, under stable lower-case names."""
    tags: dict[str, str] = {}
    for key, value in fields.mapping(metadata, "metadata", bad).items():
        name = TAG_KEYS.get(str(key).lower())
        text = (fields.text(value, f"metadata.{key}", bad) or "").strip() if name else ""
        if not name or not text or name in tags:
            continue
        if name == "year":
            text = text[:4]
            if not text.isdigit():
                continue
        tags[name] = text
    return tags


def media_from_props(props: Mapping[str, Any], bad: set[str] | None = None) -> MediaRef | None:
    """A MediaRef from mpv properties (`MEDIA_PROPS`); None when nothing is loaded. A field of
    the wrong type or size is left out and named in `bad`."""
    path = resolve_path(
        fields.text(props.get("path"), "path", bad),
        fields.text(props.get("working-directory"), "working-directory", bad),
    )
    if path is None:
        return None
    title = fields.text(props.get("media-title"), "media-title", bad)
    return MediaRef(path=path, title=title, tags=tags_from_metadata(props.get("metadata"), bad))


def end_file_kind(reason: str | None) -> EventKind | None:
    return END_REASONS.get(reason) if isinstance(reason, str) else None


# -- the per-player state ----------------------------------------------------------------------


class MpvTracker:
    """One mpv instance's playback state; turns its messages into PlayerEvents.

    `query(name)` reads a property (None when unavailable). Clocks are injected so tests can
    drive it from recorded payloads.
    """

    def __init__(
        self,
        player: str,
        query: Query,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.player = player
        self._query = query
        self._clock = clock
        self._mono = monotonic
        self.props: dict[str, Any] = {}
        self.bad_fields: set[str] = set()  # fields mpv sent that were dropped (the watcher says so)
        self.media: MediaRef | None = None
        self.duration: float | None = None
        self.paused: bool | None = None
        self.announced = False  # a PLAYING/PAUSED went out for the current file
        self._seek_pending = False
        self._kept_open = False  # ENDED went out while --keep-open holds the file on its last frame
        self._pos: float | None = None
        self._pos_at = 0.0
        # What this connection saw of the current file: None (nothing: we attached to it),
        # "loading" (start-file, awaiting playback-restart), "ended" (end-file).
        self._seen: str | None = None

    @property
    def state(self) -> str:
        if not self.announced:
            return "idle"
        return "paused" if self.paused else "playing"

    def attach(self) -> list[PlayerEvent]:
        """On (re)connect: an mpv that is already playing carries on where it is."""
        if self._query("idle-active") or self._query("eof-reached") or not self._query("path"):
            return []
        return self._announce()

    def handle(self, message: Mapping[str, Any]) -> list[PlayerEvent]:
        name = message.get("event")
        if name == "property-change":
            return self._on_property(str(message.get("name")), message.get("data"))
        if name == "start-file":
            self.media, self.announced, self._seek_pending, self._pos = None, False, False, None
            self._kept_open = False
            self._seen = "loading"
        elif name == "seek" and self.announced:
            self._seek_pending = True
            # mpv answers a seek's target from here on; a stop before playback-restart (quick
            # hands, or a paused player) still ends the viewing where the user put it.
            self._read_position()
        elif name == "playback-restart":
            return self._on_restart()
        elif name == "end-file":
            self._seen = "ended"
            return self._on_end(end_file_kind(message.get("reason")))
        return []

    def tick(self) -> list[PlayerEvent]:
        if not self.announced:
            return self._late_attach()
        if self.paused:
            return []
        return [self._event(EventKind.PROGRESS, self._read_position())]

    def lost(self) -> list[PlayerEvent]:
        """The connection died: what was playing is lost at its last (extrapolated) position."""
        if not self.announced:
            return []
        event = self._event(EventKind.LOST, self.estimate_position())
        self.announced = False
        return [event]

    def estimate_position(self) -> float | None:
        if self._pos is None or self.paused or not self.announced:
            return self._pos
        position = self._pos + max(0.0, self._mono() - self._pos_at)
        return min(position, self.duration) if self.duration else position

    def _on_property(self, name: str, value: Any) -> list[PlayerEvent]:
        self.props[name] = value
        if name == "duration" and value is not None:
            self.duration = fields.seconds(value, "duration", self.bad_fields)
        elif name == "pause" and isinstance(value, bool) and value != self.paused:
            self.paused = value
            if self.announced:
                kind = EventKind.PAUSED if value else EventKind.PLAYING
                return [self._event(kind, self._read_position())]
        elif name == "eof-reached" and value is True and self.announced:
            self._kept_open = True  # --keep-open: eof without end-file
            return self._on_end(EventKind.ENDED)
        elif name == "eof-reached" and value is False and self._kept_open:
            self._kept_open = False  # sought back from the kept-open end: a new viewing
            return self._announce()
        return []

    def _late_attach(self) -> list[PlayerEvent]:
        """We connected while mpv was loading a file: its playback-restart came before our
        subscriptions, so nothing announced it. Announce it at the next tick instead of never."""
        props = self.props
        opened = (
            props.get("path") and props.get("idle-active") is False and props.get("eof-reached") is not True
        )
        if self._seen is None and opened:
            return self._announce()
        return []

    def _on_restart(self) -> list[PlayerEvent]:
        self._seen = None if self._seen == "loading" else self._seen
        if not self.announced:
            if self.props.get("eof-reached") is True or self.props.get("idle-active") is True:
                return []
            return self._announce()
        if not self._seek_pending:
            return []
        self._seek_pending = False
        return [self._event(EventKind.SEEKED, self._read_position())]

    def _on_end(self, kind: EventKind | None) -> list[PlayerEvent]:
        if not self.announced:
            return []
        position = self.estimate_position()
        if kind is EventKind.ENDED and self.duration is not None:
            position = self.duration
        self.announced = False
        return [self._event(kind, position)] if kind is not None else []

    def _announce(self) -> list[PlayerEvent]:
        media = media_from_props({name: self._query(name) for name in MEDIA_PROPS}, self.bad_fields)
        if media is None:
            return []
        self.media = media
        self.duration = fields.seconds(self._query("duration"), "duration", self.bad_fields)
        self.paused = self._query("pause") is True
        self.announced = True
        self._seek_pending = False
        kind = EventKind.PAUSED if self.paused else EventKind.PLAYING
        return [self._event(kind, self._read_position())]

    def _read_position(self) -> float | None:
        position = fields.seconds(self._query("time-pos"), "time-pos", self.bad_fields)
        if position is None:
            percent = fields.fraction(self._query("percent-pos"), 100.0, "percent-pos", self.bad_fields)
            if percent is None or not self.duration:
                return self.estimate_position()
            position = percent * self.duration / 100.0
        self._pos, self._pos_at = position, self._mono()
        return self._pos

    def _event(self, kind: EventKind, position: float | None) -> PlayerEvent:
        return PlayerEvent(
            kind=kind,
            player=self.player,
            at=self._clock(),
            media=self.media,
            position=position,
            duration=self.duration,
            paused=bool(self.paused),
        )
