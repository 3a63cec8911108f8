"""Latency from a Kodi JSON-RPC command to the watcher's PlayerEvent, against a real headless Kodi.

    python -m bench.bench_kodi [--rounds 40]

For Player.PlayPause (-> PAUSED / PLAYING) and Player.Seek (-> SEEKED) it prints p50/p99/max of
the time from sending the command to the event reaching the sink. The path: Kodi pushes the
notification, the watcher asks Player.GetProperties for the position, then emits. Goal: p99 <= 250 ms.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import tempfile
import time
from pathlib import Path

from scrobblerd.models import EventKind, PlayerEvent
from scrobblerd.players.kodi.settings import KodiConfig
from scrobblerd.players.kodi.watcher import KodiWatcher
from tests.conftest import make_video
from tests.live.run_kodi import KodiProcess, free_port

EXPECTED = {"pause": EventKind.PAUSED, "resume": EventKind.PLAYING, "seek": EventKind.SEEKED}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def measure(
    kodi: KodiProcess, events: queue.Queue[tuple[float, PlayerEvent]], action: str, arg: float
) -> float:
    """Milliseconds from sending the command to the PlayerEvent."""
    playerid = kodi.active_video_player()
    began = time.monotonic()
    if action == "seek":
        kodi.rpc("Player.Seek", {"playerid": playerid, "value": {"percentage": arg}})
    else:
        kodi.rpc("Player.PlayPause", {"playerid": playerid, "play": action == "resume"})
    while True:
        received, event = events.get(timeout=10)
        if event.kind == EXPECTED[action]:
            break
        if event.kind != EventKind.PROGRESS:
            raise RuntimeError(f"unexpected {event.kind} while waiting for {EXPECTED[action]}")
    return (received - began) * 1000


def run(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-kodi-") as tmp:
        work = Path(tmp)
        video = make_video(work / "The.Matrix.1999.1080p.BluRay.x264.mkv", 300)
        kodi = KodiProcess(work)
        events: queue.Queue[tuple[float, PlayerEvent]] = queue.Queue()
        watcher = KodiWatcher(KodiConfig(enabled=True, port=kodi.port, http_port=free_port()))
        try:
            kodi.start()
            print(f"kodi ready after {kodi.start_seconds:.2f} s (JSON-RPC Ping)")
            watcher.start(lambda e: events.put((time.monotonic(), e)))
            kodi.open({"file": str(video)})
            events.get(timeout=10)  # PLAYING
            results: dict[str, list[float]] = {"pause": [], "resume": [], "seek": []}
            for i in range(rounds):
                results["pause"].append(measure(kodi, events, "pause", 0))
                results["resume"].append(measure(kodi, events, "resume", 0))
                results["seek"].append(measure(kodi, events, "seek", 10 + (i * 37) % 70))
            report(results, rounds)
        finally:
            watcher.stop()
            kodi.close()


def report(results: dict[str, list[float]], rounds: int) -> None:
    print(f"{rounds} rounds; milliseconds from sending the command")
    print(f"{'command -> event':28} {'p50':>7} {'p99':>7} {'max':>7}")
    for action, samples in results.items():
        label = f"{action} -> {EXPECTED[action].value}"
        print(
            f"{label:28} {statistics.median(samples):7.1f} {percentile(samples, 99):7.1f} {max(samples):7.1f}"
        )
    everything = [s for samples in results.values() for s in samples]
    verdict = "OK" if percentile(everything, 99) <= 250 else "ABOVE GOAL"
    print(
        f"all commands: p50 {statistics.median(everything):.1f} ms, p99 {percentile(everything, 99):.1f} ms "
        f"(goal p99 <= 250 ms: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    run(parser.parse_args().rounds)


if __name__ == "__main__":
    main()
