"""Alerts when scrobblerd needs you, through Apprise (ntfy, Gotify, Telegram, e-mail, ... one URL each).

Each condition is sent once when it starts and once when it clears, never repeated while it lasts.
Apprise is imported only when `alerts.urls` is set and the first alert is due. Deciding what to
send (`transitions`) is pure; `Alerter` keeps the state and does the sending.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog

log = structlog.get_logger()

TITLE = "scrobblerd"
# What the daemon reports, per condition: a sentence while it holds, None while it does not.
REAUTH, FAILED, QUEUE_AGE, ACCOUNT = "reauth", "failed", "queue_age", "account"
CONDITIONS = (REAUTH, FAILED, QUEUE_AGE, ACCOUNT)
CLEARED = {
    REAUTH: "Trakt login restored; waiting watches are being sent.",
    FAILED: "No failed watches left in the queue.",
    QUEUE_AGE: "The queue is moving again.",
    ACCOUNT: "The Trakt account accepts scrobbles again.",
}

Send = Callable[[str, str], bool]


@dataclass(frozen=True)
class Message:
    condition: str
    started: bool  # False: the condition cleared
    body: str


def transitions(
    active: Mapping[str, str], facts: Mapping[str, str | None]
) -> tuple[dict[str, str], list[Message]]:
    """The conditions that hold now, and a message for each that started or cleared."""
    now: dict[str, str] = {}
    out: list[Message] = []
    for condition in CONDITIONS:
        text = facts.get(condition)
        if text:
            now[condition] = text
            if condition not in active:
                out.append(Message(condition, True, text))
        elif condition in active:
            out.append(Message(condition, False, CLEARED[condition]))
    return now, out


class Alerter:
    def __init__(self, urls: Sequence[str], send: Send | None = None) -> None:
        self._urls = [str.__str__(u) for u in urls]
        self._send = send or self._apprise
        self._active: dict[str, str] = {}
        self._failing = False

    @property
    def enabled(self) -> bool:
        return bool(self._urls)

    def update(self, facts: Mapping[str, str | None]) -> list[Message]:
        """Send what started or cleared since the last update; returns those messages."""
        if not self._urls:
            return []
        _, messages = transitions(self._active, facts)
        for message in messages:
            body = message.body if message.started else f"Resolved: {message.body}"
            log.info("alert", condition=message.condition, started=message.started)
            if not self._send(TITLE, body):
                continue  # not recorded: tried again at the next update
            if message.started:
                self._active[message.condition] = message.body
            else:
                self._active.pop(message.condition, None)
        return messages

    def _apprise(self, title: str, body: str) -> bool:
        """One notification to every URL; a failure is logged once until one succeeds again."""
        import apprise

        sender = apprise.Apprise()
        for url in self._urls:
            sender.add(url)
        ok = bool(sender.notify(title=title, body=body))
        if not ok and not self._failing:
            log.warning("alert_failed", services=len(self._urls))
        self._failing = not ok
        return ok
