"""Command stubs; the real commands replace these."""

from __future__ import annotations

import argparse

from scrobblerd.cli.common import fail


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("queue", parents=[common], help="the durable delivery queue (list, retry, drop)", description="the durable delivery queue (list, retry, drop)")
    p.set_defaults(handler=_not_yet)
    p = sub.add_parser("history", parents=[common], help="recent local scrobbles, newest first", description="recent local scrobbles, newest first")
    p.set_defaults(handler=_not_yet)


def _not_yet(args: argparse.Namespace) -> int:
    return fail(f"{args.command}: not implemented yet")
