"""The `players.vlc` config section."""

from __future__ import annotations

from dataclasses import dataclass, field

from scrobblerd.secret import Secret


@dataclass(frozen=True)
class VlcConfig:
    enabled: bool = False
    url: str = field(default="http://127.0.0.1:8080", metadata={"check": "url"})
    password: Secret = Secret("")
    poll_interval: float = field(default=1.0, metadata={"check": "positive"})
