"""A user's day with mpv: the real daemon, a real mpv and the Trakt-like server on 127.0.0.1.

Videos are short (60-90 s) with `min_duration` lowered; instead of playing in real time the tests
seek close to the end (`seek 95 absolute-percent+exact`) and let the file end for real.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import MATRIX_IDS, authorise, mpv_config
from tests.e2e.harness import DaemonProcess, MpvPlayer
from tests.trakt_server import FakeTrakt

pytestmark = pytest.mark.e2e

MATRIX = "The.Matrix.1999.1080p.BluRay.x264.mkv"
EPISODES = ["Breaking.Bad.S01E02.720p.mkv", "Breaking.Bad.S01E03.720p.mkv", "Breaking.Bad.S01E04.720p.mkv"]
WATCHED_AT_SLACK = 3.0  # seconds between the real end and the watched_at Trakt records
DELIVERY_TIMEOUT = 30.0


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonProcess]]:
    """Start daemons that are always killed at teardown; each waits until it sees mpv."""
    started: list[DaemonProcess] = []

    def start(config: Path, *, wait_player: bool = True, **kwargs: Any) -> DaemonProcess:
        daemon = DaemonProcess(config, **kwargs)
        started.append(daemon)
        assert daemon.wait_event("daemon_ready", 30), daemon.log_text()
        if wait_player:
            assert daemon.wait_event("player_found", 15), daemon.log_text()
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


@pytest.fixture
def setup(tmp_path: Path, trakt: FakeTrakt, mpv_socket: Path) -> Callable[..., Path]:
    def make(**overrides: Any) -> Path:
        authorise(trakt, tmp_path / "state")
        return mpv_config(tmp_path, trakt, mpv_socket, log={"level": "info"}, **overrides)

    return make


def posts(trakt: FakeTrakt, path: str) -> list[Any]:
    return [r for r in list(trakt.requests) if r.method == "POST" and r.path == path]


def wait_scrobble(
    trakt: FakeTrakt, action: str, pred: Callable[[dict[str, Any]], bool], timeout: float
) -> None:
    """Wait until Trakt accepted a /scrobble/<action> matching `pred`."""
    ok = trakt.wait_for(lambda t: any(s["action"] == action and pred(s) for s in t.scrobbles), timeout)
    assert ok, f"no {action} scrobble; got {[(s['action'], s['progress']) for s in trakt.scrobbles]}"


def wait_history(trakt: FakeTrakt, count: int, timeout: float = DELIVERY_TIMEOUT) -> list[dict[str, Any]]:
    assert trakt.wait_for(lambda t: len(t.history) >= count, timeout), trakt.history
    return list(trakt.history)


def play_until(mpv: MpvPlayer, trakt: FakeTrakt, name: str, percent: float) -> None:
    """Wait until `name` plays and Trakt heard it started, then seek to `percent`."""
    mpv.wait_playing(name)
    wait_scrobble(trakt, "start", lambda s: True, 15)
    mpv.seek_percent(percent)


def episode_is(number: int) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s["item"].get("episode", {}).get("number") == number


def not_playing(name: str) -> Callable[[MpvPlayer], bool]:
    return lambda p: p.get("filename") != name


def assert_at(entry: dict[str, Any], real: float) -> None:
    assert abs(entry["at"] - real) <= WATCHED_AT_SLACK, (entry["watched_at"], real)


def test_watch_a_movie_to_the_end(
    setup: Callable[..., Path], daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path,
) -> None:  # fmt: skip
    daemon = daemons(setup())
    mpv.load(media_dir / MATRIX)
    play_until(mpv, trakt, MATRIX, 95)
    ended = mpv.wait_idle(30)
    [entry] = wait_history(trakt, 1)
    assert entry["item"]["movie"]["ids"]["trakt"] == MATRIX_IDS["trakt"]
    assert entry["source"] == "scrobble"
    assert_at(entry, ended)
    [stop] = posts(trakt, "/scrobble/stop")
    assert stop.json["progress"] >= 99
    assert daemon.stop() == 0
    assert len(trakt.history) == 1
    assert trakt.contract_problems() == []  # every body the daemon sent is in the contract's shape


def test_pause_at_the_credits_and_quit(
    setup: Callable[..., Path], daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path,
) -> None:  # fmt: skip
    daemons(setup())
    mpv.load(media_dir / MATRIX)
    play_until(mpv, trakt, MATRIX, 92)
    wait_scrobble(trakt, "start", lambda s: s["progress"] >= 91, 10)
    mpv.set("pause", True)
    wait_scrobble(trakt, "pause", lambda s: s["progress"] >= 91, 10)
    assert trakt.history == []  # paused at the credits is not yet a watch
    quit_at = time.time()
    mpv.quit()
    [entry] = wait_history(trakt, 1)
    assert_at(entry, quit_at)
    [stop] = posts(trakt, "/scrobble/stop")
    assert 91 <= stop.json["progress"] <= 94


def test_stop_at_half_then_resume_later_and_finish(
    setup: Callable[..., Path], daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path,
) -> None:  # fmt: skip
    daemon = daemons(setup())
    mpv.load(media_dir / MATRIX)
    play_until(mpv, trakt, MATRIX, 50)
    wait_scrobble(trakt, "start", lambda s: 49 <= s["progress"] <= 53, 10)
    mpv.command("stop")
    wait_scrobble(trakt, "pause", lambda s: 49 <= s["progress"] <= 54, 10)
    assert daemon.wait_event("scrobble_decided", 5, action="pause") is not None
    assert posts(trakt, "/scrobble/stop") == [] and trakt.history == []  # 50 % alone is nothing

    mpv.load(media_dir / MATRIX, options="start=50%")  # later: resume where it was left
    mpv.wait_playing(MATRIX)
    paused_at = trakt.scrobbles[-1]["at"]
    wait_scrobble(trakt, "start", lambda s: s["at"] > paused_at and 49 <= s["progress"] <= 55, 15)
    mpv.seek_percent(97)
    ended = mpv.wait_idle(30)
    [entry] = wait_history(trakt, 1)
    assert_at(entry, ended)
    assert daemon.stop() == 0
    assert len(trakt.history) == 1


def test_binge_three_episodes_via_a_playlist(
    setup: Callable[..., Path], daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path,
) -> None:  # fmt: skip
    daemons(setup())
    mpv.load(media_dir / EPISODES[0])
    for name in EPISODES[1:]:
        mpv.load(media_dir / name, mode="append")
    ends = []
    for number, name in enumerate(EPISODES, 2):
        mpv.wait_playing(name, timeout=20)
        wait_scrobble(trakt, "start", episode_is(number), 15)
        mpv.seek_percent(97)
        mpv.wait_for(not_playing(name), 30)
        ends.append(time.time())
    history = wait_history(trakt, 3)
    assert [h["item"]["episode"]["number"] for h in history] == [2, 3, 4]
    assert all(h["item"]["show"]["ids"]["trakt"] == 1388 for h in history)
    for entry, ended in zip(history, ends, strict=True):
        assert_at(entry, ended)
    assert len(posts(trakt, "/scrobble/stop")) == 3
    assert trakt.contract_problems() == []  # episodes went by their ids


def test_trakt_down_longer_than_the_grace_syncs_history_with_the_real_time(
    setup: Callable[..., Path], daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path,
) -> None:  # fmt: skip
    """Trakt is down during the viewing and after it, longer than the stop window (a
    /scrobble/stop sent later would be stamped with its arrival): the watch must then go through
    /sync/history carrying the real end as watched_at."""
    daemon = daemons(setup(), delivery_grace=3.0)
    trakt.set_outage(True)
    mpv.load(media_dir / MATRIX)
    mpv.wait_playing(MATRIX)
    time.sleep(0.5)  # let it play a little before jumping: a real viewing, not a preview
    mpv.seek_percent(97)
    ended = mpv.wait_idle(30)
    assert daemon.wait_event("watch_queued", 10) is not None, daemon.log_text()
    assert trakt.wait_for(lambda t: len(t.requests) >= 3, 20)  # it kept trying during the outage
    outage_end = ended + 6.0
    trakt.wait_for(lambda t: time.time() >= outage_end, outage_end - time.time() + 1)
    trakt.set_outage(False)
    [entry] = wait_history(trakt, 1, timeout=60)
    assert entry["source"] == "sync"
    assert_at(entry, ended)
    assert posts(trakt, "/scrobble/stop") == []
    sync = posts(trakt, "/sync/history")[-1]
    assert sync.at - ended >= 6.0
    assert trakt.contract_problems() == []


def test_token_expires_mid_movie(
    setup: Callable[..., Path], daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path,
) -> None:  # fmt: skip
    daemons(setup())
    mpv.load(media_dir / MATRIX)
    play_until(mpv, trakt, MATRIX, 40)
    trakt.expire_access_tokens()
    mpv.seek_percent(97)
    ended = mpv.wait_idle(30)
    [entry] = wait_history(trakt, 1)
    assert_at(entry, ended)
    assert len(posts(trakt, "/oauth/token")) == 1  # refreshed once, then the stop went through
    rejected = [r for r in trakt.requests if r.path.startswith("/scrobble/")]
    assert len({r.headers.get("authorization") for r in rejected}) == 2


def queued(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM queue").fetchone()[0])


def test_random_faults_and_dropped_connections_every_watch_exactly_once(
    setup: Callable[..., Path], daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path, *, tmp_path: Path,
) -> None:  # fmt: skip
    """429 (Retry-After), 503, 520 and dropped connections at random; one stop is answered only
    after the client gave up (it reaches Trakt, the daemon does not know): still one watch each."""
    daemon = daemons(setup())
    trakt.random_faults(0.3, seed=12, statuses=(429, 503, 520), drop=True)
    trakt.delay_next(1, 4.0, paths="/scrobble/stop")  # the client's timeout is 3 s
    for name in [MATRIX, EPISODES[0]]:
        mpv.load(media_dir / name)
        mpv.wait_playing(name)
        time.sleep(0.5)
        mpv.seek_percent(97)
        mpv.wait_idle(30)
    wait_history(trakt, 2, timeout=90)
    # both were sent (by /scrobble/stop or, once late, by /sync/history) and left the queue
    db = tmp_path / "state" / "scrobblerd.db"
    deadline = time.monotonic() + 60
    while queued(db) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queued(db) == 0, daemon.log_text()
    trakt.clear_faults()
    assert daemon.stop() == 0  # a last delivery round: anything still queued would go now
    assert sorted(h["type"] for h in trakt.history) == ["episode", "movie"], trakt.history
    faults = [r for r in trakt.requests if r.path.startswith(("/scrobble/", "/search/"))]
    assert len(faults) > 6  # the faults really happened and were retried


def test_daemon_restarted_mid_movie_attaches_and_carries_on(
    setup: Callable[..., Path], daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path,
) -> None:  # fmt: skip
    config = setup()
    first = daemons(config)
    mpv.load(media_dir / MATRIX)
    play_until(mpv, trakt, MATRIX, 30)
    wait_scrobble(trakt, "start", lambda s: 29 <= s["progress"] <= 33, 10)
    first.kill()  # SIGKILL: no goodbye to Trakt
    starts = len([s for s in trakt.scrobbles if s["action"] == "start"])
    second = daemons(config)
    assert second.wait_event("player_found", 1, state="playing") is not None, second.log_text()
    # The new daemon carries the viewing on (Trakt already heard its start), then hears the seek
    restored = second.wait_event("session_restored", 10)
    assert restored is not None, second.log_text()
    mpv.seek_percent(97)
    moved = trakt.wait_for(lambda t: len([s for s in t.scrobbles if s["action"] == "start"]) > starts, 10)
    assert moved, trakt.scrobbles
    restart = [s for s in trakt.scrobbles if s["action"] == "start"][starts]
    assert 96 <= restart["progress"] <= 100, restart["progress"]
    ended = mpv.wait_idle(30)
    [entry] = wait_history(trakt, 1)
    assert_at(entry, ended)
    assert second.stop() == 0
    assert len(trakt.history) == 1


def test_a_daemon_killed_past_the_threshold_mid_viewing_still_counts_the_watch(
    setup: Callable[..., Path], daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path,
) -> None:  # fmt: skip
    """Killed at 95 % with less left than the preview time: the restarted daemon must not take the
    viewing it saw begin for a preview opened past the threshold."""
    config = setup()
    first = daemons(config)
    mpv.load(media_dir / MATRIX)
    play_until(mpv, trakt, MATRIX, 95)
    wait_scrobble(trakt, "start", lambda s: s["progress"] >= 94, 10)
    first.kill()  # SIGKILL mid-viewing; mpv plays on to the end
    second = daemons(config)
    restored = second.wait_event("session_restored", 10)
    assert restored is not None, second.log_text()
    ended = mpv.wait_idle(30)
    [entry] = wait_history(trakt, 1)
    assert_at(entry, ended)
    assert second.stop() == 0
    assert len(trakt.history) == 1, trakt.history


def test_a_killed_player_past_the_threshold_still_counts(
    setup: Callable[..., Path], daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path,
) -> None:  # fmt: skip
    daemon = daemons(setup())
    mpv.load(media_dir / MATRIX)
    play_until(mpv, trakt, MATRIX, 88)
    wait_scrobble(trakt, "start", lambda s: s["progress"] >= 87, 10)
    time.sleep(1.0)
    position = 100 * mpv.get("time-pos") / mpv.get("duration")
    killed = mpv.kill()
    lost = daemon.wait_event("player_lost", 10)
    assert lost is not None, daemon.log_text()
    [entry] = wait_history(trakt, 1)
    assert_at(entry, killed)
    [stop] = posts(trakt, "/scrobble/stop")
    assert abs(stop.json["progress"] - position) <= 2.0, (stop.json["progress"], position)


def test_threshold_90_and_a_stop_at_85_records_nothing(
    setup: Callable[..., Path], daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path,
) -> None:  # fmt: skip
    """Trakt itself would count a stop at 85 % as a watch: the daemon must send a pause instead."""
    daemon = daemons(setup(scrobble={"threshold": 90}))
    mpv.load(media_dir / MATRIX)
    play_until(mpv, trakt, MATRIX, 85)
    wait_scrobble(trakt, "start", lambda s: s["progress"] >= 84, 10)
    mpv.command("stop")
    wait_scrobble(trakt, "pause", lambda s: 84 <= s["progress"] < 90, 10)
    assert daemon.stop() == 0
    assert posts(trakt, "/scrobble/stop") == []
    assert trakt.history == []


def test_a_stop_trakt_recorded_but_never_answered_is_not_doubled_later(
    setup: Callable[..., Path], daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path,
) -> None:  # fmt: skip
    """The stop reaches Trakt (recorded) but its answer comes after the client's 3 s timeout, then
    Trakt is down for longer than the grace: the retry must not add the watch a second time."""
    daemon = daemons(setup(), delivery_grace=3.0)
    trakt.delay_next(1, 4.0, paths="/scrobble/stop")
    mpv.load(media_dir / MATRIX)
    play_until(mpv, trakt, MATRIX, 97)
    mpv.wait_idle(30)
    assert trakt.wait_for(lambda t: len(t.history) == 1, 10)  # Trakt has it; the daemon does not know
    down_at = time.time()
    trakt.set_outage(True)
    assert daemon.wait_event("delivery_deferred", 10) is not None
    # Trakt stays down until the daemon has tried again after the grace ran out
    tried_late = trakt.wait_for(lambda t: any(r.at > down_at + 3.5 for r in t.requests), 40)
    assert tried_late, "the daemon never tried again while Trakt was down"
    trakt.set_outage(False)
    # Back up: the daemon asks Trakt's history before it resends, and finds the watch there
    recovered = daemon.wait_event("delivery_recovered", 40)
    assert recovered is not None, daemon.log_text()[-3000:]
    assert (recovered["already_delivered"], recovered["resending"]) == (1, 0), recovered
    assert daemon.stop() == 0
    assert len(trakt.history) == 1, trakt.history
    assert posts(trakt, "/sync/history") == []


def test_queue_retry_from_the_shell_wakes_the_running_daemon_at_once(
    setup: Callable[..., Path], daemons: Callable[..., DaemonProcess], mpv: MpvPlayer,
    trakt: FakeTrakt, media_dir: Path,
) -> None:  # fmt: skip
    """The worker never polls the queue: a failed watch made due by `scrobblerd queue retry` in
    another process goes out because the command wakes the daemon (SIGUSR1), within seconds."""
    config = setup()
    daemon = daemons(config)
    # Trakt refuses the watch for good, by whichever route it goes: it fails
    trakt.fail_next(1, 404, paths=("/scrobble/stop", "/sync/history"))  # type: ignore[arg-type]
    mpv.load(media_dir / MATRIX)
    play_until(mpv, trakt, MATRIX, 95)
    mpv.wait_idle(30)
    failed = daemon.wait_event("delivery_failed", 15)
    assert failed is not None, daemon.log_text()
    assert trakt.history == []
    out = subprocess.run(
        [sys.executable, "-m", "scrobblerd", "--config", str(config), "queue", "retry"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    asked = time.monotonic()
    assert out.returncode == 0, out.stderr
    assert "the running daemon sends them now" in out.stdout, out.stdout
    assert trakt.wait_for(lambda t: len(t.history) == 1, 5), daemon.log_text()[-3000:]
    assert time.monotonic() - asked < 5
    assert daemon.stop() == 0
    assert len(trakt.history) == 1
