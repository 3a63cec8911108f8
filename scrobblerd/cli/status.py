"""`scrobblerd status [--json]`: authorisation, watchers, queue depth, last scrobbles.

Works whether the daemon runs or not: live watcher state comes from the status file the daemon
keeps fresh; the rest comes from the token file and the database.
"""

from __future__ import annotations

import argparse
from typing import Any

from scrobblerd.cli.common import load_config_or_exit, print_json
from scrobblerd.config.settings import Config

ASK_TIMEOUT = 2.0  # seconds to wait for the running daemon's /api/status


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
    """The running daemon's own report when its page answers; else built here from the status
    file (players) and the token file and database (the rest), by the same function."""
    from scrobblerd.daemon.statusfile import StatusFile
    from scrobblerd.store.db import Store
    from scrobblerd.store.unsaved import journaled_count
    from scrobblerd.web.status import build_status

    live = StatusFile(config.state_dir).live()
    web = live.get("web") if live else None
    if isinstance(web, str) and web.startswith(("http://", "https://")):
        report = _ask_daemon(web, config.web.token.reveal())
        if report is not None:
            return report
    daemon = {"running": live is not None, "pid": (live or {}).get("pid")}
    with Store.open(config.state_dir) as store:
        players, delivery = (live.get("players"), live.get("delivery")) if live else (None, None)
        if not live:  # no daemon: what an earlier run left in the journal
            delivery = {
                "unsaved_watches": journaled_count(config.state_dir),
                "unsaved_error": "kept in the journal",
            }
        return build_status(config, store, players, daemon, delivery if isinstance(delivery, dict) else None)


def _ask_daemon(url: str, token: str) -> dict[str, Any] | None:
    """GET /api/status from the daemon on this machine; None when it does not answer in time."""
    import json
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    request = urllib.request.Request(url + "/api/status")  # noqa: S310 - http:// from our status file
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with opener.open(request, timeout=ASK_TIMEOUT) as resp:
            data = json.loads(resp.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _playing(inst: dict[str, Any]) -> str:
    now = inst.get("now_playing")
    if not now:
        return str(inst.get("state"))
    label = f" {now['episode_label']}" if now.get("episode_label") else ""
    progress = f" {now['progress']:.0f}%" if now.get("progress") is not None else ""
    return f"{now.get('state')}: {now.get('title') or now.get('path')}{label}{progress}"


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
        details = ", ".join(f"{pid} {_playing(inst)}" for pid, inst in player["instances"].items())
        print(f"{name + ':':<10} {state}" + (f" ({details})" if details else ""))
    print(f"Queue:     {report['queue_depth']} waiting, {report['queue_failed']} failed")
    if report.get("unsaved_watches"):
        print(
            f"UNSAVED:   {report['unsaved_watches']} watch(es) not yet in the database "
            f"({report['unsaved_error']}); free space or fix permissions in state_dir"
        )
    found = report.get("problems") or []
    for i, problem in enumerate(found):
        print(f"{'Problems:' if i == 0 else '':<10} {problem}")
    if found:
        print(f"{'':<10} `scrobblerd doctor` checks everything and says how to fix each.")
    if report["last_scrobbles"]:
        print("Last scrobbles:")
        for h in report["last_scrobbles"]:
            season, episode = h.get("season"), h.get("episode")
            where = f" S{season:02d}E{episode:02d}" if season is not None and episode is not None else ""
            mark = "delivered" if h["delivered"] else "waiting"
            print(f"  {h['watched_at']}  {h['title']}{where}  [{mark}]")
    return 0
