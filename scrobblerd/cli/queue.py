"""`scrobblerd queue list|retry|drop` and `scrobblerd history`: the durable queue and the local
record of watches. They open the database directly, so they work with or without the daemon
(SQLite's busy timeout lets them wait for the daemon's transaction)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from scrobblerd.cli.common import fail, load_config_or_exit, print_json

HISTORY_DEFAULT_LIMIT = 20


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "queue",
        parents=[common],
        help="the durable delivery queue (list, retry, drop)",
        description="the durable delivery queue (list, retry, drop)",
    )
    p.set_defaults(handler=cmd_list, json=False)
    qsub = p.add_subparsers(dest="queue_command", metavar="ACTION")
    lp = qsub.add_parser("list", parents=[common], help="what waits to be delivered, and what failed")
    lp.add_argument("--json", action="store_true", help="machine-readable output")
    lp.set_defaults(handler=cmd_list)
    rp = qsub.add_parser("retry", parents=[common], help="try failed (or waiting) items again now")
    rp.add_argument("id", nargs="?", type=int, metavar="ID", help="one item (default: all)")
    rp.set_defaults(handler=cmd_retry)
    dp = qsub.add_parser("drop", parents=[common], help="remove one item for good")
    dp.add_argument("id", type=int, metavar="ID")
    dp.set_defaults(handler=cmd_drop)

    h = sub.add_parser(
        "history",
        parents=[common],
        help="recent local scrobbles, newest first",
        description="recent local scrobbles, newest first",
    )
    h.add_argument("--json", action="store_true", help="machine-readable output")
    h.add_argument(
        "--limit",
        type=_positive_int,
        default=HISTORY_DEFAULT_LIMIT,
        metavar="N",
        help=f"how many (default {HISTORY_DEFAULT_LIMIT})",
    )
    h.set_defaults(handler=cmd_history)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _open(args: argparse.Namespace) -> Any:
    from scrobblerd import logs
    from scrobblerd.store.db import Store

    config = load_config_or_exit(args)
    logs.configure(level=args.log_level or "warning", fmt="console", stream=sys.stderr)  # stdout is for data
    return Store.open(config.state_dir)


def cmd_list(args: argparse.Namespace) -> int:
    from scrobblerd.errors import StoreError
    from scrobblerd.store import deliveries

    try:
        with _open(args) as store:
            rows = deliveries.rows(store)
    except StoreError as exc:
        return fail(str(exc))
    if args.json:
        print_json([r.to_json() for r in rows])
        return 0
    if not rows:
        print("The queue is empty: everything watched has reached Trakt.")
        return 0
    table = [("ID", "STATUS", "KIND", "ITEM", "WATCHED", "TRIES", "NEXT TRY", "LAST ERROR")]
    for r in rows:
        item = r.item_json()
        table.append(
            (
                str(r.id),
                r.status,
                r.kind,
                _describe(item) if r.kind == deliveries.WATCH else str(item),
                str(item.get("watched_at", "")),
                str(r.attempts),
                "-" if r.status != deliveries.PENDING else _short_time(r.next_attempt_at),
                r.last_error or "",
            )
        )
    _print_table(table)
    failed = sum(1 for r in rows if r.status == deliveries.FAILED)
    if failed:
        print(f"\n{failed} failed: fix the cause (e.g. an identify override), then `scrobblerd queue retry`.")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from scrobblerd.errors import StoreError
    from scrobblerd.store import deliveries

    try:
        with _open(args) as store:
            changed = deliveries.retry(store, time.time(), args.id)
    except StoreError as exc:
        return fail(str(exc))
    if args.id is not None and changed == 0:
        return fail(f"no queued item {args.id} (or it is being sent right now)")
    from scrobblerd.daemon.statusfile import wake_daemon

    woke = wake_daemon(load_config_or_exit(args).state_dir)
    when = "the running daemon sends them now" if woke else "they go out when the daemon runs"
    print(f"{changed} item(s) will be retried now ({when}).")
    return 0


def cmd_drop(args: argparse.Namespace) -> int:
    from scrobblerd.errors import StoreError
    from scrobblerd.store import deliveries

    try:
        with _open(args) as store:
            dropped = deliveries.drop(store, args.id)
    except StoreError as exc:
        return fail(str(exc))
    if not dropped:
        return fail(f"no queued item {args.id}")
    from scrobblerd.daemon.statusfile import wake_daemon

    wake_daemon(load_config_or_exit(args).state_dir)
    print(f"Dropped item {args.id}; it stays in `scrobblerd history` as not delivered.")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from scrobblerd.errors import StoreError

    try:
        with _open(args) as store:
            records = store.history(args.limit)
    except StoreError as exc:
        return fail(str(exc))
    if args.json:
        print_json([r.to_json() for r in records])
        return 0
    if not records:
        print("No watches recorded yet.")
        return 0
    table = [("WATCHED", "ITEM", "DELIVERED", "IDENTIFIED BY")]
    for rec in records:
        data = rec.to_json()
        delivered = "yes" if rec.delivered else "waiting"
        table.append((data["watched_at"], _describe(data), delivered, _identified_by(rec.source, rec.reason)))
    _print_table(table)
    return 0


def _describe(item: dict[str, Any]) -> str:
    title = str(item.get("title") or "?")
    if item.get("year"):
        title += f" ({item['year']})"
    if item.get("season") is not None and item.get("episode") is not None:
        title += f" S{int(item['season']):02d}E{int(item['episode']):02d}"
    return title


def _identified_by(source: str | None, reason: str | None) -> str:
    """`search`, `player`, or the rule: `override: fix #2` / `override: rule at config.yaml:14`."""
    if not source:
        return "-"
    text = reason or ""
    if text.startswith("fix #"):
        return f"{source}: {text.split(' in ', 1)[0]}"
    if text.startswith("override rule at "):
        return f"{source}: rule at {text.removeprefix('override rule at ').split(' ', 1)[0]}"
    return source


def _short_time(ts: float) -> str:
    left = ts - time.time()
    if left <= 0:
        return "now"
    if left < 120:
        return f"in {left:.0f} s"
    return f"in {left / 60:.0f} min"


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
