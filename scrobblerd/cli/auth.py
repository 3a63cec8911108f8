"""Command stubs; the real commands replace these."""

from __future__ import annotations

import argparse

from scrobblerd.cli.common import fail


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("auth", parents=[common], help="device-code login: show a code, wait for approval, store the token", description="device-code login: show a code, wait for approval, store the token")
    p.set_defaults(handler=_not_yet)
    p = sub.add_parser("logout", parents=[common], help="revoke and delete the token", description="revoke and delete the token")
    p.set_defaults(handler=_not_yet)


def _not_yet(args: argparse.Namespace) -> int:
    return fail(f"{args.command}: not implemented yet")
