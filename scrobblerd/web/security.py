"""Who may use the page: the Host check (no DNS rebinding), the bearer token, login sessions and
the per-run CSRF token. Every comparison with a secret is constant-time (hmac.compare_digest)."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
import threading
from collections.abc import Mapping

from scrobblerd.config.settings import LOOPBACK_NAMES, is_loopback

SESSION_COOKIE = "scrobblerd_session"
MAX_SESSIONS = 64  # logins kept per run; the oldest is forgotten first


def host_name(header: str | None) -> str | None:
    """The name in a Host header without its port (`[::1]:8787` -> `::1`), lower case."""
    if not header:
        return None
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else None
    name, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    if port and not port.isdigit():
        return None
    return name or None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Guard:
    """The security rules for one run of the server."""

    def __init__(self, listen_host: str, token: str) -> None:
        self._token = token
        self.loopback = is_loopback(listen_host)
        self.csrf = secrets.token_urlsafe(32)
        self._sessions: list[str] = []
        self._lock = threading.Lock()
        names = {n.lower() for n in LOOPBACK_NAMES}
        if not self.loopback:
            # Reached from the network: the machine's own names too (a rebinding attacker's name is
            # never one of them, and an IP literal cannot be rebound).
            names |= {listen_host.lower(), socket.gethostname().lower()}
        self._names = frozenset(names)

    @property
    def token_required(self) -> bool:
        return bool(self._token)

    def host_ok(self, header: str | None) -> bool:
        name = host_name(header)
        if name is None:
            return False
        if name in self._names:
            return True
        if _is_ip(name):
            return is_loopback(name) or not self.loopback
        return False

    def authorized(self, authorization: str | None, cookies: Mapping[str, str]) -> bool:
        """The bearer token in the Authorization header, or a session cookie from /login."""
        if not self._token:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token.encode()):
            return True
        session = cookies.get(SESSION_COOKIE)
        if not session:
            return False
        with self._lock:
            known = list(self._sessions)
        return any(hmac.compare_digest(session.encode(), s.encode()) for s in known)

    def login(self, given: str) -> str | None:
        """A new session id for the right token, else None."""
        if not self._token or not hmac.compare_digest(given.encode(), self._token.encode()):
            return None
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions = [*self._sessions[-(MAX_SESSIONS - 1) :], session]
        return session

    def csrf_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given).encode(), self.csrf.encode())

    def origin_ok(self, origin: str | None, host: str | None) -> bool:
        """A browser's Origin, when sent, must be this page's own (same host and port)."""
        if origin is None:
            return True
        scheme, sep, rest = origin.partition("://")
        return bool(sep) and scheme in ("http", "https") and rest.lower() == (host or "").strip().lower()


def parse_cookies(header: str | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            found[name] = value
    return found
