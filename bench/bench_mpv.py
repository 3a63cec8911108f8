"""mpv watcher benchmark: command -> PlayerEvent latency on a real headless mpv, and the
watcher's own CPU with no mpv running and with one mpv playing.

    python -m bench.bench_mpv [--transitions 100] [--idle-seconds 10]
"""

from __future__ import annotations

import argparse
import queue
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from scrobblerd import logs
from scrobblerd.models import EventKind, PlayerEvent
from scrobblerd.players.mpv.settings import MpvConfig
from scrobblerd.players.mpv.watcher import MpvWatcher
from tests.conftest import make_video
from tests.live.run_mpv import MpvProcess

MOVIE = "The.Matrix.1999.1080p.BluRay.x264.mkv"
Received = queue.Queue[tuple[float, PlayerEvent]]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def expect(received: Received, kind: EventKind, timeout: float = 5.0) -> float:
    """Arrival time (perf_counter) of the next event of `kind`; PROGRESS is skipped."""
    deadline = time.monotonic() + timeout
    while True:
        at, event = received.get(timeout=max(0.0, deadline - time.monotonic()))
        if event.kind is EventKind.PROGRESS:
            continue
        if event.kind is not kind:
            raise RuntimeError(f"expected {kind}, got {event}")
        return at


def measure_latency(
    mpv: MpvProcess, media: Path, received: Received, transitions: int
) -> dict[str, list[float]]:
    steps: list[tuple[str, EventKind, Callable[[int], None]]] = [
        ("pause", EventKind.PAUSED, lambda _: mpv.set("pause", True)),
        ("resume", EventKind.PLAYING, lambda _: mpv.set("pause", False)),
        ("seek", EventKind.SEEKED, lambda n: mpv.command("seek", 10 + n % 70, "absolute-percent+exact")),
        ("stop", EventKind.STOPPED, lambda _: mpv.command("stop")),
    ]
    latencies: dict[str, list[float]] = {name: [] for name, _, _ in steps}
    latencies["load"] = []
    for n in range(transitions):
        name, kind, action = steps[n % len(steps)]
        sent = time.perf_counter()
        action(n)
        latencies[name].append(expect(received, kind) - sent)
        if name == "stop":
            sent = time.perf_counter()
            mpv.loadfile(media)
            latencies["load"].append(expect(received, EventKind.PLAYING) - sent)
    return latencies


def cpu_over(seconds: float) -> float:
    """Process CPU seconds used while the main thread sleeps: what the watcher thread costs."""
    before = time.process_time()
    time.sleep(seconds)
    return time.process_time() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=100)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    logs.configure(level="warning", fmt="console")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        media = make_video(directory / MOVIE, 90)
        sock = directory / "mpv.sock"
        received: Received = queue.Queue()
        watcher = MpvWatcher(MpvConfig(ipc_path=(str(sock),)))
        with MpvProcess(sock) as mpv:
            watcher.start(lambda event: received.put((time.perf_counter(), event)))
            mpv.loadfile(media)
            expect(received, EventKind.PLAYING, timeout=10.0)
            latencies = measure_latency(mpv, media, received, args.transitions)
            playing_cpu = cpu_over(args.idle_seconds)
            mpv.quit()
            watcher.stop()

        print(f"mpv command -> PlayerEvent in the sink, {args.transitions} transitions (+ reloads):")
        everything = [v for name, values in latencies.items() if name != "load" for v in values]
        for name, values in [*latencies.items(), ("all transitions", everything)]:
            ms = [v * 1000 for v in values]
            print(
                f"  {name:16} n={len(ms):3}  p50={statistics.median(ms):6.2f} ms  "
                f"p99={percentile(ms, 99):6.2f} ms  max={max(ms):6.2f} ms"
            )
        print(f"watcher CPU with mpv playing (tick 5 s): {playing_cpu:.4f} s over {args.idle_seconds:.0f} s")

        idle = MpvWatcher(MpvConfig(ipc_path=(str(sock), str(directory / "mpv-*.sock"))))
        threads = threading.active_count()
        idle.start(lambda event: None)
        idle_cpu = cpu_over(args.idle_seconds)
        idle.stop()
        print(
            f"watcher CPU with no mpv running: {idle_cpu:.4f} s over {args.idle_seconds:.0f} s "
            f"({100 * idle_cpu / args.idle_seconds:.3f} %); threads left after stop: "
            f"{threading.active_count() - threads}"
        )


if __name__ == "__main__":
    main()
