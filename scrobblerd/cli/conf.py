"""`config check` and `init` (being written)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("config", parents=[common], help="validate a config file")
    p.set_defaults(handler=lambda a: 1)
