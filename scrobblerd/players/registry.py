"""Every player scrobblerd can watch, in one list. The config schema (`players.<name>`), the
daemon's watchers and `status` all iterate it: a new player is one folder under players/ (its
settings, protocol client, parsing and watcher, and a SPEC in its __init__) plus one line here."""

from __future__ import annotations

import importlib
from typing import Any

from scrobblerd.players import kodi, mpv, vlc
from scrobblerd.players.base import PlayerSpec, Watcher

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
