"""Chaos: viewings in a real mpv while the daemon is SIGKILLed and restarted, the player killed and
Trakt faulty. Nothing past the threshold is lost or doubled, nothing below it is recorded, and the
daemon's memory stays bounded. CI runs a small N; `SCROBBLERD_CHAOS_N=200` runs the full size."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_video, require_binary
from tests.e2e.chaos_driver import VIDEO_SECONDS, Chaos
from tests.trakt_server import FakeTrakt

pytestmark = pytest.mark.e2e

CI_VIEWINGS = 30
SEED = int(os.environ.get("SCROBBLERD_CHAOS_SEED", "20240612"))
RSS_LIMIT_MIB = 200  # the daemon idles around 60-70 MiB; a leak per viewing or restart shows here


@pytest.fixture
def short_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sd-chaos-") as tmp:  # AF_UNIX paths are short
        yield Path(tmp)


def test_chaos(tmp_path: Path, trakt: FakeTrakt, short_dir: Path) -> None:
    require_binary("mpv")
    n = int(os.environ.get("SCROBBLERD_CHAOS_N", str(CI_VIEWINGS)))
    video = make_video(tmp_path / "chaos-base.mkv", VIDEO_SECONDS)
    chaos = Chaos(trakt, tmp_path, short_dir / "mpv.sock", video, SEED)
    try:
        result = chaos.run(n)
    finally:
        chaos.close()
    print(result.summary())
    dump = os.environ.get("SCROBBLERD_CHAOS_DUMP")
    if dump and result.problems:  # everything needed to explain a failure, for a human
        out = Path(dump)
        out.mkdir(parents=True, exist_ok=True)
        for i, daemon in enumerate([*chaos.old, *([chaos.daemon] if chaos.daemon else [])]):
            (out / f"daemon-{i:03d}.log").write_text(daemon.log_text())
        lines = [f"{r.at:.3f} {r.method} {r.path} {r.json}" for r in trakt.requests]
        (out / "requests.txt").write_text("\n".join(lines))
        (out / "history.txt").write_text("\n".join(map(str, trakt.history)))
        (out / "viewings.txt").write_text("\n".join(map(str, result.viewings)))
    assert not trakt.errors, trakt.errors
    assert not result.problems, "\n".join(result.problems)
    watched = sum(v.expected for v in result.viewings)
    assert len(result.history) == watched
    assert result.rss_kib and max(result.rss_kib) < RSS_LIMIT_MIB * 1024
