"""`scrobblerd config check [PATH]` and `scrobblerd init`."""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path

from scrobblerd.config.loader import load_config
from scrobblerd.config.settings import default_config_path
from scrobblerd.errors import ConfigError
from scrobblerd.exitcodes import EXIT_CONFIG


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    config = sub.add_parser(
        "config",
        parents=[common],
        help="check a config file",
        description="Work with the configuration file.",
    )
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION")
    config_sub.required = True
    check = config_sub.add_parser(
        "check",
        parents=[common],
        help="validate a config file; exit 0 or 78",
        description="Validate a config file and report every problem at once.",
    )
    check.add_argument("path", nargs="?", help="the file to check (default: the file `run` would read)")
    check.set_defaults(handler=cmd_check)
    init = sub.add_parser(
        "init",
        parents=[common],
        help="write a commented config to the default path",
        description="Write the commented example config (never overwrites).",
    )
    init.set_defaults(handler=cmd_init)


def cmd_check(args: argparse.Namespace) -> int:
    target = args.path or args.config
    try:
        config = load_config(target)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    where = str(config.source) if config.source else "built-in defaults (no config file)"
    print(f"{where}: OK")
    return 0


def example_text() -> str:
    return resources.files("scrobblerd").joinpath("config.example.yaml").read_text(encoding="utf-8")


def cmd_init(args: argparse.Namespace) -> int:
    path = default_config_path() if not args.config else Path(args.config).expanduser()
    if path.exists():
        print(f"scrobblerd: {path} already exists; not overwriting it", file=sys.stderr)
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(example_text())
    print(f"wrote {path}; edit it, then check it with: scrobblerd config check {path}")
    return 0
