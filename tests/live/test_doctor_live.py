"""`scrobblerd doctor` against real mpv, VLC and Kodi, each set up right and then wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scrobblerd.doctor.players import mpv_check, vlc_check
from scrobblerd.players.mpv.settings import MpvConfig
from scrobblerd.players.vlc.settings import VlcConfig
from scrobblerd.secret import Secret
from scrobblerd.trakt.auth import TokenManager, TokenStore
from scrobblerd.trakt.client import TraktClient
from tests.conftest import free_port, require_binary
from tests.live.run_kodi import KodiProcess, kodi_binary
from tests.live.run_mpv import MpvProcess
from tests.live.run_vlc import VlcProcess
from tests.trakt_server import FakeTrakt

ROOT = Path(__file__).resolve().parents[2]


def test_mpv_socket_right_then_stale_missing_and_not_a_socket(tmp_path: Path) -> None:
    require_binary("mpv")
    sock = tmp_path / "mpv.sock"
    config = MpvConfig(ipc_path=(str(sock),))
    with MpvProcess(sock) as mpv:
        check = mpv_check(config)
        assert check.ok and check.detail.startswith("mpv ") and str(sock) in check.detail, check
        mpv.kill()  # SIGKILL leaves the socket file behind
    stale = mpv_check(config)
    assert not stale.ok and "stale socket" in stale.detail
    assert stale.fix == f"start mpv with --input-ipc-server={sock} (the stale file is replaced)"
    sock.unlink()
    missing = mpv_check(config)
    assert not missing.ok and "mpv is not running, or runs without its IPC socket" in missing.detail
    assert f"`input-ipc-server={sock}`" in (missing.fix or "") and "mpv.conf" in (missing.fix or "")
    sock.write_text("")
    plain = mpv_check(config)
    assert not plain.ok and "is not a socket" in plain.detail and f"remove {sock}" in (plain.fix or "")


def test_mpv_glob_with_one_good_and_one_stale_socket_fails_on_the_stale_one(tmp_path: Path) -> None:
    require_binary("mpv")
    with MpvProcess(tmp_path / "mpv-a.sock"), MpvProcess(tmp_path / "mpv-b.sock") as b:
        both = mpv_check(MpvConfig(ipc_path=(str(tmp_path / "mpv-*.sock"),)))
        assert both.ok, both
        b.kill()
        one_stale = mpv_check(MpvConfig(ipc_path=(str(tmp_path / "mpv-*.sock"),)))
    assert not one_stale.ok and str(tmp_path / "mpv-b.sock") in one_stale.detail


def test_vlc_right_then_wrong_password_off_and_not_vlc() -> None:
    with VlcProcess(password="secret") as vlc:
        good = vlc_check(VlcConfig(enabled=True, url=vlc.url, password=Secret("secret")))
        assert good.ok and good.detail.startswith("VLC 3.") and vlc.url in good.detail, good
        wrong = vlc_check(VlcConfig(enabled=True, url=vlc.url, password=Secret("guess")))
        assert not wrong.ok and "refused the password (HTTP 401)" in wrong.detail
        assert "players.vlc.password" in (wrong.fix or "")
        empty = vlc_check(VlcConfig(enabled=True, url=vlc.url, password=Secret("")))
        assert not empty.ok and "password is empty" in empty.detail
    off = vlc_check(VlcConfig(enabled=True, url=f"http://127.0.0.1:{free_port()}", password=Secret("secret")))
    assert not off.ok and "web interface is off" in off.detail and "--extraintf http" in (off.fix or "")
    with FakeTrakt() as other:  # some other HTTP server on the configured port
        stranger = vlc_check(VlcConfig(enabled=True, url=other.url, password=Secret("secret")))
    assert not stranger.ok and "is not VLC's web interface" in stranger.detail


@pytest.fixture
def kodi(tmp_path: Path) -> KodiProcess:
    require_binary("Xvfb")
    require_binary("kodi")
    if kodi_binary() is None:
        pytest.fail("the kodi package is installed but kodi.bin was not found")
    return KodiProcess(tmp_path / "kodi")


def test_the_whole_doctor_right_then_wrong(tmp_path: Path, kodi: KodiProcess) -> None:
    """A new user's setup with all three players on: every check holds (exit 0); then mpv dies
    without cleaning up, VLC's password changes and Kodi's remote control is switched off: each
    player check fails with its own fix (exit 1)."""
    require_binary("mpv")
    sock, state = tmp_path / "mpv.sock", tmp_path / "state"
    with FakeTrakt() as trakt, MpvProcess(sock) as mpv, VlcProcess(password="secret") as vlc, kodi:
        with TraktClient(trakt.config()) as oauth:
            TokenManager(TokenStore(state), oauth).store_login(trakt.issue_token(), "sean")
        config = tmp_path / "config.yaml"

        def write_config(vlc_password: str) -> None:
            config.write_text(
                f"trakt:\n  api_url: {trakt.url}\n  auth_url: {trakt.auth_url}\n  timeout: 5\n"
                f"state_dir: {state}\nplayers:\n  mpv:\n    ipc_path: {sock}\n"
                f"  vlc:\n    enabled: true\n    url: {vlc.url}\n    password: {vlc_password}\n"
                f"  kodi:\n    enabled: true\n    port: {kodi.port}\n    http_port: {free_port()}\n"
            )

        write_config("secret")
        good = _doctor(config)
        assert good.returncode == 0, good.stdout + good.stderr
        report = json.loads(good.stdout)
        assert report["ok"] is True
        assert [c["name"] for c in report["checks"]] == [
            "config", "state_dir", "token", "trakt", "clock",
            "player:mpv", "player:vlc", "player:kodi", "service", "queue",
        ]  # fmt: skip
        kodi_detail = next(c["detail"] for c in report["checks"] if c["name"] == "player:kodi")
        assert kodi_detail.startswith("Kodi JSON-RPC ") and f"127.0.0.1:{kodi.port}" in kodi_detail

        mpv.kill()
        write_config("changed")
        assert kodi.client is not None
        kodi.client.call("Settings.SetSettingValue", {"setting": "services.esenabled", "value": False})
        bad = _doctor(config)
        assert bad.returncode == 1
        failing = {c["name"]: c for c in json.loads(bad.stdout)["checks"] if not c["ok"]}
        assert set(failing) == {"player:mpv", "player:vlc", "player:kodi"}, failing
        assert "stale socket" in failing["player:mpv"]["detail"]
        assert "HTTP 401" in failing["player:vlc"]["detail"]
        assert "Allow remote control from applications on this system" in failing["player:kodi"]["fix"]


def _doctor(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scrobblerd", "--config", str(config), "doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
