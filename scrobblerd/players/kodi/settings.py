"""The `players.kodi` config section."""

from __future__ import annotations

from dataclasses import dataclass, field

from scrobblerd.secret import Secret


@dataclass(frozen=True)
class KodiConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = field(default=9090, metadata={"check": "port"})  # JSON-RPC over TCP (push notifications)
    http_port: int = field(default=8080, metadata={"check": "port"})  # JSON-RPC over HTTP
    username: str = "kodi"
    password: Secret = Secret("")
