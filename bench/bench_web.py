"""The status page's cost: response times of every endpoint from the real daemon, with a queue and a
history of realistic size, and the daemon's RSS before and after the requests.

    python -m bench.bench_web [--requests 200] [--queue 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import requests

from scrobblerd.models import ActionKind, MediaRef, ScrobbleAction
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from tests.conftest import free_port
from tests.e2e.harness import DaemonProcess, rss_kib, write_config

PATHS = ("/", "/live", "/api/status", "/metrics", "/healthz")


def seed(state: Path, rows: int) -> None:
    now = time.time()
    with Store.open(state) as store:
        for n in range(rows):
            media = MediaRef(path=f"/films/Film.Number.{n}.{1950 + n % 70}.mkv", title=f"Film {n}")
            at = now - 3600 - n * 60
            action = ScrobbleAction(ActionKind.STOP, "mpv:/s", f"bench-{n}", media, 95.0, at, watched=True)
            row = deliveries.enqueue_watch(store, action, at)
            if row is not None:  # failed: the worker stays idle, so the RSS figures are the page's
                with store.write() as conn:
                    deliveries.fail(conn, [row], "unidentified: bench")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--queue", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sd-bench-web-"))
    seed(work / "state", args.queue)
    port = free_port()
    config = write_config(
        work / "config.yaml",
        state_dir=str(work / "state"),
        trakt={"api_url": "http://127.0.0.1:9", "timeout": 1},
        log={"level": "info", "format": "json"},
        players={"mpv": {"enabled": True, "ipc_path": str(work / "mpv.sock")}},
        web={"listen": f"127.0.0.1:{port}"},
    )
    daemon = DaemonProcess(config)
    try:
        assert daemon.wait_event("web_listening", 30), daemon.log_text()
        before = rss_kib(daemon.proc.pid)
        with requests.Session() as http:
            http.trust_env = False
            print(f"queue {args.queue} failed watches, {args.requests} requests per endpoint")
            for path in PATHS:
                times = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    resp = http.get(f"http://127.0.0.1:{port}{path}", timeout=10)
                    times.append((time.perf_counter() - started) * 1000)
                    assert resp.status_code == 200, (path, resp.status_code)
                times.sort()
                p95 = times[int(len(times) * 0.95) - 1]
                median = statistics.median(times)
                print(f"{path:12} median {median:6.2f} ms  p95 {p95:6.2f} ms  {len(resp.content)} bytes")
        after = rss_kib(daemon.proc.pid)
        print(f"daemon RSS {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after")  # type: ignore[operator]
    finally:
        daemon.stop()


if __name__ == "__main__":
    main()
