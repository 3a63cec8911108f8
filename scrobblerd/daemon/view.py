"""What the running daemon shows and lets the page do: the web room's Provider, the health check
(also the systemd watchdog's) and the players' live state for the status report and file."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from scrobblerd.models import MediaRef
from scrobblerd.notify import alerts
from scrobblerd.players import registry
from scrobblerd.store import deliveries
from scrobblerd.trakt.auth import auth_status
from scrobblerd.web.provider import FixError, Gauges
from scrobblerd.web.status import build_status, describe_playing

if TYPE_CHECKING:
    from scrobblerd.daemon.lifecycle import Daemon

# How trakt/errors.py words Trakt's 423 (account locked) and 420 (account limit).
ACCOUNT_MARKERS = ("account is locked", "account hit a limit")
REAUTH_TEXT = "Trakt needs a new login: run `scrobblerd auth` (watches wait in the queue meanwhile)."
MEMO_SIZE = 64  # identifications remembered for display (a page polls every second)
MEMO_TTL = 60.0  # seconds; a correction clears the memo at once


class DaemonView:
    """Reads the daemon's parts at call time; every method may run on a web request thread."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon
        self._memo: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._memo_lock = threading.Lock()
        self.web_url: str | None = None

    # -- health --------------------------------------------------------------------------------
    def problems(self) -> list[str]:
        d = self._daemon
        found = []
        if not d.dispatcher.alive():
            found.append("the dispatcher thread is not running")
        if not d.services.delivery.alive():
            found.append("the delivery worker is not running")
        for name, watcher in sorted(d.watchers.items()):
            if not watcher.alive():
                found.append(f"the {name} watcher's supervisor is not running")
        return found

    # -- status --------------------------------------------------------------------------------
    def players(self) -> dict[str, Any]:
        """Per player name, each instance's connection and what it plays."""
        d = self._daemon
        sessions = d.dispatcher.sessions_snapshot()
        now = time.time()
        report: dict[str, Any] = {}
        for name in registry.names():
            watcher = d.watchers.get(name)
            instances: dict[str, Any] = {}
            for iid, st in watcher.status().items() if watcher else []:
                session = sessions.get(iid)
                playing = None
                if session is not None and session.media is not None and (session.viewing or session.playing):
                    what = self._describe(session.media)
                    playing = describe_playing(
                        what, session.progress(now), session.playing, session.media.path
                    )
                instances[iid] = {
                    "connected": st.connected,
                    "state": st.state,
                    "detail": st.detail,
                    "now_playing": playing,
                }
            report[name] = {"instances": instances}
        return report

    def daemon_info(self) -> dict[str, Any]:
        import os

        return {
            "running": True,
            "pid": os.getpid(),
            "started_at": self._daemon.started_at,
            "web": self.web_url,
        }

    def status(self) -> dict[str, Any]:
        d = self._daemon
        unsaved = d.services.delivery.unsaved.status()
        return build_status(d.config, d.services.store, self.players(), self.daemon_info(), unsaved)

    # -- the queue and history -----------------------------------------------------------------
    def queue(self) -> list[dict[str, Any]]:
        """Failed rows first: they are the ones that need the user."""
        found = deliveries.rows(self._daemon.services.store)
        return [r.to_json() for r in sorted(found, key=lambda r: r.status != deliveries.FAILED)]

    def history(self, limit: int) -> list[dict[str, Any]]:
        out = []
        for record in self._daemon.services.store.history(limit=limit):
            row = record.to_json()
            row["path"] = record.media.get("path")
            out.append(row)
        return out

    def retry(self, row_id: int) -> bool:
        changed = deliveries.retry(self._daemon.services.store, time.time(), row_id) > 0
        if changed:
            self._daemon.services.delivery.wake()
        return changed

    def drop(self, row_id: int) -> bool:
        return deliveries.drop(self._daemon.services.store, row_id)

    def fix(self, target: str, trakt: str) -> str:
        """The same correction as `identify --fix TARGET TRAKT`, then a delivery round at once."""
        from scrobblerd.errors import StoreError, TraktError
        from scrobblerd.identify import fixes
        from scrobblerd.trakt.client import TraktClient

        d = self._daemon
        rules = fixes.fixes_path(d.config.state_dir)
        try:
            with TraktClient(d.config.trakt) as client:  # its own session: this runs on a page thread
                done = fixes.apply_fix(
                    d.services.store, rules, target, trakt, client, config=d.config.identify
                )
        except fixes.FixError as exc:
            raise FixError(str(exc)) from None
        except (StoreError, TraktError) as exc:
            raise FixError(f"Trakt could not be asked ({exc}); try again") from None
        self.forget()
        d.services.delivery.wake()
        sent = f"; {len(done.redelivered)} watch(es) sent again" if done.redelivered else ""
        return f"Fixed: {done.path} is {fixes.describe_target(done.target)}{sent}."

    # -- metrics -------------------------------------------------------------------------------
    def gauges(self) -> Gauges:
        d = self._daemon
        store = d.services.store
        now = time.time()
        waiting = [r for r in deliveries.rows(store) if r.status != deliveries.FAILED]
        oldest = min((r.watched_at or r.created_at for r in waiting), default=now)
        players = {
            (name, iid): st.connected for name, w in d.watchers.items() for iid, st in w.status().items()
        }
        try:
            token = d.services.token_file.load()
        except Exception:  # a token file being replaced: no figure for this scrape
            token = None
        expiry = token.expires_at - now if token is not None else None
        return Gauges(deliveries.counts(store), max(0.0, now - oldest), players, expiry)

    # -- alerts --------------------------------------------------------------------------------
    def alert_facts(self) -> dict[str, str | None]:
        """What needs the user now, per alert condition (notify/alerts.py sends the changes)."""
        d = self._daemon
        now = time.time()
        delivery = d.services.delivery.status()
        rows = deliveries.rows(d.services.store)
        failed = [r for r in rows if r.status == deliveries.FAILED and r.kind == deliveries.WATCH]
        waiting = [r.watched_at or r.created_at for r in rows if r.status != deliveries.FAILED]
        waited = now - min(waiting, default=now)
        errors = [str(delivery.get("last_error") or ""), *(r.last_error or "" for r in failed)]
        account = next((e for e in errors if any(m in e for m in ACCOUNT_MARKERS)), None)
        reauth = delivery.get("paused_for_auth") or auth_status(d.config).get("needs_reauth")
        return {
            alerts.REAUTH: REAUTH_TEXT if reauth else None,
            alerts.FAILED: _failed_text(failed) if failed else None,
            alerts.QUEUE_AGE: (
                f"A watch has waited {waited / 3600:.1f} h to reach Trakt."
                if waited > d.config.alerts.queue_age
                else None
            ),
            alerts.ACCOUNT: f"Trakt refuses the account: {account}" if account else None,
        }

    # -- identification for display ------------------------------------------------------------
    def _describe(self, media: MediaRef) -> dict[str, Any]:
        """How `media` is identified now, without asking Trakt: a rule, a cached answer or its name."""
        key, now = media.key, time.monotonic()
        with self._memo_lock:
            hit = self._memo.get(key)
        if hit is not None and now - hit[0] < MEMO_TTL:
            return hit[1]
        from scrobblerd.identify.identifier import cache_key  # identification loads at its first use

        identifier = self._daemon.services.identifier
        found = identifier.identify(media, offline=True)
        what = found.to_json()
        if found.source != "override" and found.guess is not None:
            cached = self._daemon.services.store.cache_get(cache_key(found.guess))
            if cached and cached.get("items"):
                what.update(_item_fields(cached["items"][0]), source=cached.get("source"))
                what["reason"] = cached.get("reason")
        with self._memo_lock:
            self._memo[key] = (now, what)
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return what

    def forget(self) -> None:
        with self._memo_lock:
            self._memo.clear()


def _failed_text(failed: list[deliveries.QueueRow]) -> str:
    what = failed[0].item_json().get("title") or "a watch"
    more = f" and {len(failed) - 1} more" if len(failed) > 1 else ""
    return f"{what}{more} failed for good ({failed[0].last_error}); retry or fix it on the status page."


def _item_fields(item: dict[str, Any]) -> dict[str, Any]:
    if item.get("type") == "episode":
        show = item.get("show") or {}
        return {"type": "episode", "title": show.get("title"), "year": show.get("year"),
                "season": item.get("season"), "episode": item.get("number")}  # fmt: skip
    return {"type": "movie", "title": item.get("title"), "year": item.get("year"), "season": None,
            "episode": None}  # fmt: skip
