"""The HTTP server: the standard library's ThreadingHTTPServer, one small handler, no framework.

Every request passes the Host check; everything but /healthz needs the token when one is set;
every state change is a POST with the per-run CSRF token (and a matching Origin, when sent).
"""

from __future__ import annotations

import json
import selectors
import socket
import threading
import traceback
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog

from scrobblerd.web import assets, page
from scrobblerd.web.provider import FixError, Provider
from scrobblerd.web.security import SESSION_COOKIE, Guard, parse_cookies

log = structlog.get_logger()

MAX_BODY = 16 * 1024  # bytes; the largest form is a Trakt URL
HISTORY_LIMIT = 10
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # browsers then send our Origin with a form POST
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
OPEN_PATHS = ("/healthz", "/app.css", "/app.js", "/login")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], provider: Provider, guard: Guard) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        self.provider = provider
        self.guard = guard
        self.flash: str | None = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver would print a traceback to stderr (the journal): a log line instead."""
        log.debug("web_connection_failed", client=str(client_address[0]), traceback=traceback.format_exc())


class WebServer:
    """Serves the page on its own thread; `start` returns False (logged once) when it cannot bind."""

    def __init__(self, host: str, port: int, token: str, provider: Provider) -> None:
        self.host, self.port = host, port
        self.guard = Guard(host, token)
        self._provider = provider
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None  # wakes _serve to stop

    def start(self) -> bool:
        try:
            self._server = _Server((self.host, self.port), self._provider, self.guard)
        except OSError as exc:
            log.error("web_unavailable", listen=f"{self.host}:{self.port}", error=exc.strerror or str(exc))
            return False
        self.port = self._server.server_address[1]
        self._wake = socket.socketpair()
        self._thread = threading.Thread(
            target=self._serve, args=(self._server, self._wake[0]), name="web", daemon=True
        )
        self._thread.start()
        log.info("web_listening", url=self.url)
        return True

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @staticmethod
    def _serve(server: _Server, wake: socket.socket) -> None:
        """Wait for a connection or the stop signal: no polling, so an idle page costs nothing
        (serve_forever wakes twice a second)."""
        with selectors.DefaultSelector() as selector:
            selector.register(server, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj is wake:
                        return
                    server.handle_request()

    def stop(self) -> None:
        if self._thread is not None and self._wake is not None:
            self._wake[1].send(b"x")
            self._thread.join(5)
        if self._server is not None:
            self._server.server_close()
        for end in self._wake or ():
            end.close()
        self._server, self._thread, self._wake = None, None, None


class Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "scrobblerd"
    sys_version = ""
    timeout = 30  # seconds a connection may stay silent: a stalled client does not keep a thread

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("web_request", client=self.client_address[0], path=self.path.split("?", 1)[0])

    # -- entry points --------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._guarded(self._get)

    def do_POST(self) -> None:
        self._guarded(self._post)

    def _guarded(self, route: Any) -> None:
        if not self.server.guard.host_ok(self.headers.get("Host")):
            self._text(HTTPStatus.FORBIDDEN, "unknown Host header (a page reached through another name)\n")
            return
        path = urllib.parse.urlsplit(self.path).path
        if path not in OPEN_PATHS and not self._authorized():
            self._unauthorized(path)
            return
        try:
            route(path)
        except ConnectionError:  # the browser went away mid-answer: nothing to tell it
            log.debug("web_client_gone", path=path)
        except Exception as exc:  # one bad request never takes the server down
            log.error("web_failed", path=path, error=repr(exc), traceback=traceback.format_exc())
            self._text(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error (see the daemon's log)\n")

    def _authorized(self) -> bool:
        cookies = parse_cookies(self.headers.get("Cookie"))
        return self.server.guard.authorized(self.headers.get("Authorization"), cookies)

    def _unauthorized(self, path: str) -> None:
        if path == "/" and self.command == "GET":
            self._html(HTTPStatus.UNAUTHORIZED, page.login_page(self.server.guard.csrf, failed=False))
            return
        self._text(HTTPStatus.UNAUTHORIZED, "unauthorised: send Authorization: Bearer <web.token>\n",
                   {"WWW-Authenticate": 'Bearer realm="scrobblerd"'})  # fmt: skip

    # -- GET -------------------------------------------------------------------------------
    def _get(self, path: str) -> None:
        provider = self.server.provider
        if path == "/":
            self._html(HTTPStatus.OK, self._page(full=True))
        elif path == "/live":
            self._html(HTTPStatus.OK, self._page(full=False))
        elif path == "/api/status":
            self._json(HTTPStatus.OK, provider.status())
        elif path == "/healthz":
            problems = provider.problems()
            body = {"ok": True} if not problems else {"ok": False, "problems": problems}
            self._json(HTTPStatus.OK if not problems else HTTPStatus.SERVICE_UNAVAILABLE, body)
        elif path == "/metrics":
            from scrobblerd.web import metrics as web_metrics  # prometheus-client on the first scrape

            self._send(HTTPStatus.OK, web_metrics.render(provider.gauges), web_metrics.CONTENT_TYPE)
        elif path == "/app.css":
            self._send(HTTPStatus.OK, assets.CSS.encode(), "text/css; charset=utf-8")
        elif path == "/app.js":
            self._send(HTTPStatus.OK, assets.JS.encode(), "text/javascript; charset=utf-8")
        elif path in POST_ROUTES:
            self._text(HTTPStatus.METHOD_NOT_ALLOWED, "use POST\n", {"Allow": "POST"})
        else:
            self._text(HTTPStatus.NOT_FOUND, "not found\n")

    def _page(self, *, full: bool) -> str:
        provider, csrf = self.server.provider, self.server.guard.csrf
        args = (
            provider.status(),
            provider.queue(),
            provider.history(HISTORY_LIMIT),
            provider.problems(),
            csrf,
        )
        if not full:
            return page.sections(*args)
        flash, self.server.flash = self.server.flash, None
        return page.page(*args, flash=flash)

    # -- POST ------------------------------------------------------------------------------
    def _post(self, path: str) -> None:
        guard = self.server.guard
        handler = POST_ROUTES.get(path)
        if handler is None:
            self._text(HTTPStatus.NOT_FOUND, "not found\n")
            return
        form = self._form()
        if form is None:
            return
        if not guard.origin_ok(self.headers.get("Origin"), self.headers.get("Host")):
            self._text(HTTPStatus.FORBIDDEN, "cross-site request refused\n")
            return
        if not guard.csrf_ok(form.get("csrf")):
            self._text(HTTPStatus.FORBIDDEN, "missing or wrong CSRF token: reload the page\n")
            return
        handler(self, form)

    def _form(self) -> dict[str, str] | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "form too large\n")
            return None
        raw = self.rfile.read(length).decode("utf-8", "replace")
        return {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}

    def _queue_action(self, form: dict[str, str]) -> None:
        provider = self.server.provider
        action = self.path.rsplit("/", 1)[-1]
        try:
            row_id = int(form.get("id", ""))
        except ValueError:
            self._text(HTTPStatus.BAD_REQUEST, "id must be a queue id\n")
            return
        done = provider.retry(row_id) if action == "retry" else provider.drop(row_id)
        verb = "retrying" if action == "retry" else "dropped"
        self._done(f"Queue item {row_id}: {verb}." if done else f"Queue item {row_id}: not found.")

    def _fix(self, form: dict[str, str]) -> None:
        target, trakt = form.get("target", "").strip(), form.get("trakt", "").strip()
        if not target or not trakt:
            self._text(HTTPStatus.BAD_REQUEST, "target and trakt are both needed\n")
            return
        try:
            message = self.server.provider.fix(target, trakt)
        except FixError as exc:
            message = f"Not fixed: {exc}"
        self._done(message)

    def _login(self, form: dict[str, str]) -> None:
        session = self.server.guard.login(form.get("token", ""))
        if session is None:
            self._html(HTTPStatus.UNAUTHORIZED, page.login_page(self.server.guard.csrf, failed=True))
            return
        cookie = f"{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/"
        self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})

    def _done(self, message: str) -> None:
        self.server.flash = message
        log.info("web_action", action=self.path, result=message)
        self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": "/"})

    # -- responses -------------------------------------------------------------------------
    def _send(self, status: HTTPStatus, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {**HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _html(self, status: HTTPStatus, html: str) -> None:
        self._send(status, html.encode(), "text/html; charset=utf-8")

    def _json(self, status: HTTPStatus, data: Any) -> None:
        body = json.dumps(data, sort_keys=True, default=str).encode()
        self._send(status, body, "application/json")

    def _text(self, status: HTTPStatus, text: str, extra: dict[str, str] | None = None) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8", extra)


POST_ROUTES = {
    "/queue/retry": Handler._queue_action,
    "/queue/drop": Handler._queue_action,
    "/fix": Handler._fix,
    "/login": Handler._login,
}
