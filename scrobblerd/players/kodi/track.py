"""What one Kodi plays, and the PlayerEvents its changes make.

The Tracker asks Kodi (through any Rpc: TCP or HTTP) what plays, compares it with what it knew
and sends the differences to the sink. Owned by the watcher thread.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from scrobblerd.models import EventKind, MediaRef, PlayerEvent
from scrobblerd.players.base import EventSink
from scrobblerd.players.kodi.parse import (
    Change,
    Notification,
    Snapshot,
    _mapping,
    _number,
    parse_item,
    parse_properties,
    transitions,
)
from scrobblerd.players.kodi.rpc import KodiRpcError, Rpc

# Kodi JSON-RPC v13: List.Fields.All for Player.GetItem ("label" is always returned).
ITEM_PROPERTIES = [
    "title",
    "year",
    "file",
    "imdbnumber",
    "uniqueid",
    "showtitle",
    "season",
    "episode",
    "tvshowid",
]
PLAYER_PROPERTIES = ["time", "totaltime", "percentage", "speed", "type"]
SHOW_PROPERTIES = ["uniqueid", "year", "title"]
PLAY_METHODS = frozenset({"Player.OnPlay", "Player.OnAVStart"})
CHANGE_METHODS = frozenset({"Player.OnPause", "Player.OnResume", "Player.OnSpeedChanged"})


class Tracker:
    """What one Kodi plays, and the PlayerEvents its changes make. Owned by the watcher thread."""

    def __init__(self, player: str, sink: EventSink, tick_interval: float) -> None:
        self.player = player
        self.current: Snapshot | None = None
        self._sink = sink
        self._tick_interval = tick_interval
        self._last_report = 0.0
        self._last_kind: EventKind | None = None
        self._pending_start: Mapping[str, Any] | None = None
        self._shows: dict[int, Mapping[str, Any]] = {}
        self.bad_fields: set[str] = set()  # replies of the wrong shape that were dropped

    def sample(self, rpc: Rpc, playerid: int | None = None, media: MediaRef | None = None) -> Snapshot | None:
        """The video player now; None when no video plays."""
        if playerid is None:
            players = rpc("Player.GetActivePlayers")
            if not isinstance(players, list):  # Kodi: always a list; anything else is dropped
                self.bad_fields.add("Player.GetActivePlayers")
                players = []
            videos = [_mapping(p) for p in players if _mapping(p).get("type") == "video"]
            playerid = _number(videos[0].get("playerid"), 0) if videos else None
            if playerid is None:
                return None
        try:
            params = {"playerid": playerid, "properties": PLAYER_PROPERTIES}
            props = parse_properties(_mapping(rpc("Player.GetProperties", params)))
        except KodiRpcError:  # the player went away between notification and query
            return None
        if not props.is_video:
            return None
        if media is None:
            media = self._media(rpc, playerid)
        return Snapshot(playerid, media, props.position, props.duration, props.speed, time.monotonic())

    def _media(self, rpc: Rpc, playerid: int) -> MediaRef:
        reply = rpc("Player.GetItem", {"playerid": playerid, "properties": ITEM_PROPERTIES})
        item = _mapping(_mapping(reply).get("item"))
        tvshowid = _number(item.get("tvshowid"), 0)
        show = None
        if item.get("type") == "episode" and tvshowid is not None:
            if tvshowid not in self._shows:
                try:
                    params = {"tvshowid": tvshowid, "properties": SHOW_PROPERTIES}
                    details = rpc("VideoLibrary.GetTVShowDetails", params)
                    self._shows[tvshowid] = _mapping(_mapping(details).get("tvshowdetails"))
                except KodiRpcError:
                    self._shows[tvshowid] = {}
            show = self._shows[tvshowid]
        return parse_item(item, show)

    def forget_shows(self) -> None:
        self._shows.clear()

    def sync(self, rpc: Rpc) -> None:
        """Compare what Kodi plays now with what we knew; emit the differences (or PROGRESS)."""
        cur = self.sample(rpc)
        changes = transitions(self.current, cur, time.monotonic())
        self._apply(changes, cur)
        if not changes and cur is not None and not cur.paused and self._progress_due():
            self._send(Change(EventKind.PROGRESS, cur, cur.position))

    def handle(self, rpc: Rpc, note: Notification) -> None:
        if note.method in PLAY_METHODS or note.method in CHANGE_METHODS or note.method == "Player.OnSeek":
            self._on_player(rpc, note)
        elif note.method == "Player.OnStop" and self.current is not None:
            prev, self.current, self._pending_start = self.current, None, None
            if note.end:
                self._send(Change(EventKind.ENDED, prev, prev.duration))
            else:
                self._send(Change(EventKind.STOPPED, prev, prev.position_at(time.monotonic())))
        elif note.method == "System.OnQuit":
            self.end(EventKind.STOPPED)

    def _on_player(self, rpc: Rpc, note: Notification) -> None:
        if note.playerid is None:
            return
        starting = note.method in PLAY_METHODS
        # OnPlay and OnAVStart (in either order) announce one start: the item is fetched once.
        same = self.current is not None and self.current.playerid == note.playerid
        if starting:
            same = same and bool(note.item) and note.item == self._pending_start
            self._pending_start = None if same else note.item
        cur = self.sample(rpc, note.playerid, self.current.media if same and self.current else None)
        if cur is None or (cur.duration is None and note.method == "Player.OnPlay"):
            return  # not video, or not started far enough: OnAVStart follows
        if note.speed is not None:
            cur = replace(cur, speed=note.speed)
        if note.time is not None:  # OnSeek says where playback landed; a query may still see the old spot
            cur = replace(cur, position=note.time)
        if note.method == "Player.OnSeek" and self.current and self.current.media.key == cur.media.key:
            seek = [] if self._repeated_seek(cur) else [Change(EventKind.SEEKED, cur, cur.position)]
            self._apply(seek, cur)
        else:
            self._apply(transitions(self.current, cur, cur.at), cur)

    def tick(self, rpc: Rpc) -> None:
        """PROGRESS every tick_interval while playing; also notices anything a push missed."""
        if self.current is None or self.current.paused or not self._progress_due():
            return
        cur = self.sample(rpc, self.current.playerid, self.current.media) or self.sample(rpc)
        changes = transitions(self.current, cur, time.monotonic())
        self._apply(changes, cur)
        if not changes and cur is not None:
            self._send(Change(EventKind.PROGRESS, cur, cur.position))

    def end(self, kind: EventKind) -> None:
        """The item is gone (LOST: connection dropped; STOPPED: Kodi quit) at its extrapolated position."""
        if self.current is not None:
            prev, self.current = self.current, None
            self._send(Change(kind, prev, prev.position_at(time.monotonic())))

    def _repeated_seek(self, cur: Snapshot) -> bool:
        """Kodi sometimes announces one seek twice; the second lands where the first did."""
        if self._last_kind != EventKind.SEEKED or self.current is None or cur.position is None:
            return False
        expected = self.current.position_at(cur.at)
        return expected is not None and abs(cur.position - expected) < 1.0

    def _progress_due(self) -> bool:
        return time.monotonic() - self._last_report >= self._tick_interval

    def _apply(self, changes: list[Change], cur: Snapshot | None) -> None:
        self.current = cur
        for change in changes:
            self._send(change)

    def _send(self, change: Change) -> None:
        self._last_report, self._last_kind = time.monotonic(), change.kind
        snap = change.snapshot
        terminal = change.kind in (EventKind.STOPPED, EventKind.ENDED, EventKind.LOST)
        self._sink(
            PlayerEvent(
                kind=change.kind,
                player=self.player,
                at=time.time(),
                media=snap.media,
                position=change.position,
                duration=snap.duration,
                paused=None if terminal else snap.paused,
            )
        )
