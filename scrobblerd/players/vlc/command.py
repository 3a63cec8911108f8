"""Commands to VLC: `status.json?command=seek&val=<s>` on its Lua HTTP interface."""

from __future__ import annotations

import requests

from scrobblerd import deadline
from scrobblerd.errors import PlayerError
from scrobblerd.players.vlc.settings import VlcConfig

STATUS_PATH = "/requests/status.json"
REQUEST_TIMEOUT = 2.0  # seconds; VLC's Lua HTTP answers in ~25 ms


class VlcCommands:
    def __init__(self, config: VlcConfig) -> None:
        self.config = config
        self.url = config.url.rstrip("/")

    def seek(self, player: str, position: float) -> None:
        # VLC's `val` takes whole seconds (or "50%", "+10s"); one VLC per config, so `player` is it.
        params = {"command": "seek", "val": str(round(position))}
        session = deadline.install(requests.Session())
        session.auth = ("", str(self.config.password))
        try:
            # the whole exchange within the timeout, as for every other HTTP call to a player
            with (
                session,
                deadline.request(
                    session, "GET", self.url + STATUS_PATH, total=REQUEST_TIMEOUT, params=params
                ) as resp,
            ):
                if resp.status_code != 200:
                    raise PlayerError(f"VLC refused the seek: HTTP {resp.status_code}")
        except requests.RequestException as exc:
            raise PlayerError(f"VLC unreachable: {type(exc).__name__}") from exc
