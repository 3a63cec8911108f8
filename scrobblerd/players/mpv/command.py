"""Commands to mpv: `seek <s> absolute` on the instance's IPC socket, over a connection of its own
(the watcher's connection stays a reader)."""

from __future__ import annotations

from scrobblerd.errors import PlayerError
from scrobblerd.players.mpv.ipc import MpvIpc
from scrobblerd.players.mpv.settings import MpvConfig

PREFIX = "mpv:"  # PlayerEvent.player ids are "mpv:<socket path>"


class MpvCommands:
    def __init__(self, config: MpvConfig) -> None:
        self.config = config

    def seek(self, player: str, position: float) -> None:
        if not player.startswith(PREFIX):
            raise PlayerError(f"not an mpv player id: {player!r}")
        try:
            ipc = MpvIpc.connect(player.removeprefix(PREFIX))
        except OSError as exc:
            raise PlayerError(f"mpv socket unreachable: {exc}") from exc
        try:
            # "exact": a keyframe seek may land seconds away from the saved point.
            ipc.request("seek", round(position, 3), "absolute+exact")
        finally:
            ipc.close()
