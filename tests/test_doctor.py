"""`scrobblerd doctor`: each check failing (with its fix) and holding, against real files, the
Trakt-like server and a scripted systemctl. The players are checked live in tests/live/test_doctor_live.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from scrobblerd.config.settings import Config
from scrobblerd.doctor.local import queue_check, state_dir_check, token_check
from scrobblerd.doctor.remote import clock_check, trakt_checks
from scrobblerd.doctor.service import service_check
from scrobblerd.models import ActionKind, MediaRef, ScrobbleAction
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.trakt.auth import Token, TokenManager, TokenStore
from scrobblerd.trakt.client import TraktClient
from tests.trakt_server import FakeTrakt

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["config", "state_dir", "token", "trakt", "clock", "player:mpv", "service", "queue"]


@pytest.fixture
def fake() -> Iterator[FakeTrakt]:
    with FakeTrakt() as t:
        yield t


def login(fake: FakeTrakt, state: Path) -> None:
    with TraktClient(fake.config()) as oauth:
        TokenManager(TokenStore(state), oauth).store_login(fake.issue_token(), "sean")


def config_file(tmp_path: Path, fake: FakeTrakt | None, extra: str = "") -> Path:
    api = fake.url if fake else "http://127.0.0.1:9"
    auth = fake.auth_url if fake else "http://127.0.0.1:9"
    path = tmp_path / "config.yaml"
    path.write_text(
        f"trakt:\n  api_url: {api}\n  auth_url: {auth}\n  timeout: 3\n"
        f"state_dir: {tmp_path / 'state'}\nplayers:\n  mpv:\n    ipc_path: {tmp_path / 'mpv.sock'}\n{extra}"
    )
    return path


def doctor(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scrobblerd", "--config", str(config), "doctor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


# ---- the command -----------------------------------------------------------------------------------
def test_a_bad_config_is_the_one_check_with_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("players:\n  vlc:\n    poll_interval: fast\n")
    out = doctor(bad, "--json")
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    (check,) = report["checks"]
    assert report["ok"] is False and check["name"] == "config" and check["ok"] is False
    assert f"{bad}:3: players.vlc.poll_interval" in check["detail"]
    assert f"scrobblerd config check {bad}" in check["fix"]


def test_json_names_every_check_and_says_how_to_fix_each_failure(tmp_path: Path, fake: FakeTrakt) -> None:
    out = doctor(config_file(tmp_path, fake), "--json")
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert [c["name"] for c in report["checks"]] == NAMES  # mpv only: VLC and Kodi are off
    failing = {c["name"]: c for c in report["checks"] if not c["ok"]}
    assert set(failing) == {"token", "player:mpv"}  # no login yet; no mpv runs
    assert failing["token"]["fix"] == "run `scrobblerd auth`"
    assert f"--input-ipc-server={tmp_path / 'mpv.sock'}" in failing["player:mpv"]["fix"]
    assert all(c["fix"] is None for c in report["checks"] if c["ok"])
    assert set(report["checks"][0]) == {"name", "ok", "detail", "fix"}


def test_human_output_shows_each_fix_under_its_failure(tmp_path: Path, fake: FakeTrakt) -> None:
    out = doctor(config_file(tmp_path, fake))
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    token = next(i for i, line in enumerate(lines) if line.startswith("FAIL token"))
    assert "fix: run `scrobblerd auth`" in lines[token + 1]
    assert lines[-1] == "2 check(s) failed; the fix is under each."


# ---- state_dir --------------------------------------------------------------------------------------
def test_state_dir_modes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert state_dir_check(state).ok  # not created yet: the daemon makes it
    TokenStore(state).save(Token("a", "r", 600, int(time.time())))
    check = state_dir_check(state)
    assert check.ok, check
    os.chmod(state, 0o755)
    check = state_dir_check(state)
    assert not check.ok and "0o755" in check.detail and check.fix == f"chmod 700 {state}"
    os.chmod(state, 0o700)
    os.chmod(state / "token.json", 0o644)
    check = state_dir_check(state)
    assert not check.ok and check.fix == f"chmod 600 {state / 'token.json'}"
    (tmp_path / "file").write_text("")
    assert not state_dir_check(tmp_path / "file").ok
    config = tmp_path / "config.yaml"
    config.write_text("{}\n")
    os.chmod(config, 0o666)
    check = state_dir_check(state, config)
    assert not check.ok and "writable by" in check.detail and check.fix == f"chmod go-w {config}"


# ---- token ------------------------------------------------------------------------------------------
def test_token_absent_refused_and_valid(tmp_path: Path) -> None:
    state = tmp_path / "state"
    missing = token_check(state)
    assert not missing.ok and missing.fix == "run `scrobblerd auth`"
    store = TokenStore(state)
    store.save(Token("a", "r", 7 * 86400, 1_800_000_000, username="sean"))
    good = token_check(state, now=1_800_000_000)
    assert good.ok and "sean" in good.detail and "2027-01-22T08:00:00Z" in good.detail
    expired = token_check(state, now=1_900_000_000)
    assert expired.ok and "refreshed on the next call" in expired.detail
    store.save(Token("a", "r", 7 * 86400, 1_800_000_000, needs_reauth=True))
    refused = token_check(state)
    assert not refused.ok and "refused" in refused.detail and refused.fix == "run `scrobblerd auth`"


# ---- trakt and clock ---------------------------------------------------------------------------------
def test_trakt_reachable_with_the_account(tmp_path: Path, fake: FakeTrakt) -> None:
    config = Config(trakt=fake.config(timeout=3), state_dir=tmp_path / "state")
    login(fake, config.state_dir)
    trakt, clock = trakt_checks(config)
    assert trakt.ok and "account sean (free)" in trakt.detail and " ms" in trakt.detail
    assert clock.ok and "of Trakt's clock" in clock.detail
    assert [(r.path, r.host) for r in fake.requests] == [
        ("/users/settings", "api"),
        ("/oauth/authorize", "auth"),
    ]


def test_an_oauth_host_that_does_not_answer_fails_the_trakt_check(tmp_path: Path, fake: FakeTrakt) -> None:
    config = Config(trakt=fake.config(auth_url="http://127.0.0.1:9", timeout=3), state_dir=tmp_path / "state")
    login(fake, config.state_dir)
    trakt, _clock = trakt_checks(config)
    assert not trakt.ok and "the OAuth host http://127.0.0.1:9 does not" in trakt.detail
    assert "trakt.auth_url" in (trakt.fix or "")


def test_trakt_reachable_without_a_login_still_holds(tmp_path: Path, fake: FakeTrakt) -> None:
    trakt, _clock = trakt_checks(Config(trakt=fake.config(timeout=3), state_dir=tmp_path / "state"))
    assert trakt.ok and "not logged in" in trakt.detail


def test_trakt_unreachable(tmp_path: Path) -> None:
    config = Config(trakt=FakeTrakt().config(api_url="http://127.0.0.1:9", auth_url="http://127.0.0.1:9"))
    trakt, clock = trakt_checks(Config(trakt=config.trakt, state_dir=tmp_path / "state"))
    assert not trakt.ok and "did not answer" in trakt.detail and "network" in (trakt.fix or "")
    assert clock.ok and "not compared" in clock.detail


@pytest.mark.parametrize(
    ("status", "says", "fix"),
    [
        (420, "HTTP 420, the Trakt account hit a limit", "VIP"),
        (423, "HTTP 423, the Trakt account is locked", "trakt.tv"),
        (426, "HTTP 426, a VIP-only feature", "VIP"),
    ],
)
def test_account_statuses(tmp_path: Path, fake: FakeTrakt, status: int, says: str, fix: str) -> None:
    config = Config(trakt=fake.config(timeout=3), state_dir=tmp_path / "state")
    login(fake, config.state_dir)
    fake.fail_next(1, status, paths="/users/settings")
    trakt, _clock = trakt_checks(config)
    assert not trakt.ok and trakt.detail.startswith(says) and fix in (trakt.fix or "")


def test_a_removed_own_app_is_explained_with_the_way_back(tmp_path: Path) -> None:
    with FakeTrakt(client_id="the-built-in-one") as fake:
        config = Config(trakt=fake.config(client_id="my-own-app", timeout=3), state_dir=tmp_path / "state")
        trakt, _clock = trakt_checks(config)
    assert not trakt.ok and "removes apps" in trakt.detail
    assert (
        trakt.fix
        == "remove trakt.client_id and trakt.client_secret from the config, then run `scrobblerd auth`"
    )


def test_clock_against_trakts_date_header(tmp_path: Path, fake: FakeTrakt) -> None:
    config = Config(trakt=fake.config(timeout=3), state_dir=tmp_path / "state")
    fake.date_offset = -120.0  # Trakt's clock behind ours: ours is ahead
    _trakt, clock = trakt_checks(config)
    assert not clock.ok and "timedatectl set-ntp" in (clock.fix or "")
    assert re.search(r"is 12[01] s ahead of Trakt's", clock.detail), clock.detail  # Date has whole seconds
    fake.date_offset = 45.0
    _trakt, clock = trakt_checks(config)
    assert not clock.ok and "behind" in clock.detail
    fake.date_offset = 10.0
    _trakt, clock = trakt_checks(config)
    assert clock.ok
    assert not clock_check(("Sat, 05 Dec 2026 12:00:00 GMT", 1796472000.0 + 31)).ok
    assert clock_check(("garbage", 0.0)).ok  # not comparable: said so, not a failure


# ---- queue ------------------------------------------------------------------------------------------
def _watch(n: int, at: float) -> ScrobbleAction:
    media = MediaRef(path=f"/v/Movie.{n}.mkv", title=f"Movie {n}", kind="movie", year=2000)
    return ScrobbleAction(ActionKind.STOP, "mpv:x", f"v{n}", media, 95.0, at, watched=True)


def test_queue_failed_and_old_and_fine(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert queue_check(state, 21600).ok
    now = time.time()
    with Store.open(state) as store:
        row = deliveries.enqueue_watch(store, _watch(1, now - 100), now - 100)
    fine = queue_check(state, 21600, now=now)
    assert fine.ok and "1 waiting" in fine.detail
    old = queue_check(state, 21600, now=now + 7 * 3600)
    assert not old.ok and "7.0 h" in old.detail and "queue list" in (old.fix or "")
    with Store.open(state) as store, store.write() as conn:
        assert row is not None
        deliveries.fail(conn, [row], "not_found: movies")
    failed = queue_check(state, 21600, now=now)
    assert not failed.ok and "1 delivery(ies) failed" in failed.detail and "not_found" in failed.detail
    assert "queue retry" in (failed.fix or "")


# ---- service ----------------------------------------------------------------------------------------
class Systemctl:
    """systemctl as scripted answers: unit name -> its `show -p` properties."""

    def __init__(self, units: dict[str, str]) -> None:
        self.units = units
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> tuple[int, str]:
        self.calls.append(list(args))
        unit = next(a for a in args if a.endswith(".service"))
        return 0, self.units.get(unit, "LoadState=not-found\nUnitFileState=\nActiveState=inactive\n")


def test_service_states() -> None:
    on = "LoadState=loaded\nUnitFileState=enabled\nActiveState=active\n"
    check = service_check(None, systemctl=Systemctl({"scrobblerd.service": on}), present=True, user="sean")
    assert check.ok and "enabled and running" in check.detail
    off = "LoadState=loaded\nUnitFileState=disabled\nActiveState=inactive\n"
    check = service_check(None, systemctl=Systemctl({"scrobblerd.service": off}), present=True, user="sean")
    assert not check.ok and check.fix == "systemctl --user enable --now scrobblerd"
    dead = "LoadState=loaded\nUnitFileState=enabled\nActiveState=failed\n"
    check = service_check(
        None, systemctl=Systemctl({"scrobblerd@sean.service": dead}), present=True, user="sean"
    )
    assert (
        not check.ok
        and check.fix == "systemctl restart scrobblerd@sean; then journalctl -u scrobblerd@sean -e"
    )
    check = service_check(None, systemctl=Systemctl({}), present=True, user="sean")
    assert not check.ok and check.fix == "scrobblerd service install"
    by_hand = service_check(4242, systemctl=Systemctl({}), present=True, user="sean")
    assert by_hand.ok and "runs by hand (pid 4242)" in by_hand.detail
    absent = service_check(None, systemctl=Systemctl({}), present=False)
    assert absent.ok and absent.detail.startswith("not applicable: no systemd")


# ---- status: the same problems, briefly ----------------------------------------------------------------
def status(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scrobblerd", "--config", str(config), "status", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize(
    ("error", "says"),
    [
        ("scrobble/stop: HTTP 423 Locked: the Trakt account is locked; see trakt.tv", "account is locked"),
        ("sync/history: HTTP 420: the Trakt account hit a limit", "hit a limit (HTTP 420)"),
        ("sync/ratings: HTTP 426: this feature needs a Trakt VIP account", "needs a VIP account (HTTP 426)"),
    ],
)
def test_status_lists_the_problems_and_points_to_doctor(tmp_path: Path, error: str, says: str) -> None:
    config = config_file(tmp_path, None)
    state = tmp_path / "state"
    TokenStore(state).save(Token("a", "r", 7 * 86400, int(time.time()), needs_reauth=True))
    now = time.time()
    with Store.open(state) as store:
        row = deliveries.enqueue_watch(store, _watch(1, now), now)
        assert row is not None
        with store.write() as conn:
            deliveries.fail(conn, [row], "not_found: movies")
        store.kv_put("delivery", {"paused_for_auth": False, "last_error": error, "updated_at": "x"})
    report = json.loads(status(config, "--json").stdout)
    assert report["problems"] == [
        "Trakt refused the login: watches wait in the queue until `scrobblerd auth`",
        next(p for p in report["problems"] if says in p),
        "the daemon is not running: nothing is watched",
        "1 delivery(ies) failed for good",
    ]
    text = status(config).stdout
    assert "Problems:  Trakt refused the login" in text and says in text
    assert "`scrobblerd doctor` checks everything and says how to fix each." in text


def test_status_without_problems_says_nothing_about_them(tmp_path: Path, fake: FakeTrakt) -> None:
    config = config_file(tmp_path, fake)
    login(fake, tmp_path / "state")
    report = json.loads(status(config, "--json").stdout)
    assert report["problems"] == ["the daemon is not running: nothing is watched"]
    with Store.open(tmp_path / "state") as store:
        store.kv_put(
            "delivery", {"paused_for_auth": False, "last_error": "scrobble/stop: HTTP 503", "updated_at": "x"}
        )
    assert (
        json.loads(status(config, "--json").stdout)["problems"] == report["problems"]
    )  # 503 is not the account


def test_watches_the_database_refused_fail_the_queue_check_with_what_to_do(tmp_path: Path) -> None:
    import json as json_

    from scrobblerd.models import ActionKind, MediaRef, ScrobbleAction
    from scrobblerd.store.deliveries import watch_payload
    from scrobblerd.store.unsaved import JOURNAL_NAME

    state = tmp_path / "state"
    Store.open(state).close()
    held = queue_check(state, 21600, unsaved=2)
    assert not held.ok
    assert "2 held by the daemon" in held.detail
    assert held.fix is not None and "free space" in held.fix
    watch = ScrobbleAction(ActionKind.STOP, "mpv:x", "v1", MediaRef(path="/m.mkv"), 95.0, 1e9, watched=True)
    (state / JOURNAL_NAME).write_text(json_.dumps(watch_payload(watch)) + "\n")
    journaled = queue_check(state, 21600)
    assert not journaled.ok
    assert f"1 kept in {state / JOURNAL_NAME}" in journaled.detail
