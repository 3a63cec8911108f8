"""The vlc player: its config section, protocol client, pure parsing and watcher."""

from scrobblerd.players.base import PlayerSpec
from scrobblerd.players.vlc.settings import VlcConfig

SPEC = PlayerSpec(
    name="vlc",
    settings=VlcConfig,
    watcher="scrobblerd.players.vlc.watcher:VlcWatcher",
    commands="scrobblerd.players.vlc.command:VlcCommands",
)
