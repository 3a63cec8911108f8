"""All the checks, in the order a new user would fix them."""

from __future__ import annotations

from scrobblerd.config.loader import load_config, resolve_path
from scrobblerd.config.settings import Config
from scrobblerd.daemon.statusfile import StatusFile
from scrobblerd.doctor.check import Check
from scrobblerd.doctor.local import config_check, queue_check, state_dir_check, token_check
from scrobblerd.doctor.players import kodi_check, mpv_check, vlc_check
from scrobblerd.doctor.remote import trakt_checks
from scrobblerd.doctor.service import service_check
from scrobblerd.errors import ConfigError


def run_checks(config_path: str | None) -> list[Check]:
    """Every check for the config at `config_path` (None: the usual lookup). A config that does
    not load is the only check reported: the others would test the wrong settings."""
    try:
        config: Config | None = load_config(config_path)
        problems: list[str] = []
    except ConfigError as exc:
        config, problems = None, exc.problems
    shown = str(resolve_path(config_path)[0])
    checks = [config_check(config, problems, shown)]
    if config is None:
        return checks
    state = config.state_dir
    checks += [state_dir_check(state, config.source), token_check(state), *trakt_checks(config)]
    players = config.players
    if players.mpv.enabled:
        checks.append(mpv_check(players.mpv))
    if players.vlc.enabled:
        checks.append(vlc_check(players.vlc))
    if players.kodi.enabled:
        checks.append(kodi_check(players.kodi))
    live = StatusFile(state).live()
    pid = live.get("pid") if live else None
    checks.append(service_check(pid if isinstance(pid, int) else None))
    delivery = live.get("delivery") if live else None
    held = delivery.get("unsaved_watches") if isinstance(delivery, dict) else None
    checks.append(queue_check(state, config.alerts.queue_age, unsaved=held if type(held) is int else 0))
    return checks
