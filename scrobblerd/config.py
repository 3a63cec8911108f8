"""YAML -> validated Config (being written)."""

from __future__ import annotations

from pathlib import Path

from scrobblerd.settings import Config


def load_config(path: str | Path | None = None) -> Config:
    return Config()
