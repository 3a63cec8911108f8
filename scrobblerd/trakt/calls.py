"""What the parts of TraktClient (lookup, oauth, playback) may use of its transport: the one
declaration of it, so each part type-checks on its own. The transport itself is in client.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

    from scrobblerd.config.settings import TraktConfig


class ClientPart:
    """A group of endpoints mixed into TraktClient."""

    if TYPE_CHECKING:
        _config: TraktConfig
        _auth_base: str

        def _json(self, method: str, path: str, what: str, **kw: Any) -> Any: ...

        def _call(
            self,
            method: str,
            path: str,
            what: str,
            *,
            oauth: bool = True,
            accept: tuple[int, ...] = (),
            **kw: Any,
        ) -> requests.Response: ...

        def _send(
            self, method: str, path: str, what: str, token: str | None, base: str | None = None, **kw: Any
        ) -> requests.Response: ...
