"""Command stubs; the real commands replace these."""

from __future__ import annotations

import argparse

from scrobblerd.cli.common import fail


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("rate", parents=[common], help="rate the last watched item (or a given one) on Trakt", description="rate the last watched item (or a given one) on Trakt")
    p.set_defaults(handler=_not_yet)


def _not_yet(args: argparse.Namespace) -> int:
    return fail(f"{args.command}: not implemented yet")
