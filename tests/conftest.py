"""Shared fixtures; those for real player binaries live here so live and e2e tests share them.

With SCROBBLERD_REQUIRE_LIVE=1 (CI sets it) a missing binary is a failure, not a skip:
CI must never be green while testing nothing real.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
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


class SmallDisk:
    """A real, small filesystem (a tmpfs mount) that a test can fill to the last byte and free."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / ".filler"

    def fill(self) -> int:
        """Write a filler file until the filesystem says ENOSPC; returns the bytes it took."""
        written = 0
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
                block = b"\0" * size
                with contextlib.suppress(OSError):
                    while True:
                        written += os.write(fd, block)
        finally:
            os.close(fd)
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


def mount_small_disk(where: Path, size_kib: int) -> SmallDisk:
    """Mount a tmpfs of `size_kib` at `where`, or skip (locally) / fail (SCROBBLERD_REQUIRE_LIVE=1)
    when this machine does not allow it (mounting needs root)."""
    where.mkdir(parents=True, exist_ok=True)
    cmd = ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "tmpfs", str(where)]
    done = (
        os.geteuid() == 0
        and subprocess.run(cmd, check=False, capture_output=True, timeout=10).returncode == 0
    )
    if not done:
        if os.environ.get("SCROBBLERD_REQUIRE_LIVE") == "1":
            pytest.fail("a small tmpfs is required (SCROBBLERD_REQUIRE_LIVE=1) but cannot be mounted")
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    return SmallDisk(where)


def unmount(disk: SmallDisk) -> None:
    subprocess.run(["umount", "-l", str(disk.root)], check=False, capture_output=True, timeout=10)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 2 MiB tmpfs at tmp_path/disk: room for a database, and nothing once filled."""
    disk = mount_small_disk(tmp_path / "disk", 2048)
    yield disk
    unmount(disk)
