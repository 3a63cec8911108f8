"""The status report, built in one place: `status --json`, `/api/status`, the page and the status
file all show this dictionary.

The daemon passes what only it knows (each watcher's instances and what they play); without a
running daemon every enabled player is reported as not connected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scrobblerd.config.settings import Config
from scrobblerd.players import registry
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.trakt.auth import auth_status
from scrobblerd.trakt.errors import account_problem

LAST_SCROBBLES = 5


def build_status(
    config: Config,
    store: Store,
    live_players: Mapping[str, Any] | None,
    daemon: Mapping[str, Any] | None = None,
    unsaved: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `status --json` object (INTERFACE.md), plus what each player plays.

    `live_players` is the daemon's view per player name: `{"instances": {id: {...}}}`, None when
    no daemon runs. `unsaved` is the delivery worker's count of watches the database refused
    (`unsaved_watches`, `unsaved_error`). Nothing secret goes in: no token, no password, no alert URL.
    """
    auth = auth_status(config)
    counts = deliveries.counts(store)
    last = [h.to_json() for h in store.history(limit=LAST_SCROBBLES)]
    report = {
        "authorized": bool(auth.get("authorized")),
        "expires_at": auth.get("expires_at"),
        "username": auth.get("username"),
        "needs_reauth": bool(auth.get("needs_reauth")),
        "daemon": dict(daemon) if daemon is not None else {"running": False, "pid": None},
        "queue_depth": counts[deliveries.PENDING] + counts[deliveries.INFLIGHT],
        "queue_failed": counts[deliveries.FAILED],
        "players": players_report(config, live_players),
        "last_scrobbles": last,
        **unsaved_report(unsaved),
    }
    delivery = _mapping(store.kv_get("delivery"))
    report["problems"] = problems(report, delivery.get("last_error"))
    return report


def problems(report: Mapping[str, Any], delivery_error: Any) -> list[str]:
    """The report's problems in a line each; `scrobblerd doctor` says how to fix each."""
    found = []
    if report["needs_reauth"]:
        found.append("Trakt refused the login: watches wait in the queue until `scrobblerd auth`")
    elif not report["authorized"]:
        found.append("not logged in to Trakt: watches wait in the queue until `scrobblerd auth`")
    account = account_problem(delivery_error if isinstance(delivery_error, str) else None)
    if account:
        found.append(account)
    if report["daemon"].get("running"):
        found += [
            f"{n} is enabled but not connected"
            for n, p in report["players"].items()
            if p["enabled"] and not p["connected"]
        ]
    else:
        found.append("the daemon is not running: nothing is watched")
    if report["queue_failed"]:
        found.append(f"{report['queue_failed']} delivery(ies) failed for good")
    if report["unsaved_watches"]:
        found.append(f"{report['unsaved_watches']} watch(es) held in memory: the database refuses writes")
    return found


def unsaved_report(unsaved: Mapping[str, Any] | None) -> dict[str, Any]:
    """Watches held in memory because the database refused them (full disk, lock, read-only)."""
    count = _mapping(unsaved).get("unsaved_watches")
    error = _mapping(unsaved).get("unsaved_error")
    return {
        "unsaved_watches": count if type(count) is int and count > 0 else 0,
        "unsaved_error": error if isinstance(error, str) else None,
    }


def _mapping(value: Any) -> Mapping[str, Any]:
    """What another process wrote (the status file) may hold anything: a non-object reads as empty."""
    return value if isinstance(value, Mapping) else {}


def players_report(config: Config, live: Mapping[str, Any] | None) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for spec in registry.PLAYERS:
        enabled = bool(registry.settings_of(config.players, spec).enabled)
        seen = _mapping(_mapping(live).get(spec.name))
        raw = _mapping(seen.get("instances")) if enabled else {}
        instances = {str(k): dict(v) for k, v in raw.items() if isinstance(v, Mapping)}
        report[spec.name] = {
            "enabled": enabled,
            "connected": any(i.get("connected") is True for i in instances.values()),
            "instances": instances,
        }
    return report


def episode_label(season: int | None, episode: int | None) -> str | None:
    """`S01E02`, `E12` (absolute numbering) or None."""
    if episode is None:
        return None
    return f"S{season:02d}E{episode:02d}" if season is not None else f"E{episode:02d}"


def describe_playing(
    what: Mapping[str, Any], progress: float | None, playing: bool, path: str | None
) -> dict[str, Any]:
    """One instance's `now_playing`: `what` is an identification (`identify --json` shape)."""
    season, episode = what.get("season"), what.get("episode")
    return {
        "title": what.get("title"),
        "year": what.get("year"),
        "type": what.get("type"),
        "season": season,
        "episode": episode,
        "episode_label": episode_label(season, episode),
        "progress": progress,
        "state": "playing" if playing else "paused",
        "path": path,
    }
