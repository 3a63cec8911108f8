"""structlog set up once, at start-up (never at import): console on a TTY, logfmt or JSON otherwise,
stdlib logging (requests/urllib3, apscheduler, python-mpv-jsonipc) routed through the same chain,
and a processor that redacts secrets wherever they appear in an event."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "***"
# Keys whose values are never logged, wherever they appear (nested dicts included).
SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "client_secret",
        "password",
        "authorization",
        "token",
        "code",
        "device_code",
    }
)
# The same secrets inside free text (request bodies, URLs, exception messages, header dumps).
_SECRET_IN_TEXT = re.compile(
    r"""(?ix)
    (
      ["']?(?:access_token|refresh_token|client_secret|password|device_code|token)["']?\s*[:=]\s*["']?
    )
    [^"'\s,&}]+
    """
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_BASIC = re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+")
_NOISY = {"urllib3": logging.WARNING, "apscheduler": logging.WARNING}
# guessit's matcher writes hundreds of lines per file name at debug: never ours to read.
_SILENT = {"rebulk": logging.WARNING}


def redact_text(text: str) -> str:
    text = _BEARER.sub(r"\1" + REDACTED, text)
    text = _BASIC.sub(r"\1" + REDACTED, text)
    return _SECRET_IN_TEXT.sub(r"\1" + REDACTED, text)


def _redact(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if str(k).lower() in SECRET_KEYS and v else _redact(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact(v, depth + 1) for v in value)
    return value


def redact_processor(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask tokens, secrets, passwords and Authorization values anywhere in the event."""
    for key in list(event):
        value = event[key]
        if key.lower() in SECRET_KEYS and value and key != "event":
            event[key] = REDACTED
        else:
            event[key] = _redact(value)
    return event


def _renderer(fmt: str, stream: TextIO) -> Any:
    if fmt == "auto":
        under_journald = bool(os.environ.get("JOURNAL_STREAM"))
        fmt = "console" if stream.isatty() and not under_journald else "logfmt"
    if fmt == "json":
        return structlog.processors.JSONRenderer(sort_keys=True)
    if fmt == "logfmt":
        return structlog.processors.LogfmtRenderer(key_order=["timestamp", "level", "event"])
    return structlog.dev.ConsoleRenderer(colors=stream.isatty())


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog and stdlib logging once. Safe to call again (a config reload)."""
    out = stream if stream is not None else sys.stderr
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    structlog.configure(
        processors=[
            *shared[:1],
            structlog.stdlib.filter_by_level,
            *shared[1:],
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(fmt, out)],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name, floor in _NOISY.items():
        logging.getLogger(name).setLevel(numeric if numeric == logging.DEBUG else max(numeric, floor))
    for name, floor in _SILENT.items():
        logging.getLogger(name).setLevel(max(numeric, floor))
