"""Resume figures: the real `scrobblerd run`, a real headless mpv and the Trakt-like server on
127.0.0.1. Each round opens the film from the start and measures

- open -> mpv at the saved point (within 1 %), the time the user waits for the jump;
- open -> the START decided, which the lookup holds back (Trakt deletes the point on start), and
  open -> /scrobble/start received (the delivery worker also keeps Trakt's 1 POST/s pace, and the
  pause before each round was just posted);
- the daemon's own part: viewing began -> seek done (resume_lookup's `began` to resume_seek's time).

Between rounds the film is paused at a fresh point and stopped, so every round has a new point
(the first round of a run fetches Trakt's points; later ones are answered from the cache unless
/sync/last_activities moved).

    python -m bench.bench_resume [--rounds 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from tests.conftest import make_video
from tests.e2e.conftest import MATRIX_IDS, authorise, daemon_config
from tests.e2e.harness import DaemonProcess, MpvPlayer
from tests.trakt_server import FakeTrakt

MOVIE = "The.Matrix.1999.1080p.BluRay.x264.mkv"
VIDEO_SECONDS = 300
TOLERANCE = 1.0  # percent


def wait(check: object, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return time.time()
        time.sleep(0.005)
    raise TimeoutError("condition not met")


def leave_at(mpv: MpvPlayer, trakt: FakeTrakt, percent: float) -> float:
    """Seek just before `percent`, pause on reaching it, stop; returns the point Trakt heard."""
    mark = len(trakt.scrobbles)
    mpv.seek_percent(percent - 0.5)
    wait(lambda: (mpv.get("percent-pos") or 0) >= percent, 10)
    mpv.set("pause", True)
    wait(lambda: any(s["action"] == "pause" for s in trakt.scrobbles[mark:]), 10)
    point = float([s for s in trakt.scrobbles[mark:] if s["action"] == "pause"][-1]["progress"])
    mpv.command("stop")
    mpv.wait_idle(10)
    mpv.set("pause", False)
    return point


def stamp(record: dict[str, object]) -> float:
    return datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sd-bench-resume-"))
    media = make_video(work / MOVIE, VIDEO_SECONDS)
    sock = Path(tempfile.mkdtemp(prefix="sd-bench-")) / "mpv.sock"
    to_point, to_decided, to_start, daemon_part = [], [], [], []
    with FakeTrakt() as trakt, MpvPlayer(sock) as mpv:
        trakt.add_movie("The Matrix", 1999, MATRIX_IDS)
        authorise(trakt, work / "state")
        players = {"mpv": {"enabled": True, "ipc_path": str(sock)}}
        config = daemon_config(work, trakt, players=players, resume={"enabled": True}, log={"level": "info"})
        daemon = DaemonProcess(config)
        try:
            assert daemon.wait_event("daemon_ready", 30) and daemon.wait_event("player_found", 15)
            mpv.load(media)
            mpv.wait_playing(MOVIE)
            point = leave_at(mpv, trakt, 20)
            for i in range(args.rounds):
                starts = len([r for r in trakt.requests if r.path == "/scrobble/start"])
                opened = mpv.load(media)
                reached = wait(lambda p=point: abs((mpv.get("percent-pos") or -9) - p) <= TOLERANCE, 10)
                wait(lambda n=starts: len([r for r in trakt.requests if r.path == "/scrobble/start"]) > n, 10)
                start = [r for r in trakt.requests if r.path == "/scrobble/start"][starts]
                seek = daemon.wait_log(
                    lambda r, o=opened: r.get("event") == "resume_seek" and stamp(r) >= o, 5
                )
                lookup = daemon.wait_log(
                    lambda r, o=opened: r.get("event") == "resume_lookup" and float(r["began"]) >= o - 0.1, 5
                )
                decided = daemon.wait_log(
                    lambda r, o=opened: (
                        r.get("event") == "scrobble_decided" and r.get("action") == "start" and stamp(r) >= o
                    ),
                    5,
                )
                assert seek is not None and lookup is not None and decided is not None
                to_decided.append(stamp(decided) - opened)
                to_point.append(reached - opened)
                to_start.append(start.at - opened)
                daemon_part.append(stamp(seek) - float(lookup["began"]))
                point = leave_at(mpv, trakt, 20 + 5 * ((i + 1) % 12))
        except Exception:  # show what the daemon decided, then fail loudly
            keys = ("event", "timestamp", "point", "source", "progress", "action", "began")
            for r in daemon.lines:
                if str(r.get("event", "")).startswith("resume") or r.get("event") == "scrobble_decided":
                    print({k: r.get(k) for k in keys})
            print("expected point", point, "mpv at", mpv.get("percent-pos"))
            raise
        finally:
            daemon.stop()
    for name, values in (
        ("open -> mpv at the point", to_point),
        ("open -> START decided", to_decided),
        ("open -> /scrobble/start received", to_start),
        ("viewing began -> seek done (daemon)", daemon_part),
    ):
        ms = [v * 1000 for v in values]
        print(f"{name}: p50 {statistics.median(ms):.0f} ms, max {max(ms):.0f} ms ({len(ms)} rounds)")


if __name__ == "__main__":
    main()
