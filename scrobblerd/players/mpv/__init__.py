"""The mpv player: its config section, protocol client, pure parsing and watcher."""

from scrobblerd.players.base import PlayerSpec
from scrobblerd.players.mpv.settings import MpvConfig

SPEC = PlayerSpec(
    name="mpv",
    settings=MpvConfig,
    watcher="scrobblerd.players.mpv.watcher:MpvWatcher",
    commands="scrobblerd.players.mpv.command:MpvCommands",
)
