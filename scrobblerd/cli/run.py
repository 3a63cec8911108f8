"""`scrobblerd run`: the daemon in the foreground (what systemd starts)."""

from __future__ import annotations

import argparse

from scrobblerd.cli.common import load_config_or_exit


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "run",
        parents=[common],
        help="run the daemon in the foreground",
        description="Watch the configured players and scrobble to Trakt until SIGTERM or Ctrl-C. "
        "SIGHUP reloads the config.",
    )
    p.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from scrobblerd import logs
    from scrobblerd.daemon.lifecycle import Daemon

    config = load_config_or_exit(args)
    logs.configure(args.log_level or config.log.level, config.log.format)
    return Daemon(config, config_path=args.config).run()
