"""The web room over real HTTP on 127.0.0.1: every endpoint and every security rule, with a fake
provider standing in for the daemon (the daemon's own provider is tested in tests/e2e/)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from scrobblerd.web.provider import FixError, Gauges
from scrobblerd.web.security import Guard, host_name
from scrobblerd.web.server import WebServer

TOKEN = "web-token-7f3a9c"


class FakeProvider:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.health: list[str] = []
        self.rows = [
            {"id": 7, "kind": "watch", "status": "failed", "attempts": 3,
             "next_attempt_at": "2026-12-05T10:00:00Z", "last_error": "unidentified: /v/Some.Home.Video.mkv",
             "item": {"title": "Some Home Video", "path": "/v/Some.Home.Video.mkv"}},
        ]  # fmt: skip

    def status(self) -> dict[str, Any]:
        return {
            "authorized": True,
            "expires_at": "2026-12-06T10:00:00Z",
            "username": "ann",
            "needs_reauth": False,
            "queue_depth": 0,
            "queue_failed": 1,
            "players": {
                "mpv": {"enabled": True, "connected": True, "instances": {"mpv:/tmp/s": {
                    "connected": True, "state": "playing", "detail": None,
                    "now_playing": {"title": "Breaking Bad <b>", "episode_label": "S01E02",
                                    "season": 1, "episode": 2, "progress": 41.5, "state": "playing",
                                    "path": "/v/bb.mkv"}}}},
                "vlc": {"enabled": False, "connected": False, "instances": {}},
            },
            "last_scrobbles": [],
        }  # fmt: skip

    def problems(self) -> list[str]:
        return list(self.health)

    def queue(self) -> list[dict[str, Any]]:
        return list(self.rows)

    def history(self, limit: int) -> list[dict[str, Any]]:
        return [{"watched_at": "2026-12-05T09:00:00Z", "type": "movie", "title": "The Matrix", "year": 1999,
                 "season": None, "episode": None, "delivered": True, "path": "/v/The.Matrix.1999.mkv",
                 "source": "search", "reason": "Trakt search: best match"}]  # fmt: skip

    def retry(self, row_id: int) -> bool:
        self.calls.append(("retry", row_id))
        return row_id == 7

    def drop(self, row_id: int) -> bool:
        self.calls.append(("drop", row_id))
        return row_id == 7

    def fix(self, target: str, trakt: str) -> str:
        self.calls.append(("fix", (target, trakt)))
        if trakt == "nonsense":
            raise FixError("not a Trakt URL or id")
        return f"{target} is now {trakt}"

    def gauges(self) -> Gauges:
        return Gauges({"pending": 2, "inflight": 0, "failed": 1}, 42.0, {("mpv", "mpv:/tmp/s"): True}, 3600.0)


class Page:
    """A served page and a client that talks to it like a browser on this machine."""

    def __init__(self, token: str = "", host: str = "127.0.0.1") -> None:
        self.provider = FakeProvider()
        self.server = WebServer(host, 0, token, self.provider)
        assert self.server.start()
        self.url = self.server.url
        self.http = requests.Session()
        self.http.trust_env = False  # never a proxy for 127.0.0.1

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=5, allow_redirects=False, **kw)

    def post(self, path: str, data: dict[str, str], **kw: Any) -> requests.Response:
        return self.http.post(self.url + path, data=data, timeout=5, allow_redirects=False, **kw)

    def csrf(self, **kw: Any) -> str:
        found = re.search(r'name=csrf value="([^"]+)"', self.get("/", **kw).text)
        assert found is not None
        return found.group(1)


@pytest.fixture
def web() -> Iterator[Page]:
    page = Page()
    yield page
    page.server.stop()


@pytest.fixture
def locked() -> Iterator[Page]:
    page = Page(token=TOKEN)
    yield page
    page.server.stop()


def test_page_shows_what_plays_the_account_the_queue_and_history(web: Page) -> None:
    resp = web.get("/")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    html = resp.text
    assert "Breaking Bad &lt;b&gt;" in html and "<b>" not in html.split("Breaking Bad")[1][:5]
    assert 'value="41.5"' in html and "S01E02" in html and ">playing<" in html
    assert "Authorised as ann" in html and "2026-12-06T10:00:00Z" in html
    assert "unidentified: /v/Some.Home.Video.mkv" in html and 'data-action="retry-7"' in html
    assert 'data-action="drop-7"' in html and 'data-fix="7"' in html
    assert "The Matrix (1999)" in html and "identified by search" in html
    assert 'name="viewport"' in html or "name=viewport" in html


def test_live_fragment_is_the_page_sections_alone(web: Page) -> None:
    resp = web.get("/live")
    assert resp.status_code == 200
    assert resp.text.startswith("<section id=health>") and "<html" not in resp.text
    assert "S01E02" in resp.text


def test_every_response_carries_the_protective_headers(web: Page) -> None:
    for path in ("/", "/api/status", "/healthz", "/metrics", "/app.js", "/nowhere"):
        resp = web.get(path)
        assert resp.headers["X-Frame-Options"] == "DENY", path
        assert resp.headers["X-Content-Type-Options"] == "nosniff", path
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"], path
    assert web.get("/nowhere").status_code == 404


def test_api_status_is_the_providers_status(web: Page) -> None:
    resp = web.get("/api/status")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    assert resp.json() == web.provider.status()


def test_healthz_is_200_when_healthy_and_503_with_reasons(web: Page) -> None:
    assert (web.get("/healthz").status_code, web.get("/healthz").json()) == (200, {"ok": True})
    web.provider.health = ["the delivery worker is not running"]
    resp = web.get("/healthz")
    assert resp.status_code == 503
    assert resp.json() == {"ok": False, "problems": ["the delivery worker is not running"]}


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8787", "127.0.0.1.nip.io", "", "[::2]:1"])
def test_a_foreign_host_header_is_refused_on_every_path(web: Page, host: str) -> None:
    for path in ("/", "/api/status", "/healthz", "/metrics", "/live"):
        assert web.get(path, headers={"Host": host}).status_code == 403, (path, host)
    csrf = web.csrf()
    assert web.post("/queue/retry", {"csrf": csrf, "id": "7"}, headers={"Host": host}).status_code == 403
    assert web.provider.calls == []


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8787", "127.0.0.1:8787", "[::1]:8787", "127.0.0.2"])
def test_loopback_host_headers_are_accepted(web: Page, host: str) -> None:
    assert web.get("/api/status", headers={"Host": host}).status_code == 200


def test_retry_and_drop_need_post_and_the_csrf_token(web: Page) -> None:
    assert web.get("/queue/retry?id=7").status_code == 405
    assert web.post("/queue/retry", {"id": "7"}).status_code == 403
    assert web.post("/queue/retry", {"id": "7", "csrf": "guess"}).status_code == 403
    assert web.provider.calls == []
    csrf = web.csrf()
    resp = web.post("/queue/retry", {"id": "7", "csrf": csrf})
    assert resp.status_code == 303 and resp.headers["Location"] == "/"
    assert web.post("/queue/drop", {"id": "7", "csrf": csrf}).status_code == 303
    assert web.provider.calls == [("retry", 7), ("drop", 7)]
    assert "Queue item 7: dropped." in web.get("/").text  # the outcome is shown once
    assert "Queue item 7" not in web.get("/").text


def test_a_cross_site_origin_is_refused_even_with_the_token(web: Page) -> None:
    csrf = web.csrf()
    resp = web.post("/queue/drop", {"id": "7", "csrf": csrf}, headers={"Origin": "http://evil.example"})
    assert resp.status_code == 403
    same = web.post("/queue/drop", {"id": "7", "csrf": csrf}, headers={"Origin": web.url})
    assert same.status_code == 303
    assert web.provider.calls == [("drop", 7)]


def test_the_fix_form_applies_a_correction_and_reports_a_bad_one(web: Page) -> None:
    csrf = web.csrf()
    url = "https://trakt.tv/movies/the-matrix-1999"
    assert web.post("/fix", {"csrf": csrf, "target": "7", "trakt": url}).status_code == 303
    assert f"7 is now {url}" in web.get("/").text
    assert web.post("/fix", {"csrf": csrf, "target": "7", "trakt": "nonsense"}).status_code == 303
    assert "Not fixed: not a Trakt URL or id" in web.get("/").text
    assert web.post("/fix", {"csrf": csrf, "target": "", "trakt": url}).status_code == 400
    assert web.provider.calls == [("fix", ("7", url)), ("fix", ("7", "nonsense"))]


def test_a_form_larger_than_the_limit_is_refused(web: Page) -> None:
    resp = web.post("/fix", {"csrf": web.csrf(), "target": "7", "trakt": "x" * 20_000})
    assert resp.status_code == 413
    assert web.provider.calls == []


def test_with_a_token_everything_but_healthz_needs_it(locked: Page) -> None:
    for path in ("/api/status", "/metrics", "/live"):
        assert locked.get(path).status_code == 401, path
        assert locked.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401, path
        assert locked.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200, path
    assert locked.get("/healthz").status_code == 200
    page = locked.get("/")
    assert page.status_code == 401 and "Log in" in page.text
    csrf = re.search(r'name=csrf value="([^"]+)"', page.text)
    assert csrf is not None
    assert locked.post("/queue/retry", {"csrf": csrf.group(1), "id": "7"}).status_code == 401
    assert locked.provider.calls == []


def test_logging_in_with_the_token_opens_the_page_for_that_browser(locked: Page) -> None:
    csrf = re.search(r'name=csrf value="([^"]+)"', locked.get("/").text)
    assert csrf is not None
    wrong = locked.post("/login", {"csrf": csrf.group(1), "token": "nope"})
    assert wrong.status_code == 401 and "Wrong token" in wrong.text
    resp = locked.post("/login", {"csrf": csrf.group(1), "token": TOKEN})
    assert resp.status_code == 303
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    assert locked.get("/").status_code == 200  # the session cookie came back
    assert locked.post("/queue/retry", {"csrf": csrf.group(1), "id": "7"}).status_code == 303
    assert locked.provider.calls == [("retry", 7)]


def test_the_token_appears_in_no_response(locked: Page) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/", "/live", "/api/status", "/metrics", "/healthz", "/app.js", "/app.css"):
        resp = locked.get(path, headers=auth)
        assert TOKEN not in resp.text and TOKEN not in str(resp.headers), path


def test_a_port_in_use_is_reported_and_start_returns_false() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = WebServer("127.0.0.1", taken.getsockname()[1], "", FakeProvider())
        assert server.start() is False
        assert not server.alive()


def test_host_names_are_read_without_their_port() -> None:
    assert host_name("LocalHost:8787") == "localhost"
    assert host_name("[::1]:8787") == "::1"
    assert host_name("::1") == "::1"
    assert host_name("example:port") is None
    assert host_name(None) is None


def test_on_a_network_address_ip_literals_and_the_machines_name_pass() -> None:
    guard = Guard("0.0.0.0", TOKEN)
    assert guard.host_ok("192.168.1.5:8787") and guard.host_ok(socket.gethostname())
    assert not guard.host_ok("rebound.evil.example")
    loopback = Guard("127.0.0.1", "")
    assert not loopback.host_ok("192.168.1.5:8787")


def test_prometheus_client_is_imported_only_at_the_first_scrape() -> None:
    code = (
        "import sys\nimport scrobblerd.daemon.lifecycle, scrobblerd.web.server\n"
        "assert 'prometheus_client' not in sys.modules\nprint('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
