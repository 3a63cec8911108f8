"""VLC's Lua HTTP interface as a client: GET a JSON document, errors translated once."""

from __future__ import annotations

from typing import Any

import requests

from scrobblerd import deadline
from scrobblerd.errors import PlayerError
from scrobblerd.players import fields

STATUS_PATH = "/requests/status.json"
PLAYLIST_PATH = "/requests/playlist.json"
REQUEST_TIMEOUT = 2.0  # seconds for a whole request; VLC's Lua HTTP answers in ~25 ms


class VlcUnreachable(PlayerError):
    """Nothing answers at the URL (refused, timed out, reset)."""


class VlcUnauthorized(PlayerError):
    """VLC answered 401: the password is wrong."""


class VlcHttp:
    """GETs JSON documents from one VLC; a `requests.Session` kept open between polls."""

    def __init__(self, url: str, password: str) -> None:
        self.url = url.rstrip("/")
        self.requests_made = 0  # status.json and playlist.json requests, for benchmarks
        self._session = deadline.install(requests.Session())
        self._session.auth = ("", password)

    def close(self) -> None:
        self._session.close()

    def get(self, path: str) -> Any:
        self.requests_made += 1
        try:
            # The whole request within REQUEST_TIMEOUT (not per read), the body within the size limit.
            resp = deadline.request(
                self._session, "GET", self.url + path, total=REQUEST_TIMEOUT, max_bytes=fields.MAX_MESSAGE
            )
        except deadline.BodyTooLarge as exc:
            raise PlayerError(f"{path}: {exc}") from None
        except requests.RequestException as exc:
            raise VlcUnreachable(type(exc).__name__) from exc
        with resp:
            if resp.status_code == 401:  # VLC: wrong or missing password
                raise VlcUnauthorized("HTTP 401")
            if resp.status_code != 200:  # VLC: 404 everywhere when no password is set
                raise PlayerError(f"HTTP {resp.status_code} from {path}")
            try:
                return fields.loads(resp.content)
            except ValueError as exc:  # not JSON, too deep
                raise PlayerError(f"{path} is not usable JSON: {exc}") from None
