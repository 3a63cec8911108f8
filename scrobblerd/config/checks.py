"""What a type cannot say about a key: ranges, choices, formats, per key path (`players.vlc.url`,
`identify.exclude[]`). Each player's section adds its own from its fields' metadata."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from scrobblerd.config.settings import split_listen
from scrobblerd.players.registry import PLAYERS

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "console", "json", "logfmt")
OVERRIDE_TYPES = ("movie", "show")

Check = Callable[[Any], str | None]


def _between(low: float, high: float) -> Check:
    return lambda v: None if low <= v <= high else f"must be between {low:g} and {high:g}, got {v!r}"


def _positive(v: Any) -> str | None:
    return None if v > 0 else f"must be greater than 0, got {v!r}"


def _not_negative(v: Any) -> str | None:
    return None if v >= 0 else f"must not be negative, got {v!r}"


def _choice(options: tuple[str, ...]) -> Check:
    return lambda v: None if v in options else f"must be one of {', '.join(options)}, got {v!r}"


def _url(v: Any) -> str | None:
    return None if re.match(r"^https?://[^\s/]+", v) else f"must be an http(s) URL, got {v!r}"


def _regex(v: Any) -> str | None:
    try:
        re.compile(v)
    except re.error as exc:
        return f"invalid regular expression: {exc}"
    return None


def _listen(v: Any) -> str | None:
    return None if split_listen(v) else f"must be host:port, like 127.0.0.1:8787, got {v!r}"


_PORT = _between(1, 65535)
CHECKS: dict[str, Check] = {
    "trakt.api_url": _url,
    "trakt.auth_url": _url,
    "trakt.timeout": _positive,
    "trakt.client_id": lambda v: None if v else "must not be empty",
    "log.level": _choice(LOG_LEVELS),
    "log.format": _choice(LOG_FORMATS),
    "scrobble.threshold": _between(80, 100),
    "scrobble.min_duration": _not_negative,
    "scrobble.preview_time": _not_negative,
    "scrobble.pause_timeout": _positive,
    "resume.min_progress": _between(0, 100),
    "resume.max_progress": _between(0, 100),
    "identify.exclude[]": _regex,
    "identify.cache_ttl": _not_negative,
    "identify.negative_ttl": _not_negative,
    "identify.overrides[].type": _choice(OVERRIDE_TYPES),
    "identify.overrides[].path": _regex,
    "web.listen": _listen,
    "alerts.urls[]": lambda v: None if "://" in v else "must be an Apprise URL such as ntfy://topic",
    "alerts.queue_age": _positive,
}
PATH_KEYS = {"state_dir", "identify.include[]"}
# A scalar where a list is expected is taken as a one-element list (ipc_path: /tmp/mpvsocket).
SCALAR_AS_LIST = {"identify.include", "identify.exclude"}
# Each player's section declares its checks in its fields' metadata (players/<name>/settings.py).
NAMED_CHECKS: dict[str, Check] = {"url": _url, "positive": _positive, "port": _PORT, "regex": _regex}


def _player_rules() -> None:
    for spec in PLAYERS:
        for item in dataclasses.fields(spec.settings):
            key = f"players.{spec.name}.{item.name}"
            meta = item.metadata
            if "check" in meta:
                CHECKS[key] = NAMED_CHECKS[meta["check"]]
            if meta.get("scalar_as_list"):
                SCALAR_AS_LIST.add(key)
            if meta.get("path"):
                PATH_KEYS.add(f"{key}[]" if meta.get("scalar_as_list") else key)


_player_rules()
