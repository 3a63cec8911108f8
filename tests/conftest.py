"""Shared fixtures; those for real player binaries live here so live and e2e tests share them.

With SCROBBLERD_REQUIRE_LIVE=1 (CI sets it) a missing binary is a failure, not a skip:
CI must never be green while testing nothing real.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

MEDIA = {
    # name: seconds. Named like real releases so identification sees what users have.
    "The.Matrix.1999.1080p.BluRay.x264.mkv": 90,
    "Breaking.Bad.S01E02.720p.mkv": 60,
    "Breaking.Bad.S01E03.720p.mkv": 60,
    "Breaking.Bad.S01E04.720p.mkv": 60,
    "Short.Sample.2020.mkv": 20,
}


def require_binary(name: str) -> str:
    """Path of `name`, or skip (locally) / fail (SCROBBLERD_REQUIRE_LIVE=1) when missing."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("SCROBBLERD_REQUIRE_LIVE") == "1":
        pytest.fail(f"{name} is required (SCROBBLERD_REQUIRE_LIVE=1) but not installed")
    pytest.skip(f"{name} not installed")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_video(path: Path, seconds: int) -> Path:
    """A small real video: test pattern, silent audio (an audio clock), a keyframe every second."""
    if path.exists():
        return path
    require_binary("ffmpeg")
    tmp = path.with_suffix(".part" + path.suffix)
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size=160x120:rate=10:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=22050:cl=mono",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "35",
            "-g",
            "10",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "16k",
            "-shortest",
            str(tmp),
        ],
        check=True,
        timeout=120,
    )
    tmp.rename(path)
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of test videos, made once per test session (cached across runs when possible)."""
    cache = (
        Path(os.environ.get("SCROBBLERD_MEDIA_CACHE", ""))
        if os.environ.get("SCROBBLERD_MEDIA_CACHE")
        else tmp_path_factory.mktemp("media")
    )
    cache.mkdir(parents=True, exist_ok=True)
    for name, seconds in MEDIA.items():
        make_video(cache / name, seconds)
    return cache
