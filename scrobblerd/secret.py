"""A string that never shows itself: secrets in the config (client_secret, player passwords) are
`Secret`s, so a repr, a log line or a debug dump of a config prints `'***'`, never the value."""

from __future__ import annotations


class Secret(str):
    """A str for every use (requests, JSON bodies), masked wherever it is *shown*."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'" if self else "''"

    def __str__(self) -> str:
        return self.reveal()

    def reveal(self) -> str:
        """The value itself, for the one place that sends it."""
        return str.__str__(self)
