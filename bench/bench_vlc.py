"""VLC watcher figures against a real headless VLC: `python -m bench.bench_vlc [--quick]`.

1. Latency from an HTTP command to VLC (pause, resume, seek) to the matching PlayerEvent in the
   sink, at the default poll interval; commands are sent at random phases against the poll.
2. Latency from `in_play` on a VLC that has been idle a while (stopped polling has slowed down).
3. status.json/playlist.json requests per minute when VLC is absent, stopped and playing.
"""

from __future__ import annotations

import argparse
import queue
import random
import statistics
import tempfile
import time
from pathlib import Path

from scrobblerd.models import EventKind, PlayerEvent
from scrobblerd.players.vlc.settings import VlcConfig
from scrobblerd.players.vlc.watcher import VlcWatcher
from tests.conftest import make_video
from tests.live.run_vlc import VlcProcess, free_port

Arrivals = queue.Queue[tuple[float, PlayerEvent]]


def watcher(url: str, arrivals: Arrivals) -> VlcWatcher:
    w = VlcWatcher(VlcConfig(enabled=True, url=url, password="secret"))  # default poll_interval
    w.start(lambda event: arrivals.put((time.time(), event)))
    return w


def wait_kind(arrivals: Arrivals, kind: EventKind, timeout: float = 15.0) -> float:
    deadline = time.monotonic() + timeout
    while True:
        arrived, event = arrivals.get(timeout=max(0.01, deadline - time.monotonic()))
        if event.kind == kind:
            return arrived


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(label: str, latencies: list[float]) -> None:
    ms = [x * 1000 for x in latencies]
    print(
        f"{label}: n={len(ms)} p50={pct(ms, 50):.0f} ms p90={pct(ms, 90):.0f} ms "
        f"p99={pct(ms, 99):.0f} ms max={max(ms):.0f} ms mean={statistics.mean(ms):.0f} ms"
    )


CYCLE = [
    ("pl_forcepause", {}, EventKind.PAUSED),
    ("pl_forceresume", {}, EventKind.PLAYING),
    ("seek", {"val": "40"}, EventKind.SEEKED),
    ("pl_forcepause", {}, EventKind.PAUSED),
    ("pl_forceresume", {}, EventKind.PLAYING),
    ("seek", {"val": "10"}, EventKind.SEEKED),
]


def transitions(vlc: VlcProcess, movie: Path, count: int) -> list[float]:
    arrivals: Arrivals = queue.Queue()
    w = watcher(vlc.url, arrivals)
    try:
        vlc.play(movie)
        wait_kind(arrivals, EventKind.PLAYING)
        vlc.wait_for(lambda s: s["time"] >= 1)
        latencies = []
        for i in range(count):
            name, params, kind = CYCLE[i % len(CYCLE)]
            time.sleep(random.uniform(0.2, 1.2))  # a random phase against the 1 s poll
            sent = time.time()
            vlc.command(name, **params)
            latencies.append(wait_kind(arrivals, kind) - sent)
        return latencies
    finally:
        w.stop()


def play_after_idle(vlc: VlcProcess, movie: Path, count: int) -> list[float]:
    arrivals: Arrivals = queue.Queue()
    w = watcher(vlc.url, arrivals)
    try:
        latencies = []
        for _ in range(count):
            time.sleep(random.uniform(1.0, 12.0))  # idle this long before the user presses play
            sent = time.time()
            vlc.command("in_play", input=str(movie))
            latencies.append(wait_kind(arrivals, EventKind.PLAYING) - sent)
            vlc.command("pl_stop")
            wait_kind(arrivals, EventKind.STOPPED)
        return latencies
    finally:
        w.stop()


def requests_per_minute(url: str, warmup: float, window: float) -> float:
    arrivals: Arrivals = queue.Queue()
    w = watcher(url, arrivals)
    try:
        time.sleep(warmup)  # let the backoff settle
        before = w.requests_made
        time.sleep(window)
        return (w.requests_made - before) * 60.0 / window
    finally:
        w.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter windows")
    args = parser.parse_args()
    count, idle_count, warmup, window = (30, 3, 13.0, 15.0) if args.quick else (100, 8, 13.0, 30.0)

    with tempfile.TemporaryDirectory(prefix="bench-vlc-") as tmp:
        media = Path(tmp)
        movie = make_video(media / "The.Matrix.1999.1080p.BluRay.x264.mkv", 120)
        with VlcProcess(media) as vlc:
            report("command -> event (pause/resume/seek, poll 1 s)", transitions(vlc, movie, count))
            vlc.command("pl_stop")
            report("in_play after 1-12 s idle -> PLAYING", play_after_idle(vlc, movie, idle_count))
            vlc.command("pl_stop")
            vlc.wait_for(lambda s: s["state"] == "stopped")
            stopped = requests_per_minute(vlc.url, warmup, window)
            vlc.play(movie)
            playing = requests_per_minute(vlc.url, warmup, window)
        absent = requests_per_minute(f"http://127.0.0.1:{free_port()}", warmup, window)
    print(f"requests/min: absent={absent:.1f} stopped={stopped:.1f} playing={playing:.1f}")
    print(
        f"(window {window:.0f} s after {warmup:.0f} s warm-up; playing excludes the last-30 s fast polling)"
    )


if __name__ == "__main__":
    main()
