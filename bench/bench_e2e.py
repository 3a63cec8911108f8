"""Whole-daemon figures: the real `scrobblerd run` against the Trakt-like server on 127.0.0.1 and
real players.

- event -> Trakt latency per player: from the moment the player command (pause / resume) is
  issued to the moment the server receives the matching /scrobble/pause or /scrobble/start
  (FakeTrakt.requests[].at). Commands are spaced past the daemon's 1 s debounce.
- stop-progress error when the player is killed: kill -9 at a known position (read from the
  player just before) vs the progress in the stop/pause Trakt received.
- idle CPU and RSS of the daemon with all three watchers enabled and no player running.

    python -m bench.bench_e2e [--rounds 10] [--kills 3] [--idle-seconds 20] [--idle-only]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tests.conftest import make_video
from tests.e2e.conftest import MATRIX_IDS, authorise, daemon_config
from tests.e2e.harness import DaemonProcess, MpvPlayer, rss_kib
from tests.trakt_server import FakeTrakt

MOVIE = "The.Matrix.1999.1080p.BluRay.x264.mkv"
VIDEO_SECONDS = 300
DEBOUNCE_GAP = 1.2  # seconds between commands: the daemon holds a toggle sent < 1 s after the last


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))]


class Player(Protocol):
    name: str

    def config(self) -> dict[str, Any]: ...
    def play(self, path: Path) -> None: ...
    def pause(self, on: bool) -> None: ...
    def seek(self, percent: float) -> None: ...
    def percent(self) -> float: ...
    def kill(self) -> None: ...
    def restart(self) -> None: ...
    def close(self) -> None: ...


class Mpv:
    name = "mpv"

    def __init__(self, work: Path) -> None:
        self.sock = Path(tempfile.mkdtemp(prefix="sd-bench-")) / "mpv.sock"
        self.mpv = MpvPlayer(self.sock)

    def config(self) -> dict[str, Any]:
        return {"mpv": {"enabled": True, "ipc_path": str(self.sock)}}

    def play(self, path: Path) -> None:
        self.mpv.load(path)
        self.mpv.wait_playing(path.name)

    def pause(self, on: bool) -> None:
        self.mpv.set("pause", on)

    def seek(self, percent: float) -> None:
        self.mpv.seek_percent(percent)

    def percent(self) -> float:
        return 100.0 * float(self.mpv.get("time-pos")) / float(self.mpv.get("duration"))

    def kill(self) -> None:
        self.mpv.kill()

    def restart(self) -> None:
        self.mpv = MpvPlayer(self.sock)

    def close(self) -> None:
        self.mpv.close()


class Vlc:
    name = "VLC"

    def __init__(self, work: Path) -> None:
        from tests.live.run_vlc import VlcProcess

        self._cls = VlcProcess
        self.media = work
        self.vlc = VlcProcess(work).start()

    def config(self) -> dict[str, Any]:
        return {"vlc": {"enabled": True, "url": self.vlc.url, "password": self.vlc.password}}

    def play(self, path: Path) -> None:
        self.vlc.play(path)

    def pause(self, on: bool) -> None:
        self.vlc.command("pl_forcepause" if on else "pl_forceresume")

    def seek(self, percent: float) -> None:
        self.vlc.command("seek", val=f"{percent:.2f}%")

    def percent(self) -> float:
        return 100.0 * float(self.vlc.status()["position"])

    def kill(self) -> None:
        self.vlc.kill()

    def restart(self) -> None:
        port = self.vlc.port
        self.vlc.close()
        self.vlc = self._cls(self.media, port=port).start()

    def close(self) -> None:
        self.vlc.close()


class Kodi:
    name = "Kodi"

    def __init__(self, work: Path) -> None:
        from tests.live.run_kodi import KodiProcess, free_port

        self.http_port = free_port()
        self.kodi = KodiProcess(work / "kodi-work")
        self.kodi.workdir.mkdir(exist_ok=True)
        self.kodi.start()

    def config(self) -> dict[str, Any]:
        return {"kodi": {"enabled": True, "port": self.kodi.port, "http_port": self.http_port}}

    def _player(self) -> int:
        playerid = self.kodi.active_video_player()
        if playerid is None:
            raise RuntimeError("Kodi plays nothing")
        return playerid

    def play(self, path: Path) -> None:
        self.kodi.open({"file": str(path)})

    def pause(self, on: bool) -> None:
        self.kodi.rpc("Player.PlayPause", {"playerid": self._player(), "play": not on})

    def seek(self, percent: float) -> None:
        self.kodi.rpc("Player.Seek", {"playerid": self._player(), "value": {"percentage": percent}})

    def percent(self) -> float:
        props = self.kodi.rpc(
            "Player.GetProperties", {"playerid": self._player(), "properties": ["percentage"]}
        )
        return float(props["percentage"])

    def kill(self) -> None:
        self.kodi.kill()

    def restart(self) -> None:
        self.kodi.start()

    def close(self) -> None:
        self.kodi.close()


PLAYERS: dict[str, tuple[Callable[[Path], Player], str]] = {
    "mpv": (Mpv, "mpv"),
    "VLC": (Vlc, "cvlc"),
    "Kodi": (Kodi, "kodi"),
}


@dataclass
class PlayerFigures:
    name: str
    latency_ms: list[float] = field(default_factory=list)
    kill_error_pct: list[float] = field(default_factory=list)
    kill_error_s: list[float] = field(default_factory=list)
    skipped: str | None = None


@contextmanager
def daemon_for(work: Path, trakt: FakeTrakt, players: dict[str, Any]) -> Iterator[DaemonProcess]:
    work.mkdir(parents=True, exist_ok=True)
    authorise(trakt, work / "state")
    config = daemon_config(
        work, trakt, players={"mpv": {"enabled": False}, **players}, log={"level": "info", "format": "json"}
    )
    daemon = DaemonProcess(config)
    try:
        if daemon.wait_event("daemon_ready", 30) is None:
            raise RuntimeError(daemon.log_text()[-2000:])
        yield daemon
    finally:
        daemon.stop()
        daemon.kill()


def wait_request(trakt: FakeTrakt, paths: tuple[str, ...], after: float, timeout: float = 15.0) -> Any:
    found: list[Any] = []

    def seen(t: FakeTrakt) -> bool:
        found[:] = [r for r in t.requests if r.path in paths and r.at >= after]
        return bool(found)

    if not trakt.wait_for(seen, timeout):
        raise TimeoutError(f"no {paths} within {timeout} s")
    return found[0]


def found_count(daemon: DaemonProcess) -> int:
    return sum(1 for r in list(daemon.lines) if r.get("event") == "player_found")


def measure_player(name: str, media: Path, rounds: int, kills: int, rng: random.Random) -> PlayerFigures:
    import shutil

    factory, binary = PLAYERS[name]
    figures = PlayerFigures(name)
    if shutil.which(binary) is None:
        figures.skipped = f"{binary} not installed"
        return figures
    with FakeTrakt() as trakt, tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        trakt.add_movie("The Matrix", 1999, MATRIX_IDS)
        player = factory(media)
        try:
            with daemon_for(Path(tmp), trakt, player.config()) as daemon:
                if daemon.wait_event("player_found", 30) is None:
                    raise RuntimeError(daemon.log_text()[-2000:])
                latencies(player, trakt, media / MOVIE, rounds=rounds, figures=figures, rng=rng)
                kill_errors(player, trakt, daemon, media / MOVIE, kills=kills, rng=rng, figures=figures)
        finally:
            player.close()
    return figures


def latencies(
    player: Player, trakt: FakeTrakt, movie: Path, *, rounds: int, figures: PlayerFigures, rng: random.Random
) -> None:
    """Pause/resume pairs; the gap is jittered so commands land at random phases of a poll."""
    began = time.time()
    player.play(movie)
    wait_request(trakt, ("/scrobble/start",), began)
    for _ in range(rounds):
        for on, path in ((True, "/scrobble/pause"), (False, "/scrobble/start")):
            time.sleep(DEBOUNCE_GAP + rng.uniform(0, 1.0))
            issued = time.time()
            player.pause(on)
            figures.latency_ms.append((wait_request(trakt, (path,), issued).at - issued) * 1000)


def kill_errors(
    player: Player, trakt: FakeTrakt, daemon: DaemonProcess, movie: Path, *,
    kills: int, rng: random.Random, figures: PlayerFigures,
) -> None:  # fmt: skip
    for _ in range(kills):
        time.sleep(DEBOUNCE_GAP)
        began = time.time()
        player.play(movie)
        wait_request(trakt, ("/scrobble/start",), began)
        target = rng.uniform(84, 95)
        time.sleep(DEBOUNCE_GAP)
        sought = time.time()
        player.seek(target)
        wait_request(trakt, ("/scrobble/start",), sought)
        time.sleep(rng.uniform(0.5, 2.0))
        real = player.percent()
        killed = time.time()
        seen = found_count(daemon)
        player.kill()
        sent = wait_request(trakt, ("/scrobble/stop", "/scrobble/pause"), killed, timeout=30)
        error = float(sent.json["progress"]) - real
        figures.kill_error_pct.append(error)
        figures.kill_error_s.append(error * VIDEO_SECONDS / 100)
        player.restart()
        deadline = time.monotonic() + 30
        while found_count(daemon) <= seen and time.monotonic() < deadline:
            time.sleep(0.05)


@dataclass
class IdleFigures:
    seconds: float
    cpu_percent: float
    rss_mib: float
    hwm_mib: float
    wakeups: float  # context switches per second, all threads


def idle_daemon(seconds: float) -> IdleFigures:
    """All three watchers enabled, no player anywhere, the page on: the daemon's own cost at rest."""
    from tests.live.run_kodi import free_port

    with FakeTrakt() as trakt, tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        players = {
            "mpv": {"enabled": True, "ipc_path": str(Path(tmp) / "absent.sock")},
            "vlc": {"enabled": True, "url": f"http://127.0.0.1:{free_port()}"},
            "kodi": {"enabled": True, "port": free_port(), "http_port": free_port()},
        }
        with daemon_for(Path(tmp), trakt, players) as daemon:
            # Settle: imports done, the reconnect backoff at its cap (0.5 s doubling to 5 s).
            time.sleep(12.0)
            pid = daemon.proc.pid
            ns0, sw0, t0 = run_ns(pid), switches(pid), time.monotonic()
            time.sleep(seconds)
            ns1, sw1, t1 = run_ns(pid), switches(pid), time.monotonic()
            rss = rss_kib(pid) or 0
            hwm = status_kib(pid, "VmHWM:")
    cpu = (ns1 - ns0) / 1e9 / (t1 - t0) * 100
    return IdleFigures(t1 - t0, cpu, rss / 1024, hwm / 1024, (sw1 - sw0) / (t1 - t0))


