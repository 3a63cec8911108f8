"""Commands to Kodi: `Player.Seek` over JSON-RPC, on a TCP connection of its own (HTTP when the TCP
port is closed), like the watcher's transports."""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

from scrobblerd.errors import PlayerError
from scrobblerd.players.kodi.rpc import CONNECT_TIMEOUT, HttpRpc, KodiConnectionError, Rpc, TcpRpc
from scrobblerd.players.kodi.settings import KodiConfig

# Kodi 20 can crash when Player.Seek arrives while it is still opening the streams (seen here:
# the process died mid-open). A seek waits until the clock runs, at most this long.
STARTED_WAIT = 2.0  # seconds
STARTED_POLL = 0.05  # seconds between Player.GetProperties while waiting


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


def _millis(value: Any) -> int:
    if not isinstance(value, dict):
        return 0
    parts = (value.get(k) for k in ("hours", "minutes", "seconds", "milliseconds"))
    h, m, s, ms = (p if isinstance(p, int) else 0 for p in parts)
    return ((h * 60 + m) * 60 + s) * 1000 + ms


def seek_when_started(call: Rpc, position: float) -> None:
    """Player.Seek on the active video player once its clock runs (see STARTED_WAIT)."""
    playerid = video_player(call("Player.GetActivePlayers"))
    deadline = time.monotonic() + STARTED_WAIT
    while True:
        props = call("Player.GetProperties", {"playerid": playerid, "properties": ["time", "totaltime"]})
        started = (
            isinstance(props, dict) and _millis(props.get("totaltime")) > 0 and _millis(props.get("time")) > 0
        )
        if started or time.monotonic() >= deadline:
            break
        time.sleep(STARTED_POLL)
    call("Player.Seek", seek_params(playerid, position))


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
            seek_when_started(TcpRpc(sock, lambda _count: None).call, position)

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
