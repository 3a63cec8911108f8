"""Live viewings on disk: the state of each player's viewing, saved at every transition, so a
daemon that was killed and restarted carries the viewing on instead of starting a new one (which
would be taken for a preview when it opens past the threshold)."""

from __future__ import annotations

import json
from typing import Any

from scrobblerd.store.db import Store

MAX_AGE = 86400.0  # seconds; an older saved viewing is not carried on


class SessionBook:
    """Saved viewings, one per player."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(self, player: str, media_key: str, state: dict[str, Any], now: float) -> None:
        with self.store.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO live_sessions (player, media_key, state, saved_at) "
                "VALUES (?, ?, ?, ?)",
                (player, media_key, json.dumps(state, sort_keys=True), now),
            )

    def forget(self, player: str) -> None:
        with self.store.write() as conn:
            conn.execute("DELETE FROM live_sessions WHERE player = ?", (player,))

    def load(self, player: str, media_key: str, now: float) -> dict[str, Any] | None:
        """The saved viewing of `player` on `media_key`, if there is a fresh one."""
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT media_key, state, saved_at FROM live_sessions WHERE player = ?", (player,)
            ).fetchone()
        if row is None or row["media_key"] != media_key or now - row["saved_at"] > MAX_AGE:
            return None
        try:
            state = json.loads(row["state"])
        except ValueError:
            return None
        return state if isinstance(state, dict) else None
