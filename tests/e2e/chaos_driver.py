"""Chaos run: many short viewings in a real player (mpv, VLC or Kodi: see chaos_players.py) while
the real daemon is SIGKILLed and restarted at random moments, the player is killed now and then,
and the Trakt-like server injects random faults, slow answers and outages. Seeded, bounded in
time, loopback only.

Every viewing is a distinct movie (one short video under a release name, or in Kodi's library
with its own ids), so each watch in the server's history names exactly one viewing. The expected
outcome of each viewing is known in advance: ended, stopped or killed at >= the threshold is a
watch; below it is none.

A viewing's end is only knowable to a daemon that is running when it happens, so the daemon is
killed mid-viewing (and restarted before the viewing goes on) or after the watch was committed
(`watch_queued`, possibly while it is being sent), never in the milliseconds between.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.chaos_players import ChaosPlayer
from tests.e2e.conftest import authorise, daemon_config
from tests.e2e.harness import DaemonProcess, rss_kib
from tests.trakt_server import FakeTrakt

ADJECTIVES = "Silent Golden Hidden Broken Distant Quiet Crimson Frozen Wandering Hollow Bright Velvet"
ADJECTIVES += " Restless Lonely Painted"
NOUNS = "River Mountain Garden Harbor Window Letter Island Forest Bridge Station Orchard Lantern Meadow"
NOUNS += " Compass Canyon"
TITLES = [f"{a} {n}" for a, n in itertools.product(ADJECTIVES.split(), NOUNS.split())]
FIRST_ID = 700_000
FIRST_TMDB = 900_000
VIDEO_SECONDS = 40
# Seconds between the real end and what Trakt records, on every path: /sync/history carries our
# watched_at, and a /scrobble/stop (stamped by Trakt at its arrival) goes out only within the
# daemon's 5 s stop window. No extra allowance for either route.
WATCHED_AT_LIMIT = 5.0
# Slow answers stay under the client's timeout (3 s). A stop that reaches Trakt but whose answer
# never comes is retried later through /sync/history, which Trakt does not deduplicate: see
# test_e2e_mpv.py::test_a_stop_trakt_recorded_but_never_answered_is_not_doubled_later.
SLOW_MAX = 2.5
KINDS = (  # (kind, weight): how a viewing ends
    ("end", 4),  # seek to 98 % and let it end
    ("stop", 2),  # stop at ~90 %
    ("kill", 1),  # kill -9 the player at ~90 %
    ("below_stop", 2),  # stop between 55 and 75 %
    ("below_kill", 1),  # kill -9 the player between 55 and 75 %
)
DAEMON_KILL = (("none", 6), ("mid", 2), ("after", 2))  # when the daemon is SIGKILLed


@dataclass
class Viewing:
    index: int
    title: str
    year: int
    trakt_id: int
    path: Path
    kind: str
    daemon_kill: str
    expected: bool
    ended_at: float | None = None


@dataclass
class ChaosResult:
    player: str
    viewings: list[Viewing]
    history: list[dict[str, Any]]
    daemon_kills: int = 0
    player_kills: int = 0
    outages: int = 0
    rss_kib: list[int] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    worst_off: float = 0.0  # the largest |watched_at - real end| seen, in seconds
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        watched = sum(v.expected for v in self.viewings)
        peak = max(self.rss_kib, default=0) / 1024
        return (
            f"chaos {self.player}: {len(self.viewings)} viewings ({watched} past the threshold, "
            f"{len(self.viewings) - watched} below) in {self.seconds:.0f} s; daemon SIGKILLed "
            f"{self.daemon_kills}x, player killed {self.player_kills}x, {self.outages} outages, "
            f"{self.requests} requests to Trakt; "
            f"history {len(self.history)} entries, watched_at at most {self.worst_off:.1f} s off; "
            f"daemon RSS peak {peak:.1f} MiB over {len(self.rss_kib)} samples; problems: {len(self.problems)}"
        )


def weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in table], [w for _, w in table])[0]


def plan(n: int, rng: random.Random, player: ChaosPlayer) -> list[Viewing]:
    viewings = []
    for i in range(n):
        title = TITLES[i % len(TITLES)]
        year = 1950 + i % 70
        path = player.media(title, year, FIRST_TMDB + i)
        kind = weighted(rng, KINDS)
        viewings.append(
            Viewing(
                i,
                title,
                year,
                FIRST_ID + i,
                path,
                kind,
                weighted(rng, DAEMON_KILL),
                not kind.startswith("below"),
            )
        )
    cover(viewings, rng)
    return viewings


def cover(viewings: list[Viewing], rng: random.Random) -> None:
    """A small run still has every way to end and every daemon kill at least once: a missing one
    takes the place of a viewing whose own kind occurs more than once."""
    for attr, table in (("kind", KINDS), ("daemon_kill", DAEMON_KILL)):
        for name, _ in table:
            counts = Counter(getattr(v, attr) for v in viewings)
            spare = [v for v in viewings if counts[getattr(v, attr)] > 1]
            if counts[name] == 0 and spare:
                setattr(rng.choice(spare), attr, name)
    for v in viewings:
        v.expected = not v.kind.startswith("below")


class RssSampler:
    """Samples the current daemon's VmRSS every `every` seconds on a thread."""

    def __init__(self, current: Callable[[], int | None], every: float = 0.5) -> None:
        self.samples: list[int] = []
        self._current, self._every = current, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            pid = self._current()
            value = rss_kib(pid) if pid else None
            if value:
                self.samples.append(value)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class Chaos:
    def __init__(self, trakt: FakeTrakt, workdir: Path, player: ChaosPlayer, seed: int) -> None:
        self.trakt, self.workdir, self.player = trakt, workdir, player
        self.rng = random.Random(seed)
        authorise(trakt, workdir / "state")
        self.config: Path | None = None  # written once the player is up (its address is known)
        self.daemon: DaemonProcess | None = None
        self.old: list[DaemonProcess] = []
        self.result = ChaosResult(player.name, [], [])
        self.outage_left = 0

    # -- processes -------------------------------------------------------------------------------
    def start_daemon(self) -> DaemonProcess:
        assert self.config is not None
        daemon = DaemonProcess(self.config)
        self.daemon = daemon
        if daemon.wait_event("daemon_ready", 30) is None:
            raise RuntimeError("daemon did not start:\n" + daemon.log_text()[-3000:])
        if daemon.wait_event("player_found", 15) is None:
            raise RuntimeError(f"daemon did not find {self.player.name}:\n" + daemon.log_text()[-3000:])
        return daemon

    def kill_daemon(self) -> None:
        assert self.daemon is not None
        self.daemon.kill()
        self.old.append(self.daemon)
        self.result.daemon_kills += 1
        self.start_daemon()

    def close(self) -> None:
        self.player.close()
        for daemon in [*self.old, *([self.daemon] if self.daemon else [])]:
            daemon.kill()

    def daemon_pid(self) -> int | None:
        daemon = self.daemon
        return daemon.proc.pid if daemon is not None and daemon.proc.poll() is None else None

    # -- waiting on the daemon's log ---------------------------------------------------------------
    def wait_decided(self, action: str, path: Path, timeout: float = 15.0, **fields: Any) -> int:
        """Index in the current daemon's log of a scrobble_decided for this file."""
        daemon = self.daemon
        assert daemon is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, record in enumerate(list(daemon.lines)):
                if (
                    record.get("event") == "scrobble_decided"
                    and record.get("action") == action
                    and record.get("media") == str(path)
                    and all(check(record.get(k)) for k, check in fields.items())
                ):
                    return i
            time.sleep(0.02)
        raise TimeoutError(f"no {action} decided for {path.name}:\n" + daemon.log_text()[-4000:])

    def wait_carried_on(self, path: Path, timeout: float = 15.0) -> None:
        """The restarted daemon took up the viewing: restored from what the killed one saved (or,
        when the kill came before anything was saved, a new start)."""
        daemon = self.daemon
        assert daemon is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in list(daemon.lines):
                if record.get("event") == "session_restored" or (
                    record.get("event") == "scrobble_decided"
                    and record.get("action") == "start"
                    and record.get("media") == str(path)
                ):
                    return
            time.sleep(0.02)
        raise TimeoutError(f"the viewing of {path.name} was not carried on:\n" + daemon.log_text()[-4000:])

    def wait_queued_after(self, index: int, timeout: float = 10.0) -> None:
        daemon = self.daemon
        assert daemon is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(r.get("event") == "watch_queued" for r in list(daemon.lines)[index:]):
                return
            time.sleep(0.01)
        raise TimeoutError("watch never committed:\n" + daemon.log_text()[-4000:])

    # -- one viewing ---------------------------------------------------------------------------------
    def faults(self, index: int, n: int) -> None:
        """Before each viewing: maybe start or end an outage (at least one per run, by a third of
        the way in); now and then a slow answer."""
        if self.outage_left > 0:
            self.outage_left -= 1
            if self.outage_left == 0:
                self.trakt.set_outage(False)
        elif self.rng.random() < 0.08 or (self.result.outages == 0 and index >= n // 3):
            self.outage_left = self.rng.randint(1, 3)
            self.result.outages += 1
            self.trakt.set_outage(True, status=self.rng.choice((503, 520)))
        if self.rng.random() < 0.2:
            path = self.rng.choice(("/scrobble/stop", "/sync/history"))
            self.trakt.delay_next(1, self.rng.uniform(0.3, SLOW_MAX), paths=path)

    def view(self, v: Viewing) -> None:
        player = self.player
        player.open(v.path, self.rng.randint(35, 50))
        self.wait_decided("start", v.path)
        if v.daemon_kill == "mid":
            self.kill_daemon()  # the new one attaches to the playing player and carries the viewing on
            self.wait_carried_on(v.path)
        if v.kind == "end":
            v.ended_at = player.play_to_end()
        else:
            target = self.rng.uniform(89, 93) if v.expected else self.rng.uniform(55, 75)
            landed = player.seek(target)
            self.wait_decided("start", v.path, progress=near(landed))
            time.sleep(self.rng.uniform(0, 0.4))
            if v.kind.endswith("kill"):
                v.ended_at = player.kill()  # and a fresh one started
                self.result.player_kills += 1
            else:
                v.ended_at = player.stop()
        if v.expected:
            index = self.wait_decided("stop", v.path, watched=lambda w: w is True)
            self.wait_queued_after(index)
        else:
            self.wait_decided("pause", v.path, timeout=10)
        if v.daemon_kill == "after":
            time.sleep(self.rng.uniform(0, 1.0))  # often while the watch is on its way to Trakt
            self.kill_daemon()

    # -- the whole run ---------------------------------------------------------------------------------
    def run(self, n: int) -> ChaosResult:
        began = time.monotonic()
        viewings = plan(n, self.rng, self.player)
        for v, path in zip(viewings, self.player.prepare([v.path for v in viewings]), strict=True):
            v.path = path
            self.trakt.add_movie(v.title, v.year, {"trakt": v.trakt_id, "tmdb": FIRST_TMDB + v.index})
        self.result.viewings = viewings
        self.trakt.random_faults(0.12, seed=self.rng.randint(0, 2**31), statuses=(429, 500, 502, 503, 520))
        self.config = daemon_config(
            self.workdir, self.trakt,
            players=self.player.players_config(),
            log={"level": "info"},
            scrobble={"min_duration": 30, "preview_time": 1},
        )  # fmt: skip
        self.start_daemon()
        sampler = RssSampler(
            lambda: self.daemon.proc.pid if self.daemon and self.daemon.proc.poll() is None else None
        )
        try:
            for v in viewings:
                self.faults(v.index, n)
                self.view(v)
            self.settle(sum(v.expected for v in viewings))
        finally:
            sampler.stop()
            self.result.rss_kib = sampler.samples
        self.result.history = list(self.trakt.history)
        self.result.requests = len(self.trakt.requests)
        self.result.seconds = time.monotonic() - began
        self.result.problems += check(self.result)
        return self.result

    def settle(self, expected: int) -> None:
        """Faults off; wait for the queue to drain by itself; then a graceful stop, so anything left
        would have had its last chance."""
        self.trakt.clear_faults()
        # No transient failure may need `queue retry`: the daemon must get there by itself.
        if not self.trakt.wait_for(lambda t: len(t.history) >= expected, 70):
            self.result.problems.append(
                f"only {len(self.trakt.history)} of {expected} watches reached Trakt without help"
            )
        assert self.daemon is not None
        time.sleep(1.0)  # a duplicate, if any, would be on its way now
        self.daemon.stop()


def near(target: float) -> Callable[[Any], bool]:
    """A START decided after a seek: debounced up to ~1 s, i.e. a few percent past the target."""
    return lambda p: p is not None and target - 1 <= p <= target + 6


def check(result: ChaosResult) -> list[str]:
    problems = []
    by_id: dict[int, list[dict[str, Any]]] = {}
    for entry in result.history:
        by_id.setdefault(int(entry["ids"]["trakt"]), []).append(entry)
    known = {v.trakt_id for v in result.viewings}
    for tid in set(by_id) - known:
        problems.append(f"history has an entry for unknown trakt id {tid}")
    for v in result.viewings:
        entries = by_id.get(v.trakt_id, [])
        if not v.expected:
            if entries:
                problems.append(f"#{v.index} {v.kind} below the threshold is in history: {entries}")
            continue
        if len(entries) != 1:
            problems.append(f"#{v.index} {v.kind}/{v.daemon_kill}: {len(entries)} history entries")
            continue
        assert v.ended_at is not None
        off = entries[0]["at"] - v.ended_at
        result.worst_off = max(result.worst_off, abs(off))
        if abs(off) > WATCHED_AT_LIMIT:
            problems.append(
                f"#{v.index} {v.kind}/{v.daemon_kill}: watched_at off by {off:.1f} s ({entries[0]['source']})"
            )
    return problems
