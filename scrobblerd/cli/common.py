"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from scrobblerd.config.loader import load_config
from scrobblerd.config.settings import Config
from scrobblerd.errors import ConfigError
from scrobblerd.exitcodes import EXIT_CONFIG


def load_config_or_exit(args: argparse.Namespace) -> Config:
    """The validated config, or every problem on stderr and SystemExit(78). Loaded once per run."""
    cached = getattr(args, "loaded_config", None)
    if isinstance(cached, Config):
        return cached
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
    args.loaded_config = config
    return config


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def fail(message: str, code: int = 1) -> int:
    print(f"scrobblerd: {message}", file=sys.stderr)
    return code
