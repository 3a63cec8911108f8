"""Token store, device login, refresh and the auth/logout commands, against the Trakt-like server."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from scrobblerd import logs
from scrobblerd.config.settings import Config, TraktConfig
from scrobblerd.errors import AuthError, TransientError, UnauthorizedError
from scrobblerd.models import ActionKind, Movie
from scrobblerd.trakt.auth import (
    Token,
    TokenManager,
    TokenStore,
    auth_status,
    device_login,
    refresh_margin,
)
from scrobblerd.trakt.client import TraktClient
from scrobblerd.trakt.objects import DeviceCode
from tests.trakt_server import FakeTrakt

ROOT = Path(__file__).resolve().parent.parent
MATRIX = Movie("The Matrix", 1999, {"trakt": 481})


@pytest.fixture
def fake() -> Iterator[FakeTrakt]:
    with FakeTrakt() as t:
        t.add_movie("The Matrix", 1999, {"trakt": 481, "imdb": "tt0133093"})
        yield t


@pytest.fixture
def oauth(fake: FakeTrakt) -> Iterator[TraktClient]:
    with TraktClient(TraktConfig(api_url=fake.url, auth_url=fake.auth_url, timeout=3)) as client:
        yield client


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "state")


class Clock:
    """A fake clock that `sleep` advances: the device flow's pacing without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# ---- token store ---------------------------------------------------------------------------------
def test_token_file_is_0600_in_a_0700_dir_and_round_trips(store: TokenStore) -> None:
    token = Token("a" * 64, "r" * 64, 86400, 1_700_000_000, username="sean")
    store.save(token)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert store.load() == token
    assert [p.name for p in store.path.parent.iterdir()] == ["token.json"]  # no temp files left
    assert "a" * 64 not in repr(token)


