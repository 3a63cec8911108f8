"""The kodi player: its config section, protocol client, pure parsing and watcher."""

from scrobblerd.players.base import PlayerSpec
from scrobblerd.players.kodi.settings import KodiConfig

SPEC = PlayerSpec(
    name="kodi",
    settings=KodiConfig,
    watcher="scrobblerd.players.kodi.watcher:KodiWatcher",
    commands="scrobblerd.players.kodi.command:KodiCommands",
)
