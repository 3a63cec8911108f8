"""`scrobblerd playback [--json]` and `scrobblerd playback drop ID`: resume points, ours (kept in
the database) and Trakt's (fetched again when they changed, else from the cache)."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from scrobblerd.cli.common import fail, load_config_or_exit, print_json

if TYPE_CHECKING:
    from scrobblerd.resume.book import PointBook
    from scrobblerd.store.points import PlaybackPoint


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "playback",
        parents=[common],
        help="resume points, ours and Trakt's (list, drop)",
        description="resume points: where each item was paused or stopped, here or on any device",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--offline", action="store_true", help="do not ask Trakt; show what is stored")
    p.set_defaults(handler=cmd_list)
    psub = p.add_subparsers(dest="playback_command", metavar="ACTION")
    dp = psub.add_parser("drop", parents=[common], help="remove one point (on Trakt too when it is Trakt's)")
    dp.add_argument("id", metavar="ID", help="as `scrobblerd playback` shows it: local:N or Trakt's number")
    dp.set_defaults(handler=cmd_drop)


def _book(args: argparse.Namespace, stack: ExitStack) -> PointBook:
    from scrobblerd import logs
    from scrobblerd.resume.book import PointBook
    from scrobblerd.store.db import Store
    from scrobblerd.trakt.auth import open_tokens
    from scrobblerd.trakt.client import TraktClient

    config = load_config_or_exit(args)
    logs.configure(level=args.log_level or "warning", fmt="console", stream=sys.stderr)  # stdout is for data
    tokens, oauth = open_tokens(config)
    stack.enter_context(oauth)
    client = stack.enter_context(TraktClient(config.trakt, tokens))
    store = stack.enter_context(Store.open(config.state_dir))
    return PointBook(store, client)


def cmd_list(args: argparse.Namespace) -> int:
    from scrobblerd.errors import AuthError, ScrobblerdError, TraktError
    from scrobblerd.store import points

    with ExitStack() as stack:
        try:
            book = _book(args, stack)
            if not args.offline:
                try:
                    for kind in ("movies", "episodes"):
                        book.refresh(kind)
                except (TraktError, AuthError) as exc:
                    print(f"Trakt not reached ({exc}); showing its points as last seen.", file=sys.stderr)
            found = points.all_points(book.store)
        except ScrobblerdError as exc:
            return fail(str(exc))
    if args.json:
        print_json([p.to_json() for p in found])
        return 0
    if not found:
        print("No resume points: nothing was left part-way, here or on Trakt.")
        return 0
    _print_table([("ID", "ITEM", "PROGRESS", "PAUSED", "SOURCE"), *(_row(p) for p in found)])
    return 0


def cmd_drop(args: argparse.Namespace) -> int:
    from scrobblerd.errors import AuthError, ScrobblerdError, TraktError
    from scrobblerd.store import points

    with ExitStack() as stack:
        try:
            book = _book(args, stack)
            point = points.find(book.store, args.id)
            if point is None:
                return fail(f"no resume point {args.id} (see `scrobblerd playback`)")
            book.drop(point)
        except (TraktError, AuthError) as exc:
            return fail(f"Trakt refused or was not reached: {exc}; the point is kept")
        except ScrobblerdError as exc:
            return fail(str(exc))
    print(f"Dropped resume point {args.id}.")
    return 0


def _row(point: PlaybackPoint) -> tuple[str, ...]:
    data = point.to_json()
    return (
        str(data["id"]),
        _describe(data["item"]),
        f"{point.progress:.1f} %",
        data["paused_at"],
        point.source,
    )


def _describe(item: dict[str, Any]) -> str:
    if item.get("type") == "episode":
        show = item.get("show") or {}
        season, number = int(item.get("season") or 0), int(item.get("number") or 0)
        return f"{show.get('title') or '?'} S{season:02d}E{number:02d}"
    if item.get("type") == "movie":
        year = f" ({item['year']})" if item.get("year") else ""
        return f"{item.get('title') or '?'}{year}"
    return str(item.get("path") or "?")


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
