"""Command stubs; the real commands replace these."""

from __future__ import annotations

import argparse

from scrobblerd.cli.common import fail


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[common], help="run the daemon in the foreground", description="run the daemon in the foreground")
    p.set_defaults(handler=_not_yet)


def _not_yet(args: argparse.Namespace) -> int:
    return fail(f"{args.command}: not implemented yet")
