"""Optional desktop notifications through `notify-send`.

Only when a desktop session is reachable (a D-Bus session bus) and the binary is installed. On a
headless box every call is a silent no-op; nothing here raises, and a call blocks at most
NOTIFY_TIMEOUT seconds (the daemon may still prefer to call it off the dispatcher thread).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import structlog

from scrobblerd.config.settings import NotifyConfig
from scrobblerd.models import Episode, Item

log = structlog.get_logger()

NOTIFY_SEND = "notify-send"
NOTIFY_TIMEOUT = 3.0  # seconds; notify-send returns at once unless the bus is wedged
APP_NAME = "scrobblerd"
# What the user types to rate the item that was just watched (see `scrobblerd rate --help`).
RATE_HINT = "Rate it: scrobblerd rate 8 --last"
# freedesktop: the session bus address; dbus-user-session puts the socket at $XDG_RUNTIME_DIR/bus.
BUS_ENV = "DBUS_SESSION_BUS_ADDRESS"


def session_bus_address(env: Mapping[str, str]) -> str | None:
    """The session bus to use, or None on a headless box."""
    address = env.get(BUS_ENV, "").strip()
    if address:
        return address
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and Path(runtime, "bus").is_socket():
        return "unix:path=" + str(Path(runtime, "bus"))
    return None


def describe(item: Item) -> str:
    """A short human title: "The Matrix (1999)", "Breaking Bad S01E02"."""
    if isinstance(item, Episode):
        if item.season is not None and item.number is not None:
            return f"{item.show.title} S{item.season:02d}E{item.number:02d}"
        if item.number_abs is not None:
            return f"{item.show.title} #{item.number_abs}"
        return item.show.title
    return f"{item.title} ({item.year})" if item.year else item.title


class DesktopNotifier:
    """Sends notifications when configured and possible; remembers failure to log it once."""

    def __init__(
        self,
        config: NotifyConfig,
        env: Mapping[str, str] | None = None,
        timeout: float = NOTIFY_TIMEOUT,
    ) -> None:
        self._config = config
        self._env = env
        self._timeout = timeout
        self._failing = False

    def _environ(self) -> Mapping[str, str]:
        return os.environ if self._env is None else self._env

    def available(self) -> bool:
        env = self._environ()
        return session_bus_address(env) is not None and self._binary(env) is not None

    @staticmethod
    def _binary(env: Mapping[str, str]) -> str | None:
        return shutil.which(NOTIFY_SEND, path=env.get("PATH", os.defpath))

    def send(self, summary: str, body: str = "", urgency: str = "normal") -> bool:
        """One notification; True when notify-send accepted it."""
        env = dict(self._environ())
        bus = session_bus_address(env)
        binary = self._binary(env)
        if bus is None or binary is None:
            return False
        env[BUS_ENV] = bus
        argv = [binary, "--app-name", APP_NAME, "--urgency", urgency, "--", summary]
        if body:
            argv.append(body)
        try:
            result = subprocess.run(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=self._timeout,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return self._failed(str(exc))
        if result.returncode != 0:
            return self._failed(result.stderr.decode(errors="replace").strip() or f"exit {result.returncode}")
        if self._failing:
            self._failing = False
            log.info("desktop_notify_recovered")
        return True

    def _failed(self, error: str) -> bool:
        if not self._failing:
            self._failing = True
            log.warning("desktop_notify_failed", error=error)
        return False

    def watched(self, item_title: str) -> bool:
        """After a watch: "Watched" with the title, plus how to rate it when rate_prompt is on."""
        if not (self._config.enabled or self._config.rate_prompt):
            return False
        body = item_title
        if self._config.rate_prompt:
            body += "\n" + RATE_HINT
        return self.send("Scrobbled to Trakt", body)

    def error(self, message: str) -> bool:
        """A problem the user should act on (e.g. "run scrobblerd auth")."""
        if not self._config.enabled:
            return False
        return self.send("scrobblerd", message, urgency="critical")


def notify_watched(item_title: str, config: NotifyConfig, env: Mapping[str, str] | None = None) -> bool:
    """Convenience for one-off callers; see DesktopNotifier.watched."""
    return DesktopNotifier(config, env).watched(item_title)


def notify_error(message: str, config: NotifyConfig, env: Mapping[str, str] | None = None) -> bool:
    return DesktopNotifier(config, env).error(message)
