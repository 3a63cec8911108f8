"""Whole-request deadlines against a real, slow peer on 127.0.0.1: a server that drips its answer a
byte at a time (headers or body) never holds the Trakt client, VLC's or Kodi's HTTP client longer
than their timeout; an answer over the size limit is refused as it arrives."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from scrobblerd import deadline
from scrobblerd.config.settings import TraktConfig
from scrobblerd.errors import PlayerError, TransientError
from scrobblerd.players.kodi import rpc as kodi_rpc
from scrobblerd.players.kodi.rpc import HttpRpc, KodiConnectionError
from scrobblerd.players.vlc import http as vlc_http
from scrobblerd.players.vlc.http import VlcHttp, VlcUnreachable
from scrobblerd.trakt.client import TraktClient

BODY = b'{"state": "playing"}' + b" " * 2000
# Without the deadline, each of these answers takes about 20 s (one byte every 10 ms); each
# read returns well inside any per-read timeout.
DRIP_EVERY = 0.01
NO_LONGER_THAN = 5.0  # seconds: the deadlines under test are 0.5-1 s; dripping takes ~20 s


class DripServer:
    """Accepts connections and answers each request with `answer`, `per_send` bytes at a time."""

    def __init__(self, answer: bytes, per_send: int = 1) -> None:
        self.answer, self.per_send = answer, per_send
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            try:
                for i in range(0, len(self.answer), self.per_send):
                    if self._stop.is_set():
                        return
                    conn.sendall(self.answer[i : i + self.per_send])
                    time.sleep(DRIP_EVERY)
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def http_answer(body: bytes) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


@pytest.fixture
def dripping() -> Iterator[DripServer]:
    server = DripServer(http_answer(BODY))
    yield server
    server.close()


def test_a_dripped_answer_ends_at_the_deadline_not_at_each_read(dripping: DripServer) -> None:
    session = deadline.install(requests.Session())
    started = time.monotonic()
    with pytest.raises(requests.Timeout, match=r"no complete answer within 0\.5 s"):
        deadline.request(session, "GET", dripping.url, total=0.5)
    assert time.monotonic() - started < NO_LONGER_THAN


def test_the_trakt_client_gives_up_on_a_dripping_server_within_its_timeout(dripping: DripServer) -> None:
    client = TraktClient(TraktConfig(api_url=dripping.url, auth_url=dripping.url, timeout=1.0))
    started = time.monotonic()
    with pytest.raises(TransientError, match="no answer within 1 s"):
        client.search_id("imdb", "tt0133093")
    assert time.monotonic() - started < NO_LONGER_THAN
    client.close()


def test_vlc_polling_gives_up_on_a_dripping_vlc_within_its_timeout(
    dripping: DripServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vlc_http, "REQUEST_TIMEOUT", 0.5)
    vlc = VlcHttp(dripping.url, "pw")
    started = time.monotonic()
    with pytest.raises(VlcUnreachable, match="Timeout"):
        vlc.get("/requests/status.json")
    assert time.monotonic() - started < NO_LONGER_THAN
    vlc.close()


def test_kodi_http_gives_up_on_a_dripping_kodi_within_its_timeout(
    dripping: DripServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kodi_rpc, "CALL_TIMEOUT", 0.5)
    kodi = HttpRpc(dripping.url + "/jsonrpc", "kodi", "")
    started = time.monotonic()
    with pytest.raises(KodiConnectionError, match="Timeout"):
        kodi.call("JSONRPC.Ping")
    assert time.monotonic() - started < NO_LONGER_THAN
    kodi.close()


def test_headers_dripped_a_byte_at_a_time_are_bounded_too() -> None:
    server = DripServer(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 3000 + b"\r\n\r\n")
    try:
        session = deadline.install(requests.Session())
        started = time.monotonic()
        with pytest.raises(requests.Timeout):
            deadline.request(session, "GET", server.url, total=0.5)
        assert time.monotonic() - started < NO_LONGER_THAN
    finally:
        server.close()


def test_an_answer_over_the_size_limit_is_refused_as_it_arrives() -> None:
    server = DripServer(http_answer(b"[" + b"1," * 200_000 + b"1]"), per_send=65536)
    try:
        session = deadline.install(requests.Session())
        with pytest.raises(deadline.BodyTooLarge, match="over 100000 bytes"):
            deadline.request(session, "GET", server.url, total=30, max_bytes=100_000)
    finally:
        server.close()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"state": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "nested deeper"),
        (b'{"state": "playing"', "not usable JSON"),
    ],
)
def test_a_vlc_body_too_deep_or_broken_is_a_player_error_not_a_crash(body: bytes, why: str) -> None:
    server = DripServer(http_answer(body), per_send=65536)
    try:
        vlc = VlcHttp(server.url, "pw")
        with pytest.raises(PlayerError, match=why):
            vlc.get("/requests/status.json")
        vlc.close()
    finally:
        server.close()


def test_a_deep_kodi_http_reply_is_a_connection_error_not_a_crash() -> None:
    server = DripServer(http_answer(b'{"id": 1, "result": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"), 65536)
    try:
        kodi = HttpRpc(server.url + "/jsonrpc", "kodi", "")
        with pytest.raises(KodiConnectionError, match="nested deeper"):
            kodi.call("JSONRPC.Ping")
        kodi.close()
    finally:
        server.close()


def test_a_trakt_answer_nested_too_deep_is_a_transient_error_not_a_crash() -> None:
    server = DripServer(http_answer(b"[" * 200_000 + b"]" * 200_000), per_send=65536)
    try:
        client = TraktClient(TraktConfig(api_url=server.url, auth_url=server.url, timeout=10.0))
        with pytest.raises(TransientError, match="not JSON"):
            client.search_id("imdb", "tt0133093")
        client.close()
    finally:
        server.close()
