"""The command line: argument parsing and the only place that prints or exits.

Each command group lives in its own module with `register(subparsers)`; the modules are imported
here, but heavy work (guessit, the daemon) is imported inside the handlers so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

# structlog's console renderer pulls in rich and pygments whenever they are installed (a dev tool
# brings them): about 6 MiB in every scrobblerd process for tracebacks we print plainly anyway.
# Only this process-entry module does it, before structlog is first imported.
sys.modules.setdefault("rich", None)  # type: ignore[arg-type]
# requests guesses the encoding of a text answer that names none with charset_normalizer, which
# loads every codec Python has (about 4 MiB). We read JSON (UTF-8 by its RFC) and short error
# excerpts; without a guesser requests falls back to UTF-8, which is right for both.
sys.modules.setdefault("charset_normalizer", None)  # type: ignore[arg-type]
sys.modules.setdefault("chardet", None)  # type: ignore[arg-type]
warnings.filterwarnings("ignore", message="Unable to find acceptable character detection", module="requests")

from scrobblerd import __version__, logs
from scrobblerd.cli import auth, conf, doctor, identify, playback, queue, rate, run, service, status
from scrobblerd.cli.common import fail, load_config_or_exit
from scrobblerd.errors import ConfigError, ScrobblerdError
from scrobblerd.exitcodes import EXIT_CONFIG, EXIT_FAILURE

GROUPS = (run, auth, status, doctor, queue, playback, identify, rate, conf, service)
NO_CONFIG_COMMANDS = frozenset({"config", "init", "service", "doctor"})  # doctor reports a bad config itself


def _options(default: object) -> argparse.ArgumentParser:
    # The same options are accepted before and after the command; after it they must not
    # overwrite what was given before it, hence SUPPRESS as the sub-parsers' default.
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="config file (default: $SCROBBLERD_CONFIG or $XDG_CONFIG_HOME/scrobblerd/config.yaml)",
    )
    options.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default=default,
        help="override log.level from the config",
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scrobblerd",
        description="Scrobble what mpv, Kodi and VLC play to Trakt.tv.",
        parents=[_options(None)],
    )
    parser.add_argument("--version", action="version", version=f"scrobblerd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    common = _options(argparse.SUPPRESS)
    for group in GROUPS:
        group.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # Commands other than `run` (which sets up logging from the config) only show warnings
        # and errors, on stderr, so their own output stays clean.
        logs.configure(args.log_level or "warning", "console" if sys.stderr.isatty() else "logfmt")
        if args.command not in NO_CONFIG_COMMANDS:
            load_config_or_exit(args)  # every command refuses a bad config (exit 78) before doing anything
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # handlers raise SystemExit(78) for config errors, already reported
        return int(exc.code) if isinstance(exc.code, int) else EXIT_FAILURE
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    except ScrobblerdError as exc:  # the store, the token file, Trakt: each says what went wrong
        return fail(str(exc))
    except OSError as exc:  # a file or folder we could not use (state_dir read-only, a disk full)
        where = f" ({exc.filename})" if exc.filename else ""
        return fail(f"{exc.strerror or exc}{where}")
    sys.stdout.flush()
    return code
