"""The validated configuration: frozen dataclasses with every key and its default.

`config.py` turns YAML into these; everything else receives them. Secrets are masked in repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any

import platformdirs

from scrobblerd.players.registry import PLAYERS
from scrobblerd.secret import Secret

# The app's own credentials, from the Trakt API v2 document's header (users may override them).
DEFAULT_CLIENT_ID = "77c46c77cc7ace17e9de3d862298c25e63ede51eedcfd503582bc81b40c74132"
DEFAULT_CLIENT_SECRET = "68a8042262ed186b27eca0de60257101ca2e3b7eb027ed8aa11052d8d9d6758b"  # noqa: S105 - public, from the API document
DEFAULT_API_URL = "https://api.trakt.tv"
DEFAULT_AUTH_URL = "https://auth.trakt.tv"  # Trakt (2026): every OAuth request goes to this host


def default_state_dir() -> Path:
    return Path(platformdirs.user_state_dir("scrobblerd"))


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir("scrobblerd")) / "config.yaml"


@dataclass(frozen=True)
class TraktConfig:
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: Secret = Secret(DEFAULT_CLIENT_SECRET)
    api_url: str = DEFAULT_API_URL
    auth_url: str = DEFAULT_AUTH_URL
    timeout: float = 10.0


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"  # debug | info | warning | error
    format: str = "auto"  # auto | console | json | logfmt


@dataclass(frozen=True)
class ScrobbleConfig:
    threshold: float = 80.0  # percent, 80..100
    min_duration: float = 300.0  # seconds; shorter media is never scrobbled
    preview_time: float = 60.0  # seconds a file opened past the threshold must play to count
    pause_timeout: float = 3600.0  # seconds paused after which a viewing ends (counts if past threshold)


def _players_section() -> Any:
    """`players.<name>` for every player in the registry, each with its own section's defaults."""
    fields = [(spec.name, spec.settings, field(default_factory=spec.settings)) for spec in PLAYERS]
    section = make_dataclass("PlayersConfig", fields, frozen=True)
    section.__module__ = __name__
    return section


PlayersConfig: Any = _players_section()


@dataclass(frozen=True)
class OverrideRule:
    """A user's correction: files whose path matches `path` (a regex) or whose parsed title equals
    `title` (case-insensitive) are the given Trakt item. `type` is "movie" or "show"; for shows the
    parsed season/episode are shifted by the offsets (or the season forced with `season`)."""

    type: str = "movie"
    path: str | None = None
    title: str | None = None
    trakt: int | None = None
    slug: str | None = None
    imdb: str | None = None
    tmdb: int | None = None
    tvdb: int | None = None
    season: int | None = None
    season_offset: int = 0
    episode_offset: int = 0
    line: int = 0  # where the rule stands in the config file, for `identify` to explain itself


@dataclass(frozen=True)
class IdentifyConfig:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    overrides: tuple[OverrideRule, ...] = ()
    cache_ttl: float = 30 * 86400.0  # seconds a resolved match is reused
    negative_ttl: float = 3600.0  # seconds an "unknown" answer is reused


@dataclass(frozen=True)
class NotifyConfig:
    enabled: bool = False  # desktop notifications on scrobbles and errors (needs a session bus)
    rate_prompt: bool = False  # after a watch, a notification saying how to rate it


LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def split_listen(value: str) -> tuple[str, int] | None:
    """`host:port` (`[::1]:8787` for IPv6) as (host, port), or None when it is not one."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = True  # the local status page, /api/status, /healthz and /metrics
    listen: str = "127.0.0.1:8787"  # host:port; anything but loopback requires `token`
    token: Secret = Secret("")  # bearer token for every request when set

    def address(self) -> tuple[str, int]:
        found = split_listen(self.listen)
        assert found is not None, "validated by the config loader"
        return found


@dataclass(frozen=True)
class AlertsConfig:
    urls: tuple[Secret, ...] = ()  # Apprise URLs; they often carry credentials, so they are Secrets
    queue_age: float = 21600.0  # seconds a watch may wait in the queue before an alert


@dataclass(frozen=True)
class ResumeConfig:
    enabled: bool = False  # seek a player that starts an item from the beginning to its saved point
    min_progress: float = 2.0  # percent; points outside [min_progress, max_progress] are ignored
    max_progress: float | None = None  # percent; None means scrobble.threshold


@dataclass(frozen=True)
class Config:
    trakt: TraktConfig = field(default_factory=TraktConfig)
    state_dir: Path = field(default_factory=default_state_dir)
    log: LogConfig = field(default_factory=LogConfig)
    scrobble: ScrobbleConfig = field(default_factory=ScrobbleConfig)
    players: PlayersConfig = field(default_factory=PlayersConfig)
    identify: IdentifyConfig = field(default_factory=IdentifyConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    resume: ResumeConfig = field(default_factory=ResumeConfig)
    web: WebConfig = field(default_factory=WebConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    source: Path | None = None  # the file this came from; None for built-in defaults
