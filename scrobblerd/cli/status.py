"""`scrobblerd status [--json]`: authorisation, watchers, queue depth, last scrobbles.

Works whether the daemon runs or not: live watcher state comes from the status file the daemon
keeps fresh; the rest comes from the token file and the database.
"""

from __future__ import annotations

import argparse
from typing import Any

from scrobblerd.cli.common import load_config_or_exit, print_json
from scrobblerd.config.settings import Config

LAST_SCROBBLES = 5


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "status",
        parents=[common],
        help="authorisation, watchers, queue depth, last scrobbles",
        description="Show whether scrobblerd is authorised, which players are connected, how many "
        "deliveries wait, and the last scrobbles. Works whether the daemon runs or not.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_status)


def gather(config: Config) -> dict[str, Any]:
    from scrobblerd.daemon.statusfile import StatusFile
    from scrobblerd.store import deliveries
    from scrobblerd.store.db import Store
    from scrobblerd.trakt.auth import auth_status

    live = StatusFile(config.state_dir).live()
    auth = auth_status(config)
    with Store.open(config.state_dir) as store:
        counts = deliveries.counts(store)
        last = [h.to_json() for h in store.history(limit=LAST_SCROBBLES)]
    from scrobblerd.players import registry

    enabled = {spec.name: registry.settings_of(config.players, spec).enabled for spec in registry.PLAYERS}
    players: dict[str, Any] = {}
    for name, on in enabled.items():
        seen = (live or {}).get("players", {}).get(name, {})
        players[name] = {
            "enabled": on,
            "connected": bool(seen.get("connected")) if live else False,
            "instances": seen.get("instances", {}) if live else {},
        }
    return {
        "authorized": bool(auth.get("authorized")),
        "expires_at": auth.get("expires_at"),
        "username": auth.get("username"),
        "needs_reauth": bool(auth.get("needs_reauth")),
        "daemon": {"running": live is not None, "pid": (live or {}).get("pid")},
        "queue_depth": counts["pending"] + counts["inflight"],
        "queue_failed": counts["failed"],
        "players": players,
        "last_scrobbles": last,
    }


def cmd_status(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    report = gather(config)
    if args.json:
        print_json(report)
        return 0
    if report["authorized"]:
        who = f" as {report['username']}" if report.get("username") else ""
        print(f"Trakt:     authorised{who}, token until {report['expires_at']}")
    elif report["needs_reauth"]:
        print("Trakt:     NEEDS RE-AUTHORISATION: run `scrobblerd auth` (deliveries wait in the queue)")
    else:
        print("Trakt:     not authorised: run `scrobblerd auth`")
    daemon = report["daemon"]
    print(f"Daemon:    {'running (pid ' + str(daemon['pid']) + ')' if daemon['running'] else 'not running'}")
    for name, player in report["players"].items():
        if not player["enabled"]:
            print(f"{name + ':':<10} disabled")
            continue
        state = "connected" if player["connected"] else "not connected"
        details = ", ".join(f"{pid} {inst.get('state')}" for pid, inst in player["instances"].items())
        print(f"{name + ':':<10} {state}" + (f" ({details})" if details else ""))
    print(f"Queue:     {report['queue_depth']} waiting, {report['queue_failed']} failed")
    if report["last_scrobbles"]:
        print("Last scrobbles:")
        for h in report["last_scrobbles"]:
            season, episode = h.get("season"), h.get("episode")
            where = f" S{season:02d}E{episode:02d}" if season is not None and episode is not None else ""
            mark = "delivered" if h["delivered"] else "waiting"
            print(f"  {h['watched_at']}  {h['title']}{where}  [{mark}]")
    return 0
