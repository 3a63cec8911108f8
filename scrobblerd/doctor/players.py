"""Each enabled player's interface, tried the way the watcher uses it, with the exact setting to fix.

mpv: every configured socket path (or glob) exists, is a socket, lets us in, and mpv answers.
VLC: the Lua HTTP interface answers status.json with our password, and it is VLC that answers.
Kodi: JSON-RPC over TCP (remote control) answers; the web server, when it answers, takes our login.
"""

from __future__ import annotations

import glob
import os
import socket
import stat

from scrobblerd.doctor.check import Check, failed, passed
from scrobblerd.errors import PlayerError
from scrobblerd.players.kodi.rpc import (
    CONNECT_TIMEOUT,
    HttpRpc,
    KodiConnectionError,
    KodiUnauthorizedError,
    TcpRpc,
)
from scrobblerd.players.kodi.settings import KodiConfig
from scrobblerd.players.mpv.ipc import MpvIpc
from scrobblerd.players.mpv.settings import MpvConfig
from scrobblerd.players.vlc.http import STATUS_PATH, VlcHttp, VlcUnauthorized, VlcUnreachable
from scrobblerd.players.vlc.settings import VlcConfig

VLC_WEB_FIX = (
    "turn on VLC's web interface with a password: `vlc --extraintf http --http-password PASS` "
    "(or Preferences > All > Interface > Main interfaces: Web, and Lua: Password)"
)
KODI_TCP_FIX = (
    'in Kodi: Settings > Services > Control > "Allow remote control from applications on this system" '
    "(JSON-RPC on TCP port {port})"
)


def mpv_check(config: MpvConfig) -> Check:
    name = "player:mpv"
    results = [_mpv_path(pattern) for pattern in config.ipc_path]
    bad = [r for r in results if not r.ok]
    if bad:
        return failed(name, "; ".join(r.detail for r in bad), bad[0].fix or "")
    return passed(name, "; ".join(r.detail for r in results))


def _mpv_path(pattern: str) -> Check:
    name = "player:mpv"
    expanded = os.path.expanduser(pattern)
    line = f"input-ipc-server={expanded}"
    if glob.has_magic(expanded):
        found = sorted(glob.glob(expanded))
        if not found:
            return failed(
                name,
                f"no socket matches {expanded}: no mpv runs with input-ipc-server",
                f"start mpv with --input-ipc-server=PATH matching {expanded}",
            )
        checks = [_mpv_path(path) for path in found]
        return next((c for c in checks if not c.ok), checks[0])
    try:
        mode = os.stat(expanded).st_mode
    except FileNotFoundError:
        return failed(
            name,
            f"no socket at {expanded}: mpv is not running, or runs without its IPC socket",
            f"add `{line}` to ~/.config/mpv/mpv.conf (or start mpv with --{line})",
        )
    except PermissionError:
        return failed(
            name,
            f"{expanded} cannot be reached (permission denied)",
            "run mpv and scrobblerd as the same user",
        )
    if not stat.S_ISSOCK(mode):
        return failed(
            name,
            f"{expanded} is not a socket (mode {stat.filemode(mode)})",
            f"remove {expanded} and start mpv with --{line}",
        )
    return _mpv_talk(expanded, line)


def _mpv_talk(path: str, line: str) -> Check:
    name = "player:mpv"
    try:
        ipc = MpvIpc.connect(path)
    except PermissionError:
        return failed(name, f"{path}: permission denied", "run mpv and scrobblerd as the same user")
    except ConnectionRefusedError:
        return failed(
            name,
            f"{path} is a stale socket: no mpv listens on it",
            f"start mpv with --{line} (the stale file is replaced)",
        )
    except OSError as exc:
        return failed(name, f"{path}: {exc.strerror or exc}", f"start mpv with --{line}")
    try:
        version = ipc.get("mpv-version")
    except (OSError, PlayerError, TimeoutError) as exc:
        return failed(
            name,
            f"{path} accepted us but did not answer like mpv ({exc})",
            f"make sure {path} is mpv's --input-ipc-server socket",
        )
    finally:
        ipc.close()
    return passed(name, f"{version} on {path}")


def vlc_check(config: VlcConfig) -> Check:
    name = "player:vlc"
    url = config.url.rstrip("/")
    if not config.password.reveal():
        return failed(
            name,
            "players.vlc.password is empty: VLC's web interface refuses everyone without one",
            f"set a password in VLC and the same in players.vlc.password; {VLC_WEB_FIX}",
        )
    http = VlcHttp(url, config.password.reveal())
    try:
        status = http.get(STATUS_PATH)
    except VlcUnreachable as exc:
        return failed(
            name,
            f"nothing answers at {url} ({exc}): VLC is not running or its web interface is off",
            VLC_WEB_FIX,
        )
    except VlcUnauthorized:
        return failed(
            name,
            f"VLC at {url} refused the password (HTTP 401)",
            "set players.vlc.password to VLC's Lua HTTP password "
            "(Preferences > All > Interface > Main interfaces > Lua)",
        )
    except PlayerError as exc:
        return failed(
            name,
            f"{url} is not VLC's web interface ({exc})",
            "point players.vlc.url at VLC's --http-host/--http-port",
        )
    finally:
        http.close()
    if not isinstance(status, dict) or "state" not in status or "version" not in status:
        return failed(
            name,
            f"{url} answered, but not like VLC's status.json",
            "point players.vlc.url at VLC's --http-host/--http-port",
        )
    return passed(name, f"VLC {status.get('version')} at {url} ({status.get('state')})")


def kodi_check(config: KodiConfig) -> Check:
    name = "player:kodi"
    where = f"{config.host}:{config.port}"
    tcp = _kodi_tcp(config)
    web = _kodi_http(config)
    if isinstance(web, Check):
        return web
    if isinstance(tcp, str):
        fix = KODI_TCP_FIX.format(port=config.port)
        return failed(name, f"Kodi's JSON-RPC at {where} does not answer ({tcp}){web}", fix)
    return passed(name, f"Kodi {tcp[1]} at {where}{web}")


def _kodi_tcp(config: KodiConfig) -> str | tuple[bool, str]:
    try:
        sock = socket.create_connection((config.host, config.port), timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    try:
        version = TcpRpc(sock, lambda _count: None).call("JSONRPC.Version")
    except PlayerError as exc:
        return f"not Kodi: {exc}"
    finally:
        sock.close()
    v = version.get("version", {}) if isinstance(version, dict) else {}
    return True, f"JSON-RPC {v.get('major')}.{v.get('minor')}.{v.get('patch')}"


def _kodi_http(config: KodiConfig) -> Check | str:
    """'' or a note when the web server is off or fine; a failed Check when it refuses our login."""
    url = f"http://{config.host}:{config.http_port}/jsonrpc"
    rpc = HttpRpc(url, config.username, config.password.reveal())
    try:
        rpc.call("JSONRPC.Ping")
    except KodiUnauthorizedError:
        return failed(
            "player:kodi",
            f"Kodi's web server at {config.host}:{config.http_port} refused the login (HTTP 401)",
            "set players.kodi.username/password to Kodi's web server login "
            "(Settings > Services > Control > Username, Password)",
        )
    except KodiConnectionError:
        return "; web server off (used only when TCP is off)"
    finally:
        rpc.close()
    return f"; web server on :{config.http_port}"
