"""systemd's service notification protocol, by hand: one datagram to $NOTIFY_SOCKET.

No dependency on libsystemd or python-systemd: the protocol is newline-separated KEY=VALUE
assignments sent as a single AF_UNIX datagram (sd_notify(3)). Outside systemd (no $NOTIFY_SOCKET)
every call is a cheap no-op returning False, so the daemon calls these unconditionally.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger()

# systemd: sd_notify(3) — the socket path is in $NOTIFY_SOCKET; a leading "@" means the Linux
# abstract namespace (the "@" becomes a NUL byte).
NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"
# systemd: sd_watchdog_enabled(3) — interval in microseconds, and optionally the PID it is meant for.
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"
# A notification is tiny and the receiver is PID 1 or the user manager; never block the daemon on it.
SEND_TIMEOUT = 1.0


def _address(raw: str) -> str | bytes | None:
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    return None  # vsock and other schemes are not used by service managers we run under


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send `message` (e.g. "READY=1\\nSTATUS=…") to the service manager.

    True when the datagram was sent; False when not running under a notify-aware manager or the
    socket refused it. Never raises: a lost status line must not hurt the daemon.
    """
    environ = os.environ if env is None else env
    raw = environ.get(NOTIFY_SOCKET_ENV, "")
    address = _address(raw) if raw else None
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(SEND_TIMEOUT)
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify_failed", socket=raw, error=str(exc))
        return False
    return True


def ready(status_text: str | None = None) -> bool:
    """Start-up is complete (Type=notify units become "active" now)."""
    message = "READY=1"
    if status_text:
        message += "\nSTATUS=" + _one_line(status_text)
    return notify(message)


def status(text: str) -> bool:
    """A one-line human status shown by `systemctl status`."""
    return notify("STATUS=" + _one_line(text))


def watchdog() -> bool:
    """Keep-alive ping; call more often than every watchdog_interval() seconds."""
    return notify("WATCHDOG=1")


def stopping() -> bool:
    """Graceful shutdown has begun."""
    return notify("STOPPING=1")


def reloading() -> bool:
    """A configuration reload has begun; follow with ready() when done."""
    return notify("RELOADING=1")


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """The watchdog timeout in seconds when the manager expects pings from this process, else None.

    Ping at about half of it (sd_watchdog_enabled(3) recommends that).
    """
    environ = os.environ if env is None else env
    raw_usec = environ.get(WATCHDOG_USEC_ENV, "")
    try:
        usec = int(raw_usec)
    except ValueError:
        return None
    if usec <= 0:
        return None
    raw_pid = environ.get(WATCHDOG_PID_ENV, "")
    if raw_pid:
        try:
            if int(raw_pid) != os.getpid():
                return None
        except ValueError:
            return None
    return usec / 1_000_000


def _one_line(text: str) -> str:
    return " ".join(text.split())
