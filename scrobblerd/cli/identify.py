"""`scrobblerd identify`: how files or URLs would be identified, without scrobbling."""

from __future__ import annotations

import argparse
import contextlib
import os.path
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from scrobblerd.cli import fix
from scrobblerd.cli.common import fail, load_config_or_exit, print_json

if TYPE_CHECKING:
    from scrobblerd.config.settings import Config
    from scrobblerd.identify.identifier import Identification, Identifier

HELP = "show how files or URLs would be identified, without scrobbling"


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "identify",
        parents=[common],
        help=HELP,
        description=HELP + ". Every answer names the step that decided it (player ids, an override "
        "rule with its config line, the file name, the Trakt search) and the candidates that lost.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH_OR_URL", help="files or URLs to identify")
    p.add_argument("--json", action="store_true", help="one JSON object per argument, in a list")
    p.add_argument("--offline", action="store_true", help="parse only; do not ask Trakt (ids are null)")
    p.add_argument("--refresh", action="store_true", help="ignore and replace cached matches")
    p.add_argument(
        "--clear-cache", action="store_true", help="forget every cached identification (then identify PATHs)"
    )
    fix.add_arguments(p)
    p.set_defaults(handler=cmd_identify)


def cmd_identify(args: argparse.Namespace) -> int:
    if args.fix:
        return fix.cmd_fix(args)
    if args.list or args.remove is not None:
        return fail("identify: --list and --remove go with --fix", 2)
    config = load_config_or_exit(args)
    from scrobblerd import logs

    logs.configure(level=args.log_level or "warning", fmt="console", stream=sys.stderr)
    if not args.paths and not args.clear_cache:
        return fail("identify: give at least one PATH_OR_URL, or --clear-cache", 2)
    from scrobblerd.errors import StoreError

    try:
        with _identifier(config, offline=args.offline and not args.clear_cache) as identifier:
            if args.clear_cache:
                removed = identifier.clear_cache()
                print(
                    f"cleared {removed} cached identification(s)",
                    file=sys.stderr if args.json else sys.stdout,
                )
            results = [_identify_one(identifier, path, args) for path in args.paths]
    except StoreError as exc:
        return fail(f"identify: {exc}")
    if args.json:
        print_json([_json(path, found) for path, found in zip(args.paths, results, strict=True)])
    else:
        for path, found in zip(args.paths, results, strict=True):
            _print_human(path, found)
    return 1 if any(found.failed for found in results) else 0


@contextlib.contextmanager
def _identifier(config: Config, *, offline: bool) -> Iterator[Identifier]:
    """An Identifier with the store's cache and a Trakt client (search needs only the api key)."""
    from scrobblerd.identify.fixes import fixes_path
    from scrobblerd.identify.identifier import Identifier

    rules_file = str(config.source) if config.source else None
    fixes = fixes_path(config.state_dir)
    if offline:
        yield Identifier(
            config.identify,
            min_duration=config.scrobble.min_duration,
            rules_file=rules_file,
            fixes_file=fixes,
        )
        return
    from scrobblerd.store.db import Store
    from scrobblerd.trakt.client import TraktClient

    with Store.open(config.state_dir) as store, TraktClient(config.trakt) as client:
        yield Identifier(
            config.identify,
            client,
            store,
            min_duration=config.scrobble.min_duration,
            rules_file=rules_file,
            fixes_file=fixes,
        )


def _identify_one(identifier: Identifier, path: str, args: argparse.Namespace) -> Identification:
    from scrobblerd.identify.parse import is_url
    from scrobblerd.models import MediaRef

    full = path if is_url(path) else os.path.abspath(os.path.expanduser(path))
    return identifier.identify(MediaRef(path=full), offline=args.offline, refresh=args.refresh)


def _json(path: str, found: Identification) -> dict[str, Any]:
    out = found.to_json()
    out["path"] = path
    return out


def _print_human(path: str, found: Identification) -> None:
    data = found.to_json()
    print(path)
    if data["type"] is None or (found.item is None and not found.offline):
        guess = found.guess
        parsed = f" (parsed as {guess.type} {guess.title!r})" if guess and guess.title else ""
        what = "unknown" + parsed
    else:
        what = f"{data['type']:8} {data['title']}" + (f" ({data['year']})" if data["year"] else "")
        if data["type"] == "episode":
            what += _episode_text(data)
    print(f"  {what}")
    if data["ids"]:
        print("  ids      " + ", ".join(f"{k}={v}" for k, v in sorted(data["ids"].items())))
    print(f"  source   {data['source'] or '-'}")
    print(f"  reason   {data['reason'] or '-'}")


def _episode_text(data: dict[str, Any]) -> str:
    numbers = data.get("episodes") or ([data["episode"]] if data["episode"] is not None else [])
    if data["season"] is not None and numbers:
        text = f" S{data['season']:02d}" + "".join(f"E{n:02d}" for n in numbers if n is not None)
    elif data.get("absolute") is not None:
        text = " #" + "-".join(dict.fromkeys(str(n) for n in (numbers[0], numbers[-1]))) + " (absolute)"
    elif data.get("date"):
        text = ""
    else:
        text = " (episode unknown)"
    if data.get("absolute") is not None and data["season"] is not None:
        text += f" (absolute {data['absolute']})"
    if data.get("date"):
        text += f" aired {data['date']}"
    return text + (f" {data['episode_title']!r}" if data.get("episode_title") else "")
