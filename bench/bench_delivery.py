"""Delivery benchmark: enqueue throughput, then 10,000 late watches delivered to a local
Trakt-like server that allows one POST per second; and `--outage N`: N watches made while Trakt
is down, delivered by the running worker thread once it is back.

    python -m bench.bench_delivery [--watches 10000] [--batch-size 1000]
    python -m bench.bench_delivery --outage 30 [--down 20] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path

from scrobblerd import logs
from scrobblerd.config.settings import TraktConfig
from scrobblerd.delivery.worker import BATCH_SIZE, DeliveryWorker
from scrobblerd.errors import UnauthorizedError
from scrobblerd.models import ActionKind, Item, MediaRef, Movie, ScrobbleAction
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.trakt.client import TraktClient
from tests.trakt_server import FakeTrakt

MOVIES = 200  # distinct titles; the rest are rewatches (distinct viewings, distinct times)


class Tokens:
    def __init__(self, token: str) -> None:
        self.token = token

    def access_token(self) -> str:
        return self.token

    def refresh_after_401(self, rejected: str) -> str:
        raise UnauthorizedError("rejected", 401)


def resolve(media: MediaRef, part: int) -> Item | None:
    return Movie(media.title or "", media.year, dict(media.ids))


def client_for(fake: FakeTrakt, timeout: float) -> TraktClient:
    """The server with the bench's movies and Trakt's pace (about one POST a second; faster gets
    429), and a client logged in to it."""
    fake.post_interval = 1.0
    for n in range(1, MOVIES + 1):
        fake.add_movie(f"Movie {n}", 2000, {"trakt": n})
    return TraktClient(
        TraktConfig(api_url=fake.url, auth_url=fake.auth_url, timeout=timeout),
        Tokens(fake.issue_token()["access_token"]),
    )


def outage(watches: int, down: float, batch_size: int) -> None:
    """Watches made during an outage (each a second apart, the last just before the return), the
    outage going on `down` seconds more, then Trakt back: what the worker thread does by itself."""
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp, FakeTrakt() as fake:
        client = client_for(fake, timeout=10)
        with Store.open(Path(tmp)) as store, client:
            worker = DeliveryWorker(store, client, resolve, batch_size=batch_size)
            fake.set_outage(True)
            worker.start()
            start = time.time()
            ends = []
            for i in range(watches):
                n = i % MOVIES + 1
                media = MediaRef(
                    path=f"/v/Movie.{n}.mkv", title=f"Movie {n}", kind="movie", year=2000, ids={"trakt": n}
                )
                at = start - watches + i
                ends.append(at)
                worker.submit(
                    ScrobbleAction(ActionKind.STOP, "mpv:bench", f"v{i}", media, 95.0, at, watched=True)
                )
            time.sleep(down)
            fake.set_outage(False)
            back = time.time()
            deadline = back + 120
            while len(fake.history) < watches and time.time() < deadline:
                time.sleep(0.05)
            worker.stop(5)
        posts = [r for r in fake.requests if r.method == "POST" and r.at >= back]
        got = sorted(h["at"] for h in fake.history)
        error = max((abs(a - b) for a, b in zip(got, sorted(ends), strict=False)), default=float("nan"))
        ok = len(fake.history) == watches
    first = posts[0].at - back if posts else float("nan")
    last = posts[-1].at - back if posts else float("nan")
    print(
        f"outage: {watches} watches made while Trakt was down ({down:.0f} s more of outage after the "
        f"last); after its return: {len(posts)} write requests, first delivery {first:.1f} s and last "
        f"{last:.1f} s after it; largest watched_at error {error:.1f} s; all delivered once: {ok}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watches", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--outage", type=int, default=0, help="watches made during an outage")
    parser.add_argument("--down", type=float, default=20.0, help="seconds of outage after them")
    args = parser.parse_args()
    logs.configure(level="warning", fmt="console")
    if args.outage:
        outage(args.outage, args.down, args.batch_size)
        return
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp, FakeTrakt() as fake:
        client = client_for(fake, timeout=60)
        with Store.open(Path(tmp)) as store, client:
            worker = DeliveryWorker(store, client, resolve, batch_size=args.batch_size)
            base = time.time() - 30 * 86400
            t0 = time.perf_counter()
            for i in range(args.watches):
                n = i % MOVIES + 1
                media = MediaRef(
                    path=f"/v/Movie.{n}.mkv", title=f"Movie {n}", kind="movie", year=2000, ids={"trakt": n}
                )
                worker.submit(
                    ScrobbleAction(
                        ActionKind.STOP, "mpv:bench", f"v{i}", media, 95.0, base + 60 * i, watched=True
                    )
                )
            enqueue_s = time.perf_counter() - t0

            t1 = time.perf_counter()
            while deliveries.counts(store)["pending"]:
                worker.run_once()
            deliver_s = time.perf_counter() - t1
            left = deliveries.counts(store)

        posts = [r for r in fake.requests if r.method == "POST"]
        statuses = collections.Counter(r.path for r in posts)
        times = collections.Counter(round(h["at"]) for h in fake.history)
        ok = len(fake.history) == args.watches and len(times) == args.watches
    print(
        f"enqueue: {args.watches} watches in {enqueue_s:.2f} s = {args.watches / enqueue_s:.0f} commits/s "
        "(one durable transaction each, WAL + synchronous=FULL)"
    )
    print(
        f"deliver: {args.watches} watches in {deliver_s:.2f} s wall, {len(fake.requests)} requests "
        f"({len(posts)} POST: {dict(statuses)}), batch size {args.batch_size}, server limit 1 POST/s"
    )
    print(f"result: {len(fake.history)} on the server, queue left {left}, all delivered once: {ok}")


if __name__ == "__main__":
    main()
