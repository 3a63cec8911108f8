"""Commands to Kodi: `Player.Seek` over JSON-RPC, on a TCP connection of its own (HTTP when the TCP
port is closed), like the watcher's transports."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from scrobblerd.errors import PlayerError
from scrobblerd.players.kodi.rpc import CONNECT_TIMEOUT, HttpRpc, KodiConnectionError, TcpRpc
from scrobblerd.players.kodi.settings import KodiConfig


def seek_params(playerid: int, position: float) -> dict[str, Any]:
    """Player.Seek's `value` as a time (JSON-RPC v13: hours, minutes, seconds, milliseconds)."""
    ms = max(0, round(position * 1000))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, milliseconds = divmod(rest, 1000)
    time = {"hours": hours, "minutes": minutes, "seconds": seconds, "milliseconds": milliseconds}
    return {"playerid": playerid, "value": {"time": time}}


def video_player(players: Any) -> int:
    """The active video (or any) player's id from Player.GetActivePlayers."""
    found = [p for p in players if isinstance(p, dict) and isinstance(p.get("playerid"), int)]
    if not found:
        raise PlayerError("Kodi is not playing anything")
    video = [p for p in found if p.get("type") == "video"]
    return int((video or found)[0]["playerid"])


class KodiCommands:
    def __init__(self, config: KodiConfig) -> None:
        self.config = config

    def seek(self, player: str, position: float) -> None:
        try:
            sock = socket.create_connection((self.config.host, self.config.port), timeout=CONNECT_TIMEOUT)
        except OSError:
            self._seek_http(position)
            return
        with contextlib.closing(sock):
            rpc = TcpRpc(sock, lambda _count: None)
            rpc.call("Player.Seek", seek_params(video_player(rpc.call("Player.GetActivePlayers")), position))

    def _seek_http(self, position: float) -> None:
        url = f"http://{self.config.host}:{self.config.http_port}/jsonrpc"
        http = HttpRpc(url, self.config.username, self.config.password)
        try:
            http.call(
                "Player.Seek", seek_params(video_player(http.call("Player.GetActivePlayers")), position)
            )
        except KodiConnectionError as exc:
            raise PlayerError(f"Kodi unreachable: {exc}") from exc
        finally:
            http.close()
