"""The `players.mpv` config section."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MpvConfig:
    enabled: bool = True
    # a path, a glob, or a list of them; a single string is taken as a one-element list
    ipc_path: tuple[str, ...] = field(
        default=("/tmp/mpvsocket",),  # noqa: S108 - mpv's conventional socket path
        metadata={"path": True, "scalar_as_list": True},
    )
