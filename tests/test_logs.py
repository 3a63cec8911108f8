"""Logging: configured only when asked, secrets never rendered."""

from __future__ import annotations

import io
import json
import logging

import structlog

from scrobblerd import logs


def capture(fmt: str = "json", level: str = "debug") -> io.StringIO:
    out = io.StringIO()
    logs.configure(level=level, fmt=fmt, stream=out)
    return out


def test_secret_keys_are_masked_anywhere() -> None:
    out = capture()
    structlog.get_logger().info(
        "token_saved",
        access_token="AAAsecretAAA",
        nested={"refresh_token": "RRRsecretRRR", "ok": 1},
        headers={"Authorization": "Bearer BBBsecretBBB"},
        listing=[{"password": "PPPsecretPPP"}],
    )
    text = out.getvalue()
    for secret in ("AAAsecretAAA", "RRRsecretRRR", "BBBsecretBBB", "PPPsecretPPP"):
        assert secret not in text
    record = json.loads(text)
    assert record["event"] == "token_saved"
    assert record["nested"]["ok"] == 1


def test_secrets_inside_free_text_and_stdlib_records_are_masked() -> None:
    out = capture()
    logging.getLogger("urllib3.connectionpool").debug(
        'send: b\'POST /oauth/token {"refresh_token": "R1R1R1", "client_secret": "C2C2C2"}\' '
        "Authorization: Bearer T3T3T3"
    )
    structlog.get_logger().warning("http_failed", error="401 for url?access_token=Q4Q4Q4&x=1")
    text = out.getvalue()
    for secret in ("R1R1R1", "C2C2C2", "T3T3T3", "Q4Q4Q4"):
        assert secret not in text
    assert "POST /oauth/token" in text


def test_level_filters() -> None:
    out = capture(level="warning")
    structlog.get_logger().info("chatty")
    structlog.get_logger().warning("important")
    assert "chatty" not in out.getvalue()
    assert "important" in out.getvalue()


def test_debug_keeps_library_chatter_but_not_guessits_matcher() -> None:
    out = capture(level="debug")
    logging.getLogger("urllib3.connectionpool").debug("Starting new HTTPS connection")
    logging.getLogger("rebulk.processors").debug("Checking rule condition: <RemoveWeak>")
    structlog.get_logger().debug("ours")
    text = out.getvalue()
    assert "Starting new HTTPS connection" in text and "ours" in text
    assert "Checking rule condition" not in text


def test_logfmt_and_console_render() -> None:
    out = capture(fmt="logfmt", level="info")
    structlog.get_logger().info("player_found", player="mpv:/tmp/mpvsocket")
    assert "event=player_found" in out.getvalue()
    out = capture(fmt="console", level="info")
    structlog.get_logger().info("player_found", player="mpv:/tmp/mpvsocket")
    assert "player_found" in out.getvalue()


def test_auto_picks_logfmt_under_journald(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    out = capture(fmt="auto", level="info")
    structlog.get_logger().info("hello", a=1)
    assert "event=hello" in out.getvalue()
