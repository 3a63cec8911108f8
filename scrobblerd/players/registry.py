"""Every player scrobblerd can watch, in one list. The config schema (`players.<name>`), the
daemon's watchers and `status` all iterate it: a new player is one folder under players/ (its
settings, protocol client, parsing and watcher, and a SPEC in its __init__) plus one line here."""

from __future__ import annotations

import importlib
from typing import Any

from scrobblerd.errors import PlayerError
from scrobblerd.players import kodi, mpv, vlc
from scrobblerd.players.base import Commands, PlayerSpec, Watcher

PLAYERS: tuple[PlayerSpec, ...] = (
    mpv.SPEC,
    vlc.SPEC,
    kodi.SPEC,
)


def names() -> tuple[str, ...]:
    return tuple(spec.name for spec in PLAYERS)


def settings_of(players: Any, spec: PlayerSpec) -> Any:
    """The `players.<name>` section of a config."""
    return getattr(players, spec.name)


def build_watcher(spec: PlayerSpec, settings: Any) -> Watcher:
    """The player's watcher, imported only now: a disabled player costs no import."""
    module, _, cls = spec.watcher.partition(":")
    factory = getattr(importlib.import_module(module), cls)
    watcher: Watcher = factory(settings)
    return watcher


def build_watchers(players: Any) -> dict[str, Watcher]:
    """One watcher per enabled player, keyed by the player's name."""
    return {
        spec.name: build_watcher(spec, settings_of(players, spec))
        for spec in PLAYERS
        if settings_of(players, spec).enabled
    }


def build_commands(players: Any) -> dict[str, Commands]:
    """The command interface of each enabled player that has one, keyed by the player's name."""
    built: dict[str, Commands] = {}
    for spec in PLAYERS:
        settings = settings_of(players, spec)
        if spec.commands is None or not settings.enabled:
            continue
        module, _, cls = spec.commands.partition(":")
        built[spec.name] = getattr(importlib.import_module(module), cls)(settings)
    return built


def seek(commands: dict[str, Commands], player: str, position: float) -> None:
    """Seek the player instance `player` ("<name>:<instance>") through its player's commands."""
    handler = commands.get(player.partition(":")[0])
    if handler is None:
        raise PlayerError(f"no command interface for {player!r}")
    handler.seek(player, position)