def run_ns(pid: int) -> int:
    """Nanoseconds on a CPU, all threads (/proc/PID/task/*/schedstat: finer than stat's ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


def switches(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                    total += int(line.split()[1])
    return total


def status_kib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return float(line.split()[1])
    return 0.0


def run(
    rounds: int, kills: int, idle_seconds: float, seed: int = 12
) -> tuple[list[PlayerFigures], IdleFigures]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp:
        media = Path(tmp)
        make_video(media / MOVIE, VIDEO_SECONDS)
        from tests.live.run_vlc import make_readable

        make_readable(media)
        players = [measure_player(name, media, rounds, kills, rng) for name in PLAYERS]
    return players, idle_daemon(idle_seconds)


def fmt_latency(f: PlayerFigures) -> str:
    if f.skipped:
        return f"skipped ({f.skipped})"
    v = f.latency_ms
    return f"{statistics.median(v):.0f} / {percentile(v, 99):.0f} ms (n={len(v)})"


def fmt_kill(f: PlayerFigures) -> str:
    if f.skipped:
        return f"skipped ({f.skipped})"
    pct = [abs(e) for e in f.kill_error_pct]
    sec = [abs(e) for e in f.kill_error_s]
    mean_pp, mean_s = statistics.mean(pct), statistics.mean(sec)
    return f"mean {mean_pp:.2f} pp ({mean_s:.2f} s), max {max(pct):.2f} pp (n={len(pct)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--idle-only", action="store_true", help="only the idle figures")
    args = parser.parse_args()
    if args.idle_only:
        print(fmt_idle(idle_daemon(args.idle_seconds)))
        return
    players, idle = run(args.rounds, args.kills, args.idle_seconds)
    for f in players:
        print(f"{f.name}: latency p50/p99 {fmt_latency(f)}; kill -9 stop-progress error {fmt_kill(f)}")
    print(fmt_idle(idle))


def fmt_idle(idle: IdleFigures) -> str:
    return (
        f"idle: CPU {idle.cpu_percent:.3f} % over {idle.seconds:.0f} s, {idle.wakeups:.1f} context "
        f"switches/s, RSS {idle.rss_mib:.1f} MiB (peak {idle.hwm_mib:.1f} MiB)"
    )


if __name__ == "__main__":
    main()
