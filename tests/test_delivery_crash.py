"""kill -9 in the middle of a delivery, then a restart: every watch reaches Trakt exactly once.

A real subprocess owns the database and sends to the Trakt-like server running in this test
process; the server holds one request (it is recorded after the hold) so the kill lands
between Trakt's answer and our commit, the one place a duplicate could come from.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.trakt_server import FakeTrakt

ROOT = Path(__file__).resolve().parent.parent
N_LATE = 23
N_RECENT = 3

SCRIPT = r"""
import sys, time
from pathlib import Path
from scrobblerd.store import deliveries
from scrobblerd.delivery.worker import DeliveryWorker
from scrobblerd.errors import AuthError, UnauthorizedError
from scrobblerd.models import ActionKind, MediaRef, Movie, ScrobbleAction
from scrobblerd.config.settings import TraktConfig
from scrobblerd.store.db import Store
from scrobblerd.trakt.client import TraktClient

state, url, token, base, n_late, n_recent = sys.argv[1:7]
base, n_late, n_recent = float(base), int(n_late), int(n_recent)

class Tokens:
    def access_token(self):
        return token
    def refresh_after_401(self, rejected):
        raise UnauthorizedError("rejected", 401)

def resolve(media, part):
    return Movie(media.title, media.year, dict(media.ids))

store = Store.open(Path(state))
worker = DeliveryWorker(store, TraktClient(TraktConfig(api_url=url, timeout=30), Tokens()), resolve,
                        batch_size=5, post_interval=0.0)
for i in range(n_late + n_recent):
    at = base - 7200 + 60 * i if i < n_late else time.time() - 1 + 0.01 * i  # recent: inside the stop window
    media = MediaRef(path=f"/v/Movie.{i + 1}.mkv", title=f"Movie {i + 1}", kind="movie", year=2000,
                     ids={"trakt": i + 1})
    worker.submit(ScrobbleAction(ActionKind.STOP, "mpv:x", f"viewing-{i}", media, 95.0, at, watched=True))
print("queued", flush=True)
deadline = time.time() + 30
while time.time() < deadline:
    worker.run_once()
    counts = deliveries.counts(store)
    if counts["pending"] + counts["inflight"] == 0:
        break
    time.sleep(0.05)
print("done", deliveries.counts(store), flush=True)
store.close()
"""


@pytest.fixture
def fake() -> Iterator[FakeTrakt]:
    with FakeTrakt() as t:
        for n in range(1, N_LATE + N_RECENT + 1):
            t.add_movie(f"Movie {n}", 2000, {"trakt": n})
        t.scrobble_dedupe_window = 0.0  # no 409 safety net: our own recovery must prevent duplicates
        yield t


def run_script(script: Path, state: Path, fake: FakeTrakt, token: str, base: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(script), str(state), fake.url, token, str(base), str(N_LATE), str(N_RECENT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.parametrize("held", ["/sync/history", "/scrobble/stop"])
def test_kill_9_mid_flush_then_restart_delivers_every_watch_exactly_once(
    tmp_path: Path, fake: FakeTrakt, held: str
) -> None:
    script = tmp_path / "deliver.py"
    script.write_text(SCRIPT)
    token = fake.issue_token()["access_token"]
    base = time.time()
    state = tmp_path / "state"
    fake.delay_next(1, 1.5, paths=held)  # Trakt records this request only after the hold
    # a held sync is the first batch (5 watches); a held scrobble comes after all the batches
    recorded_after_kill = 5 if held == "/sync/history" else N_LATE + 1

    first = run_script(script, state, fake, token, base)
    try:
        held_arrived = fake.wait_for(
            lambda t: any(r.method == "POST" and r.path == held for r in t.requests), timeout=20
        )
        os.kill(first.pid, signal.SIGKILL)
    finally:
        out, _ = first.communicate(timeout=10)
    assert held_arrived, out
    assert first.returncode == -signal.SIGKILL, out
    assert fake.wait_for(lambda t: len(t.history) == recorded_after_kill, timeout=10), len(fake.history)

    second = run_script(script, state, fake, token, base)
    out, _ = second.communicate(timeout=40)
    assert second.returncode == 0, out
    assert "done" in out, out

    counts = collections.Counter(int(h["ids"]["trakt"]) for h in fake.history)
    assert sorted(counts) == list(range(1, N_LATE + N_RECENT + 1)), out
    assert max(counts.values()) == 1, (counts, out)
    assert any(r.method == "GET" and r.path.startswith("/sync/history") for r in fake.requests), out
    already = 5 if held == "/sync/history" else 1
    assert f"already_delivered={already}" in out, out
    late = sorted(h["at"] for h in fake.history if h["source"] == "sync" and h["at"] < base - 60)
    assert late == [pytest.approx(base - 7200 + 60 * i, abs=1.0) for i in range(N_LATE)]
