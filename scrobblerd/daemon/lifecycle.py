"""The composition root: the one room that wires store, Trakt client, identification, delivery,
the dispatcher, the scheduler and the watchers, starts them in dependency order and stops them in
reverse. Only this module knows the scheduler."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from scrobblerd import logs
from scrobblerd.config.loader import load_config
from scrobblerd.config.settings import Config
from scrobblerd.daemon import sdnotify
from scrobblerd.daemon.guards import Parts, guarded
from scrobblerd.daemon.mainwait import MainWait
from scrobblerd.daemon.statusfile import WAKE_SIGNAL, StatusFile
from scrobblerd.daemon.view import DaemonView
from scrobblerd.errors import ConfigError
from scrobblerd.models import PlayerEvent, ScrobbleAction, SeekCommand
from scrobblerd.notify.alerts import Alerter
from scrobblerd.notify.desktop import DesktopNotifier
from scrobblerd.playback import machine as state
from scrobblerd.playback.dispatcher import Dispatcher
from scrobblerd.players import registry
from scrobblerd.players.base import Watcher
from scrobblerd.store.modes import warn_mode_problems
from scrobblerd.store.sessions import SessionBook
from scrobblerd.web.status import players_report

log = structlog.get_logger()

STOP_DEADLINE = 10.0  # seconds; well inside systemd's default TimeoutStopSec=90, so it never kills us
DELIVERY_INTERVAL = 30.0  # seconds between scheduled delivery rounds (submits also wake the worker)
TOKEN_CHECK_INTERVAL = 600.0  # seconds; tokens live about a day, refresh is due well before expiry
CACHE_UPKEEP_INTERVAL = 3600.0
# Seconds between looks at the threads (a stopped dispatcher, delivery or resume thread is
# restarted) and at the status; the file is rewritten only when something changed (or every
# statusfile.REFRESH seconds), so `status` is at most this stale when the page is off.
LOOK_INTERVAL = 3.0
ALERT_INTERVAL = 30.0  # seconds between looks at what may need an alert (only with alerts.urls)
# The main thread's longest sleep: signals and request_stop wake it at once; this only guards a
# wake-up that could be lost.
MAIN_WAIT = 60.0  # seconds


class Daemon:
    def __init__(self, config: Config, config_path: str | Path | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self._stop = threading.Event()
        self._reload = False  # set by the SIGHUP handler: a plain flag, no lock a handler could wait on
        self._main_wait: MainWait | None = None  # while run() runs
        self._parts = Parts()
        self.watchers: dict[str, Watcher] = {}
        self._watchdog_every = sdnotify.watchdog_interval()
        self._last_watchdog = 0.0
        self.started_at = time.time()

    # -- lifecycle -------------------------------------------------------------------------
    def run(self) -> int:
        main_wait = self._main_wait = MainWait()
        self._install_signals()
        main_wait.catch_signals()
        try:
            self._start()
            sdnotify.ready(self._status_line())
            release_freed_memory()
            log.info("daemon_ready", players=sorted(self.watchers), state_dir=str(self.config.state_dir))
            self.services.announce_missing_login()
            while not self._stop.is_set():
                main_wait.wait(MAIN_WAIT)
                if self._reload:
                    self._reload = False
                    self.reload()
        finally:
            sdnotify.stopping()
            log.info("daemon_stopping")
            self._graceful_stop()
            main_wait.close()
            log.info("daemon_stopped")
        return 0

    def request_stop(self) -> None:
        self._stop.set()
        if self._main_wait is not None:
            self._main_wait.nudge()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal_received", signal=signal.Signals(signum).name)
            self._stop.set()

        def on_hup(_signum: int, _frame: FrameType | None) -> None:
            self._reload = True

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)
        signal.signal(WAKE_SIGNAL, self._on_wake)

    def _on_wake(self, _signum: int, _frame: FrameType | None) -> None:
        """Another process changed the queue (`queue retry`, `drop`, `identify --fix`): look now."""
        services = getattr(self, "services", None)
        if services is not None:
            services.delivery.resume()

    def _start(self) -> None:
        from scrobblerd.daemon.services import Services

        config = self.config
        warn_mode_problems(config.source, config.state_dir)
        self.services = Services.open(config)
        self._parts.push_part("services", self.services.close)
        self.status_file = StatusFile(config.state_dir)
        self._parts.push_part("final_status", lambda: self._write_status(running=False))

        self.view = DaemonView(self)
        self.alerter = Alerter(config.alerts.urls)
        self.notifier = DesktopNotifier(config.notify)
        self.commands = registry.build_commands(config.players)
        self.resumer = self.services.resumer(config, self._to_dispatcher, self._seek, self._on_resumed)
        self.dispatcher = Dispatcher(
            state.Rules.from_config(config.scrobble, config.resume),
            self._deliver,
            count_parts=self.services.count_parts,
            on_watched=self._on_watched,
            on_resume=self.resumer.submit if self.resumer is not None else None,
            heartbeat=self._heartbeat,
            heartbeat_every=self._watchdog_every / 4 if self._watchdog_every else None,
            saved=SessionBook(self.services.store),
        )
        # Runs after delivery's last round: one more try for watches the database refused.
        self._parts.push_part("unsaved_watches", self.services.delivery.unsaved.close)
        self.services.delivery.start()
        self._parts.push_part("delivery", lambda: self.services.delivery.stop(STOP_DEADLINE / 2))
        if self.resumer is not None:
            self.resumer.start()
            self._parts.push_part("resume", self.resumer.stop)
        self.dispatcher.start()
        self._parts.push_part("dispatcher", lambda: self.dispatcher.stop(STOP_DEADLINE / 3))

        # Jobs are short; one worker thread keeps the idle daemon small (APScheduler's default is 10).
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        )
        self._add_jobs()
        self.scheduler.start()
        self._parts.push_part("scheduler", lambda: self.scheduler.shutdown(wait=False))

        self.watchers = registry.build_watchers(config.players)
        for watcher in self.watchers.values():
            watcher.start(self.dispatcher.submit)
        self._parts.push_part("watchers", self._stop_watchers)
        self._start_web()
        self._write_status()

    def _start_web(self) -> None:
        """The page is optional: a port in use is logged once and the daemon runs without it."""
        web = self.config.web
        if not web.enabled:
            return
        from scrobblerd.web.server import WebServer  # http.server only when the page is on

        host, port = web.address()
        server = WebServer(host, port, web.token.reveal(), self.view)
        if server.start():
            self.view.web_url = server.url
            self._parts.push_part("web", server.stop)

    def _graceful_stop(self) -> None:
        """Reverse order: watchers, scheduler, dispatcher (closes open viewings into the queue),
        delivery (one last round within the deadline), services."""
        self._parts.close()

    def _stop_watchers(self) -> None:
        for watcher in self.watchers.values():
            watcher.stop(2.0)

    # -- scheduled jobs ------------------------------------------------------------------------
    def _add_jobs(self) -> None:
        jobs: list[tuple[str, Callable[[], Any], float]] = [
            ("delivery", self.services.delivery.wake, DELIVERY_INTERVAL),
            ("token_refresh", self.services.refresh_token_if_due, TOKEN_CHECK_INTERVAL),
            ("cache_upkeep", self._upkeep, CACHE_UPKEEP_INTERVAL),
            # One wake-up does both: an idle daemon pays for one job every few seconds, not two.
            ("look", self._look, LOOK_INTERVAL),
        ]
        if self.alerter.enabled:
            jobs.append(("alerts", lambda: self.alerter.update(self.view.alert_facts()), ALERT_INTERVAL))
        for name, func, every in jobs:
            # A trigger object, not the name "interval": naming it makes APScheduler scan every
            # installed package's entry points, which costs memory for nothing.
            trigger = IntervalTrigger(seconds=every, timezone="UTC")
            # Alerts look at once too: what needs the user at start-up should not wait 30 s.
            first = {"next_run_time": datetime.now(UTC)} if name == "alerts" else {}
            self.scheduler.add_job(guarded(name, func), trigger, id=name, name=name, **first)

    def _upkeep(self) -> None:
        self.services.cache_upkeep()
        release_freed_memory()

    def _look(self) -> None:
        """The periodic look: restart what stopped, then the status (each guarded on its own)."""
        guarded("supervise", self._supervise)()
        guarded("status", self._write_status)()

    def _supervise(self) -> None:
        """The dispatcher and delivery threads never die for good: restart whichever stopped.
        Also notices a new login written by `scrobblerd auth`."""
        self.services.notice_new_login()
        if not self._stop.is_set() and not self.dispatcher.alive():
            log.error("dispatcher_restarted")
            self.dispatcher.start()
        if not self._stop.is_set() and not self.services.delivery.alive():
            log.error("delivery_restarted")
            self.services.delivery.start()
        if not self._stop.is_set() and self.resumer is not None and not self.resumer.alive():
            log.error("resume_restarted")
            self.resumer.start()

    def _heartbeat(self) -> None:
        """The systemd watchdog is fed only while /healthz would say healthy."""
        if self._watchdog_every is None:
            return
        now = time.monotonic()
        if now - self._last_watchdog >= self._watchdog_every / 2 and not self.view.problems():
            self._last_watchdog = now
            sdnotify.watchdog()

    def _deliver(self, action: ScrobbleAction) -> None:
        self.services.delivery.submit(action)
        if self.resumer is not None:
            self.resumer.note(action)

    def _to_dispatcher(self, event: PlayerEvent) -> None:
        self.dispatcher.submit(event)

    def _seek(self, command: SeekCommand) -> None:
        registry.seek(self.commands, command.player, command.position)

    def _on_resumed(self, command: SeekCommand) -> None:
        """A desktop notification for a resumed item, when enabled, off the resume thread."""
        if not self.config.notify.enabled:
            return
        title = command.media.title or (command.media.path or "").rsplit("/", 1)[-1]
        text = f"{title} at {command.progress:.0f} %"
        threading.Thread(
            target=self.notifier.send, args=("Resumed", text), name="notify", daemon=True
        ).start()

    def _on_watched(self, action: ScrobbleAction) -> None:
        """A desktop notification, when enabled, off the dispatcher thread (notify-send may take a
        moment, and the dispatcher must never wait on it)."""
        if not (self.config.notify.enabled or self.config.notify.rate_prompt):
            return
        title = action.media.title or (action.media.path or "").rsplit("/", 1)[-1]
        threading.Thread(target=self.notifier.watched, args=(title,), name="notify", daemon=True).start()

    # -- status ------------------------------------------------------------------------------
    def players_status(self) -> dict[str, Any]:
        return players_report(self.config, self.view.players())

    def _status_line(self) -> str:
        players = self.players_status()
        connected = [n for n, p in players.items() if p["connected"]]
        depth = self.services.queue_depth()
        return f"players connected: {', '.join(connected) or 'none'}; queue: {depth}"

    def _write_status(self, running: bool = True) -> None:
        changed = self.status_file.write(
            {
                "pid": os.getpid() if running else None,
                "running": running,
                "started_at": self.started_at,
                "players": self.players_status(),
                "web": self.view.web_url,
                "delivery": self.services.delivery.status(),
                "dispatcher": {"processed": self.dispatcher.processed, "errors": self.dispatcher.errors},
            },
            force=not running,
        )
        if running and changed:
            sdnotify.status(self._status_line())

    # -- reload ------------------------------------------------------------------------------
    def reload(self) -> bool:
        """SIGHUP: validate the new config first; a bad one is refused and the old one kept."""
        sdnotify.reloading()
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload_refused", problems=exc.problems)
            sdnotify.ready(self._status_line())
            return False
        old = self.config
        self.config = new
        if new.log != old.log:
            logs.configure(new.log.level, new.log.format)
        self.dispatcher.set_rules(state.Rules.from_config(new.scrobble, old.resume))
        if new.players != old.players:
            self.commands = registry.build_commands(new.players)
            self._stop_watchers()
            self.watchers = registry.build_watchers(new.players)
            for watcher in self.watchers.values():
                watcher.start(self.dispatcher.submit)
        later = ("trakt", "state_dir", "identify", "resume", "web", "alerts")
        if any(getattr(new, key) != getattr(old, key) for key in later):
            log.warning("reload_partial", hint=f"{', '.join(later)} changes take effect on restart")
        log.info("config_reloaded", source=str(new.source))
        sdnotify.ready(self._status_line())
        return True


def release_freed_memory() -> None:
    """Hand heap pages freed during start-up (config parsing, imports) back to the OS, so an idle
    daemon stays small. glibc only; elsewhere a no-op."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
