"""What a player may tell us, checked at the edge: every field a watcher takes from a player goes
through one of these before it reaches a PlayerEvent. A value of the wrong type, NaN, negative or
absurdly large is dropped (None) and its name noted in `bad`, so the watcher can say so once.

Also the JSON every player channel decodes: refused before decoding when it is too large or
nested too deep (the standard decoder recurses, and no player sends more than a few levels).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

MAX_SECONDS = 7 * 86400.0  # a position or duration beyond a week is a broken value, not a film
MAX_TEXT = 8192  # characters in a path, title or tag
MAX_NUMBER = 1_000_000  # season, episode, year, player ids
MAX_DEPTH = 64  # JSON nesting; mpv, VLC and Kodi send at most about 8 levels
MAX_MESSAGE = 4 * 1024 * 1024  # bytes of one JSON message from a player

_BRACKETS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)  # strings skipped whole


def _note(bad: set[str] | None, name: str) -> None:
    if bad is not None and name:
        bad.add(name)


def seconds(value: Any, name: str = "", bad: set[str] | None = None) -> float | None:
    """A time in seconds: a finite number in [0, MAX_SECONDS]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_SECONDS:
        _note(bad, name)  # NaN fails the range check too
        return None
    return float(value)


def fraction(value: Any, top: float, name: str = "", bad: set[str] | None = None) -> float | None:
    """A share of the whole in [0, top] (1 for VLC's position, 100 for a percentage)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= top:
        _note(bad, name)
        return None
    return float(value)


def rate(value: Any, name: str = "", bad: set[str] | None = None) -> float | None:
    """A playback speed: finite, within +-1000 (fast-forward and rewind are large but bounded)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not -1000 <= value <= 1000:
        _note(bad, name)
        return None
    return float(value)


def number(value: Any, minimum: int, name: str = "", bad: set[str] | None = None) -> int | None:
    """A whole number in [minimum, MAX_NUMBER]; Kodi's -1 and 0 for "unknown" fall below."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value > MAX_NUMBER:
        _note(bad, name)
        return None
    return value if value >= minimum else None


def text(value: Any, name: str = "", bad: set[str] | None = None) -> str | None:
    """A non-empty string of at most MAX_TEXT characters without NUL."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT or "\0" in value:
        _note(bad, name)
        return None
    return value


def mapping(value: Any, name: str = "", bad: set[str] | None = None) -> Mapping[str, Any]:
    """An object, or an empty one (a list or a number where an object belongs is dropped)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        _note(bad, name)
        return {}
    return value


class MessageRejected(ValueError):
    """A player's message refused before decoding: too large or nested too deep."""


def loads(data: str | bytes, *, max_size: int | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads for what a player sends: MessageRejected when it is over `max_size` (default
    MAX_MESSAGE) or nested deeper than `max_depth` (checked first, without recursion), ValueError
    when it is not JSON."""
    max_size = MAX_MESSAGE if max_size is None else max_size
    if len(data) > max_size:
        raise MessageRejected(f"a message of {len(data)} bytes (the limit is {max_size})")
    text_ = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    depth = 0
    for match in _BRACKETS.finditer(text_):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise MessageRejected(f"a message nested deeper than {max_depth} levels")
        elif char in "]}":
            depth -= 1
    return json.loads(text_)
