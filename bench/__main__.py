"""`python -m bench`: the headline figures side by side in one run, as a Markdown table.

    python -m bench [--rounds 10] [--kills 3] [--idle-seconds 20] [--all]
    python -m bench NAME [ARGS...]      one module alone: identify, state, mpv, vlc, kodi, framing,
                                        delivery, e2e

Event -> Trakt latency per player (at the Trakt-like server's receipt), the stop-progress error
when the player is killed, the idle daemon's CPU and RSS, and the delivery time for 10,000 queued
watches under a 1 POST/s limit (bench.bench_delivery). `--all` also runs every other bench module.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time

from bench import bench_e2e

OTHERS = (
    "bench_state",
    "bench_identify",
    "bench_mpv",
    "bench_vlc",
    "bench_kodi",
    "bench_framing",
    "bench_delivery",
    "bench_web",
)


def run_module(name: str, *args: str, timeout: float = 900) -> str:
    out = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return (
        out.stdout + (f"\n(exit {out.returncode}) {out.stderr[-2000:]}" if out.returncode else "")
    ).strip()


def delivery() -> tuple[str, str]:
    """(figure, raw output) of bench.bench_delivery with 10,000 watches."""
    text = run_module("bench_delivery", "--watches", "10000")
    match = re.search(r"deliver: (\d+) watches in ([\d.]+) s wall, (\d+) requests", text)
    if match is None:
        return "failed (see below)", text
    watches, seconds, requests = match.groups()
    once = "all delivered once" if "all delivered once: True" in text else "NOT all delivered once"
    return f"{float(seconds):.1f} s for {watches} watches ({requests} requests; {once})", text


def table(players: list[bench_e2e.PlayerFigures], idle: bench_e2e.IdleFigures, deliver: str) -> str:
    names = [p.name for p in players]
    rows = [
        "| figure | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        "| event → Trakt latency p50 / p99 | " + " | ".join(bench_e2e.fmt_latency(p) for p in players) + " |",
        "| stop-progress error after kill -9 | " + " | ".join(bench_e2e.fmt_kill(p) for p in players) + " |",
    ]
    span = " | " * (len(names) - 1)
    rows.append(
        f"| idle daemon, 3 watchers, no players | CPU {idle.cpu_percent:.3f} % over {idle.seconds:.0f} s, "
        f"RSS {idle.rss_mib:.1f} MiB (peak {idle.hwm_mib:.1f} MiB){span}|"
    )
    rows.append(f"| delivery of 10,000 queued watches, 1 POST/s | {deliver}{span}|")
    return "\n".join(rows)


def main() -> None:
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        name = f"bench_{sys.argv[1]}"
        if name not in (*OTHERS, "bench_e2e"):
            sys.exit(f"python -m bench: no benchmark {sys.argv[1]!r}")
        sys.exit(
            subprocess.run([sys.executable, "-m", f"bench.{name}", *sys.argv[2:]], check=False).returncode
        )
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="pause/resume pairs per player")
    parser.add_argument("--kills", type=int, default=3, help="kill -9 rounds per player")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--all", action="store_true", help="also run every other bench module")
    args = parser.parse_args()
    began = time.monotonic()
    players, idle = bench_e2e.run(args.rounds, args.kills, args.idle_seconds)
    deliver, raw = delivery()
    cpus = len(os.sched_getaffinity(0))
    print(f"scrobblerd benchmarks: Python {platform.python_version()}, {platform.machine()}, {cpus} CPUs")
    print()
    print(table(players, idle, deliver))
    print()
    print("latency: from the player command to the server's receipt of /scrobble/pause or /start;")
    print("VLC is polled (players.vlc.poll_interval, default 1 s), mpv and Kodi push events.")
    print("kill error: progress in the stop/pause Trakt received minus the position read just before kill -9")
    print(f"(pp = percentage points of a {bench_e2e.VIDEO_SECONDS} s video).")
    print()
    print("bench_delivery:", raw.replace("\n", "\n  "))
    if args.all:
        for name in OTHERS:
            if name == "bench_delivery":
                continue
            print(f"\n## python -m bench.{name}\n")
            print(run_module(name))
    print(f"\n(total {time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
