"""Command stubs; the real commands replace these."""

from __future__ import annotations

import argparse

from scrobblerd.cli.common import fail


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("identify", parents=[common], help="show how files or URLs would be identified, without scrobbling", description="show how files or URLs would be identified, without scrobbling")
    p.set_defaults(handler=_not_yet)


def _not_yet(args: argparse.Namespace) -> int:
    return fail(f"{args.command}: not implemented yet")
