"""`scrobblerd identify --fix`: corrections that stick (rules in state_dir/identify-fixes.json)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from scrobblerd.cli.common import fail, load_config_or_exit, print_json

USAGE = "identify --fix PATH_OR_QUEUE_ID TRAKT_URL_OR_ID | identify --fix --list | identify --fix --remove N"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fix",
        action="store_true",
        help="correct a match for good: --fix PATH_OR_QUEUE_ID TRAKT_URL_OR_ID (a trakt.tv link, a Trakt or "
        "IMDb id); queued or failed watches of the file are delivered with the corrected item",
    )
    p.add_argument("--list", action="store_true", help="with --fix: list the fixes, numbered")
    p.add_argument("--remove", type=int, metavar="N", help="with --fix: remove fix number N")


def cmd_fix(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    from scrobblerd import logs
    from scrobblerd.identify.fixes import FixError, fixes_path, load_fixes, remove_fix

    logs.configure(level=args.log_level or "warning", fmt="console", stream=sys.stderr)
    rules = fixes_path(config.state_dir)
    try:
        if args.list:
            if args.paths or args.remove is not None:
                return fail(f"usage: {USAGE}", 2)
            return _list(load_fixes(rules), args.json, rules)
        if args.remove is not None:
            if args.paths:
                return fail(f"usage: {USAGE}", 2)
            removed = remove_fix(rules, args.remove)
            print(f"Removed fix #{args.remove}: {removed.path} -> {removed.describe()}")
            return 0
        if len(args.paths) != 2:
            return fail(f"usage: {USAGE}", 2)
        return _apply(config, args.paths[0], args.paths[1], args.json)
    except FixError as exc:
        return fail(f"identify --fix: {exc}")


def _list(fixes: Sequence[object], as_json: bool, rules: object) -> int:
    from scrobblerd.identify.fixes import Fix

    shown = [f for f in fixes if isinstance(f, Fix)]
    if as_json:
        print_json([{"number": n, **f.to_json()} for n, f in enumerate(shown, start=1)])
        return 0
    if not shown:
        print(f"No fixes yet ({rules}).")
        return 0
    for number, fix in enumerate(shown, start=1):
        print(f"{number:3}  {fix.path}\n     -> {fix.describe()}  ({fix.ref})")
    return 0


def _apply(config: object, target: str, trakt_ref: str, as_json: bool) -> int:
    from scrobblerd.config.settings import Config
    from scrobblerd.errors import StoreError, TraktError
    from scrobblerd.identify.fixes import apply_fix, fixes_path
    from scrobblerd.store.db import Store
    from scrobblerd.trakt.client import TraktClient

    assert isinstance(config, Config)
    try:
        with Store.open(config.state_dir) as store, TraktClient(config.trakt) as client:
            result = apply_fix(
                store, fixes_path(config.state_dir), target, trakt_ref, client, config=config.identify
            )
    except (StoreError, TraktError) as exc:
        return fail(f"identify --fix: {exc}")
    if result.redelivered:
        from scrobblerd.daemon.statusfile import wake_daemon

        wake_daemon(config.state_dir)
    if as_json:
        print_json(result.to_json())
        return 0
    print(f"Fix #{result.number}: {result.path}")
    print(f"  is       {result.to_json()['describe']}")
    print(f"  rules    {result.rules_path}")
    if result.cache_dropped:
        print("  cache    the old match of this name is forgotten")
    if result.redelivered:
        ids = ", ".join(str(i) for i in result.redelivered)
        print(f"  queue    watch(es) {ids} will be delivered with the corrected item")
    if result.unresolved:
        ids = ", ".join(str(i) for i in result.unresolved)
        print(f"  queue    watch(es) {ids} still have no item (see `scrobblerd identify {result.path}`)")
    return 0
