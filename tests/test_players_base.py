"""The shared watcher pieces: presence logging on transitions only, and the capped backoff."""

from __future__ import annotations

import structlog

from scrobblerd.players.base import Presence, backoff_delays


def test_presence_logs_each_transition_once_and_repeats_never() -> None:
    with structlog.testing.capture_logs() as logs:
        p = Presence(structlog.get_logger(), "kodi:h:1")
        assert p.lost("refused") is True  # never tried before: the first failure is news
        assert p.lost("refused") is False
        assert p.found(via="tcp") is True
        assert p.found(via="tcp") is False
        assert p.found(via="http") is True  # reached another way: news again
        assert p.lost("gone") is True
    assert [(e["event"], e.get("transport"), e.get("reason")) for e in logs] == [
        ("player_lost", None, "refused"),
        ("player_found", "tcp", None),
        ("player_found", "http", None),
        ("player_lost", None, "gone"),
    ]


def test_presence_that_starts_unknown_stays_quiet_until_first_seen() -> None:
    with structlog.testing.capture_logs() as logs:
        p = Presence(structlog.get_logger(), "vlc:x", known=False)
        assert p.lost("refused") is False
        assert p.found() is True
        assert p.found_now
    assert [e["event"] for e in logs] == ["player_found"]


def test_backoff_doubles_up_to_its_cap() -> None:
    delay = backoff_delays(0.5, 5.0)
    assert [delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