def test_existing_state_dir_is_tightened(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    TokenStore(state).save(Token("a", "r", 10, 0))
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_corrupt_token_file_is_moved_aside(store: TokenStore, oauth: TraktClient) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{not json")
    manager = TokenManager(store, oauth)
    with pytest.raises(AuthError, match="moved to"):
        manager.access_token()
    assert not store.path.exists()
    assert len(list(store.path.parent.glob("token.json.corrupt-*"))) == 1
    status = manager.status()
    assert status["authorized"] is False and "unreadable" in status["problem"]


# ---- device flow ---------------------------------------------------------------------------------
def test_device_flow_pending_slow_down_then_success(fake: FakeTrakt, oauth: TraktClient) -> None:
    clock, shown = Clock(), []
    fake.device_script = [400, 429, 400, 200]
    token = device_login(oauth, shown.append, sleep=clock.sleep, clock=clock)
    assert fake.token_valid(token["access_token"])
    assert clock.sleeps == [5, 5, 10, 10]  # interval honoured, +5 s after 429
    assert isinstance(shown[0], DeviceCode) and shown[0].verification_url == fake.verification_url
    polls = [r for r in fake.requests if r.path == "/oauth/device/token"]
    assert len(polls) == 4
    assert polls[0].json == {
        "code": shown[0].device_code,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
    }


def test_device_flow_approval_by_the_user(fake: FakeTrakt, oauth: TraktClient) -> None:
    clock = Clock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 3:
            fake.approve()

    token = device_login(oauth, lambda code: None, sleep=sleep, clock=clock)
    assert fake.token_valid(token["access_token"]) and len(clock.sleeps) == 3


@pytest.mark.parametrize(
    ("status", "message"),
    [(404, "invalid device code"), (409, "already used"), (410, "expired"), (418, "denied")],
)
def test_device_flow_failures(fake: FakeTrakt, oauth: TraktClient, status: int, message: str) -> None:
    clock = Clock()
    fake.device_script = [400, status]
    with pytest.raises(AuthError, match=message):
        device_login(oauth, lambda code: None, sleep=clock.sleep, clock=clock)
    assert len(clock.sleeps) == 2


def test_device_flow_denied_on_the_server(fake: FakeTrakt, oauth: TraktClient) -> None:
    clock = Clock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        fake.deny()

    with pytest.raises(AuthError, match="denied"):
        device_login(oauth, lambda code: None, sleep=sleep, clock=clock)


def test_device_flow_stops_when_the_code_expires(fake: FakeTrakt, oauth: TraktClient) -> None:
    clock = Clock()
    fake.device_expires_in = 17
    with pytest.raises(AuthError, match="expired"):
        device_login(oauth, lambda code: None, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [5, 5, 5]  # never polls past expires_in
    assert len([r for r in fake.requests if r.path == "/oauth/device/token"]) == 3


def test_device_flow_rides_out_transient_errors(fake: FakeTrakt, oauth: TraktClient) -> None:
    clock = Clock()
    fake.fail_next(1, 503, paths="/oauth/device/token")
    fake.drop_next(1, paths="/oauth/device/token")
    fake.device_script = [400, 400, 200]  # the faulted polls do not consume the script
    token = device_login(oauth, lambda code: None, sleep=clock.sleep, clock=clock)
    assert fake.token_valid(token["access_token"]) and len(clock.sleeps) == 5


# ---- refresh -------------------------------------------------------------------------------------
def login(fake: FakeTrakt, store: TokenStore, oauth: TraktClient, **kw: Any) -> TokenManager:
    manager = TokenManager(store, oauth)
    manager.store_login(fake.issue_token(**kw), "sean")
    return manager


def test_refresh_ahead_of_expiry_rotates_and_persists(
    fake: FakeTrakt, store: TokenStore, oauth: TraktClient
) -> None:
    manager = login(fake, store, oauth, expires_in=86400, created_at=int(time.time()) - 86400 + 1800)
    old = store.load()
    assert old is not None and old.refresh_due(time.time())
    access = manager.access_token()
    new = store.load()
    assert new is not None and access == new.access_token != old.access_token
    assert new.refresh_token != old.refresh_token and new.username == "sean"
    assert not fake.refresh_valid(old.refresh_token) and fake.refresh_valid(new.refresh_token)
    assert manager.access_token() == access  # fresh now: no second refresh
    assert [r.path for r in fake.requests] == ["/oauth/token"]
    assert fake.requests[0].json["grant_type"] == "refresh_token"
    assert fake.requests[0].json["redirect_uri"] == "urn:ietf:wg:oauth:2.0:oob"


def test_not_due_for_refresh_with_most_of_a_day_left(
    fake: FakeTrakt, store: TokenStore, oauth: TraktClient
) -> None:
    manager = login(fake, store, oauth, expires_in=86400)
    manager.access_token()
    assert manager.refresh_if_due() is False
    assert fake.requests == []
    assert not Token("a", "r", 7 * 86400, 0).refresh_due(6 * 86400)


@pytest.mark.parametrize(
    ("lifetime", "margin"),
    [
        (30, 5.0),  # at least a few seconds: a 30 s token is refreshed at 25 s, not every call
        (8, 4.0),  # never more than half the lifetime
        (600, 60.0),  # 10 % of the lifetime
        (86400, 3600.0),  # at most an hour
        (7 * 86400, 3600.0),
        (90 * 86400, 3600.0),
    ],
)
def test_refresh_margin_scales_with_the_lifetime(lifetime: int, margin: float) -> None:
    assert refresh_margin(lifetime) == margin
    token = Token("a", "r", lifetime, 1000)
    assert not token.refresh_due(1000 + lifetime - margin - 0.01)
    assert token.refresh_due(1000 + lifetime - margin + 0.01)


def test_short_lived_tokens_refresh_about_once_per_lifetime(
    fake: FakeTrakt, store: TokenStore, oauth: TraktClient
) -> None:
    """A daemon handed 30 s tokens asks for a token every second for 16 minutes (simulated clock)."""
    now = [float(time.time())]
    fake.token_expires_in = 30
    fake.clock = lambda: now[0]
    manager = TokenManager(store, oauth, clock=lambda: now[0])
    manager.store_login(fake.issue_token(created_at=int(now[0])), "sean")
    for _ in range(16 * 60):
        manager.access_token()
        now[0] += 1.0
    refreshes = [r.path for r in fake.requests].count("/oauth/token")
    assert 16 * 60 // 30 <= refreshes <= 16 * 60 // 25 + 1  # once per 25 s, not once a second


class RecordingStore(TokenStore):
    def __init__(self, state_dir: Path) -> None:
        super().__init__(state_dir)
        self.saved_at: dict[str, float] = {}

    def save(self, token: Token) -> None:
        super().save(token)
        self.saved_at.setdefault(token.access_token, time.time())


def test_rotated_token_is_on_disk_before_the_new_access_token_is_used(
    fake: FakeTrakt, tmp_path: Path, oauth: TraktClient
) -> None:
    store = RecordingStore(tmp_path / "state")
    manager = login(fake, store, oauth)
    fake.expire_access_tokens()
    with TraktClient(TraktConfig(api_url=fake.url, auth_url=fake.auth_url), manager) as api:
        assert api.scrobble(ActionKind.STOP, MATRIX, 95.0).action == "scrobble"
    new = store.load()
    assert new is not None
    first_use = next(
        r for r in fake.requests if r.headers.get("authorization") == f"Bearer {new.access_token}"
    )
    assert store.saved_at[new.access_token] <= first_use.at


def test_expired_token_is_refreshed_without_any_call_failing(
    fake: FakeTrakt, store: TokenStore, oauth: TraktClient
) -> None:
    manager = login(fake, store, oauth, expires_in=3600, created_at=int(time.time()) - 7200)
    with TraktClient(TraktConfig(api_url=fake.url, auth_url=fake.auth_url), manager) as api:
        assert api.user_settings().username == "sean"
        assert api.scrobble(ActionKind.STOP, MATRIX, 90.0).action == "scrobble"
    statuses = [r.path for r in fake.requests]
    assert statuses == ["/oauth/token", "/users/settings", "/scrobble/stop"]  # no 401 seen at all


def test_concurrent_refreshes_collapse_into_one(
    fake: FakeTrakt, store: TokenStore, oauth: TraktClient
) -> None:
    manager = login(fake, store, oauth)
    fake.expire_access_tokens()
    errors: list[BaseException] = []
    clients = [TraktClient(TraktConfig(api_url=fake.url, auth_url=fake.auth_url), manager) for _ in range(8)]
    gate = threading.Barrier(len(clients))

    def work(api: TraktClient) -> None:
        gate.wait()
        try:
            api.user_settings()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    for c in clients:
        c.close()
    assert errors == []
    assert [r.path for r in fake.requests].count("/oauth/token") == 1


@pytest.mark.parametrize("status", [400, 401])
def test_refused_refresh_marks_needs_reauth(
    fake: FakeTrakt, store: TokenStore, oauth: TraktClient, status: int
) -> None:
    fake.invalid_grant_status = status
    manager = TokenManager(store, oauth)
    manager.store_login({**fake.issue_token(), "refresh_token": "revoked"}, "sean")
    fake.expire_access_tokens()
    with (
        TraktClient(TraktConfig(api_url=fake.url, auth_url=fake.auth_url), manager) as api,
        structlog.testing.capture_logs() as logged,
    ):
        with pytest.raises(UnauthorizedError):
            api.scrobble(ActionKind.STOP, MATRIX, 90.0)
        before = len(fake.requests)
        with pytest.raises(UnauthorizedError, match="scrobblerd auth"):
            api.scrobble(ActionKind.STOP, MATRIX, 90.0)
        assert len(fake.requests) == before  # no more pointless calls until re-auth
        assert manager.refresh_if_due() is False
    refused = [e for e in logged if e["event"] == "token_refresh_refused"]
    assert len(refused) == 1 and refused[0]["hint"] == "run scrobblerd auth"  # said once, clearly
    assert json.loads(store.path.read_text())["needs_reauth"] is True
    cfg = Config(state_dir=store.path.parent)
    assert auth_status(cfg) | {"expires_at": None} == {
        "authorized": False,
        "expires_at": None,
        "username": "sean",
        "needs_reauth": True,
        "problem": None,
    }
    manager.store_login(fake.issue_token(), "sean")  # `scrobblerd auth` again
    assert manager.status()["authorized"] is True and manager.status()["needs_reauth"] is False


def test_transient_refresh_failure_keeps_a_still_valid_token(
    fake: FakeTrakt, store: TokenStore, oauth: TraktClient
) -> None:
    manager = login(fake, store, oauth, expires_in=86400, created_at=int(time.time()) - 86400 + 600)
    current = store.load()
    assert current is not None
    fake.fail_next(1, 503, paths="/oauth/token")
    assert manager.access_token() == current.access_token
    assert manager.access_token() != current.access_token  # refreshed at the next call
    late = login(fake, store, oauth, expires_in=3600, created_at=int(time.time()) - 7200)
    fake.fail_next(1, 502, paths="/oauth/token")
    with pytest.raises(TransientError):
        late.access_token()
    assert not late.status()["needs_reauth"]


def test_token_written_by_another_process_is_picked_up(
    fake: FakeTrakt, store: TokenStore, oauth: TraktClient
) -> None:
    manager = login(fake, store, oauth)
    first = manager.access_token()
    other = TokenManager(TokenStore(store.path.parent), oauth)
    before = store.path.stat().st_mtime_ns
    other.store_login(fake.issue_token(), "sean")
    os.utime(store.path, ns=(before + 1_000_000, before + 1_000_000))  # coarse file systems: force a change
    assert manager.access_token() != first


def test_logout_revokes_and_deletes(fake: FakeTrakt, store: TokenStore, oauth: TraktClient) -> None:
    manager = login(fake, store, oauth)
    access = manager.access_token()
    assert manager.logout() == (True, None)
    assert not store.path.exists() and not fake.token_valid(access)
    assert manager.logout() == (False, None)
    with pytest.raises(AuthError):
        manager.access_token()


# ---- the commands, as a user runs them -----------------------------------------------------------
def write_config(tmp_path: Path, fake: FakeTrakt) -> Path:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"trakt:\n  api_url: {fake.url}\n  auth_url: {fake.auth_url}\n  timeout: 5\n"
        f"state_dir: {tmp_path / 'state'}\n"
    )
    return cfg


def run_cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "scrobblerd", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_auth_command_stores_a_0600_token_and_names_the_account(fake: FakeTrakt, tmp_path: Path) -> None:
    from scrobblerd.config.loader import load_config

    cfg = write_config(tmp_path, fake)
    assert load_config(cfg).trakt.api_url == fake.url  # never let the command reach the real Trakt
    fake.device_interval = 0.05
    fake.device_script = [400, 400, 200]
    out = run_cli(cfg, "auth")
    assert out.returncode == 0, out.stderr
    code = next(r for r in fake.requests if r.path == "/oauth/device/code")
    assert code.json == {"client_id": fake.client_id}
    user_code = [r for r in fake.requests if r.path == "/oauth/device/code"]
    assert fake.verification_url in out.stdout and "Authorised as sean" in out.stdout
    assert len(user_code) == 1
    token_file = tmp_path / "state" / "token.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    saved = json.loads(token_file.read_text())
    assert fake.token_valid(saved["access_token"]) and saved["username"] == "sean"
    assert saved["access_token"] not in out.stdout + out.stderr

    out = run_cli(cfg, "logout")
    assert out.returncode == 0 and "revoked" in out.stdout
    assert not token_file.exists() and not fake.token_valid(saved["access_token"])


def test_auth_shows_the_activation_page_on_the_auth_host(fake: FakeTrakt, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, fake)
    fake.device_interval = 0.05
    fake.device_script = [200]
    fake.verification_url = "https://trakt.tv/activate"  # the address Trakt used to send
    out = run_cli(cfg, "auth")
    assert out.returncode == 0, out.stderr
    assert "\n    https://auth.trakt.tv/activate\n" in out.stdout and "https://trakt.tv/" not in out.stdout


def test_auth_command_reports_denial(fake: FakeTrakt, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, fake)
    fake.device_interval = 0.05
    fake.device_script = [400, 418]
    out = run_cli(cfg, "auth")
    assert out.returncode == 1 and "denied" in out.stderr
    assert not (tmp_path / "state" / "token.json").exists()


# ---- secrets never reach the logs ----------------------------------------------------------------
@pytest.fixture
def debug_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure(level="debug", fmt="json", stream=stream)
    urllib3_level = logging.getLogger("urllib3").level
    yield stream
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "stream", None) is stream:
            root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(urllib3_level)
    structlog.reset_defaults()


def test_debug_logs_never_contain_tokens_or_secrets(
    fake: FakeTrakt, store: TokenStore, oauth: TraktClient, debug_logs: io.StringIO
) -> None:
    clock = Clock()
    fake.device_script = [400, 429, 200]
    manager = TokenManager(store, oauth)
    manager.store_login(device_login(oauth, lambda code: None, sleep=clock.sleep, clock=clock))
    with TraktClient(TraktConfig(api_url=fake.url, auth_url=fake.auth_url), manager) as api:
        manager.set_username(api.user_settings().username)
        fake.expire_access_tokens()
        api.scrobble(ActionKind.STOP, MATRIX, 90.0)  # 401, refresh, retry
        fake.fail_next(1, 401, paths="/scrobble")
        api.scrobble(ActionKind.START, MATRIX, 1.0)  # another refresh after a 401
    manager.logout()
    text = debug_logs.getvalue()
    assert "trakt_http" in text and "token_refreshed" in text
    assert "Starting new HTTP connection" in text  # urllib3's own debug lines were captured too
    secrets = {fake.client_secret}
    for rec in fake.requests:
        if "authorization" in rec.headers:
            secrets.add(rec.headers["authorization"])
            secrets.add(rec.headers["authorization"].removeprefix("Bearer "))
        for key in ("refresh_token", "token", "code", "client_secret"):
            if isinstance(rec.json, dict) and rec.json.get(key):
                secrets.add(rec.json[key])
    assert len(secrets) >= 6
    leaked = [s for s in secrets if s in text]
    assert leaked == []


def test_every_oauth_call_goes_to_the_auth_host(
    fake: FakeTrakt, oauth: TraktClient, store: TokenStore
) -> None:
    clock = Clock()
    fake.device_script = [200]
    manager = TokenManager(store, oauth)
    manager.store_login(device_login(oauth, lambda code: None, sleep=clock.sleep, clock=clock))
    assert manager.refresh_if_due() is False
    manager.refresh_after_401(manager.access_token())
    assert manager.logout() == (True, None)
    oauth_calls = [(r.path, r.host) for r in fake.requests if r.path.startswith("/oauth/")]
    assert oauth_calls == [
        ("/oauth/device/code", "auth"),
        ("/oauth/device/token", "auth"),
        ("/oauth/token", "auth"),
        ("/oauth/revoke", "auth"),
    ]
    assert all(r.host == "api" for r in fake.requests if not r.path.startswith("/oauth/"))


FORCE_REFRESHES = """
import json, sys
from pathlib import Path
from scrobblerd.config.settings import TraktConfig
from scrobblerd.errors import ScrobblerdError
from scrobblerd.trakt.auth import TokenManager, TokenStore
from scrobblerd.trakt.client import TraktClient

state, api, auth, rounds, go = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
oauth = TraktClient(TraktConfig(api_url=api, auth_url=auth, timeout=10))
manager = TokenManager(TokenStore(Path(state)), oauth)
print("ready", flush=True)
while not go.exists():
    pass
errors = []
for _ in range(rounds):
    try:
        manager.refresh_after_401(manager.access_token())  # as if every call got a 401
    except ScrobblerdError as exc:
        errors.append(str(exc))
print(json.dumps({"errors": errors}), flush=True)
"""


def test_two_processes_forcing_refreshes_never_spend_one_refresh_token_twice(
    fake: FakeTrakt, store: TokenStore, oauth: TraktClient, tmp_path: Path
) -> None:
    """Single-use refresh tokens, one token file, two processes refreshing as fast as they can:
    every refresh Trakt sees spends the newest refresh token, so nobody is ever logged out."""
    login(fake, store, oauth)
    go, rounds = tmp_path / "go", 200
    args = [str(store.path.parent), fake.url, fake.auth_url, str(rounds), str(go)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FORCE_REFRESHES, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    assert all(p.stdout is not None and p.stdout.readline() == "ready\n" for p in procs)
    go.touch()  # both start together
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    results = [json.loads(out.strip().splitlines()[-1]) for out in outs]
    assert results == [{"errors": []}, {"errors": []}]
    refreshes = [r for r in fake.requests if r.path == "/oauth/token"]
    assert fake.refreshes_refused == 0  # no refresh token was ever spent twice
    assert rounds <= len(refreshes) <= 2 * rounds
    final = store.load()
    assert final is not None and not final.needs_reauth and fake.token_valid(final.access_token)
    assert fake.refresh_valid(final.refresh_token)


@pytest.mark.parametrize("expires_in", [float("inf"), 1e17, float("nan"), -1, "soon", True])
def test_trakt_sending_an_absurd_token_lifetime_is_a_permanent_error_not_a_crash(expires_in: object) -> None:
    from scrobblerd.errors import PermanentError
    from scrobblerd.trakt.tokenfile import from_reply

    with pytest.raises(PermanentError, match="unusable token: expires_in"):
        from_reply({"access_token": "a", "refresh_token": "r", "expires_in": expires_in}, None, 1.0)
