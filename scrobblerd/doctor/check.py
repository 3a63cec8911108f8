"""One doctor check's result: the shape `doctor --json` shows (INTERFACE.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    name: str  # config | state_dir | token | trakt | clock | player:NAME | service | queue
    ok: bool
    detail: str
    fix: str | None = None  # one line saying what to do; None when the check holds

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def passed(name: str, detail: str) -> Check:
    return Check(name, True, detail, None)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, False, detail, fix)
