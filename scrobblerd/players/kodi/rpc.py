"""Kodi JSON-RPC transports: push over TCP, requests over HTTP.

The TCP stream is a bare sequence of JSON objects with no delimiter between them, so it is
decoded incrementally. One thread owns the socket: a request is written and the stream is read
until the reply with that id arrives; notifications read meanwhile wait in an inbox and are
handled afterwards, in order. There is no second reader, so nothing can deadlock.
"""

from __future__ import annotations

import codecs
import json
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import requests

from scrobblerd.errors import PlayerError
from scrobblerd.players.kodi.parse import Notification, parse_notification

CONNECT_TIMEOUT = 2.0  # seconds for a TCP connect to a local or LAN Kodi
CALL_TIMEOUT = 5.0  # seconds for one request; Kodi blocked by a modal dialog never answers
MAX_BUFFER = 8 * 1024 * 1024  # characters of undecodable input before it is dropped

Rpc = Callable[..., Any]  # rpc(method, params=None) -> result; raises PlayerError subclasses


class KodiConnectionError(PlayerError):
    """The transport failed: refused, closed, timed out, or not JSON-RPC."""


class KodiUnauthorizedError(KodiConnectionError):
    """Kodi's web server refused the username/password (HTTP 401)."""


class KodiRpcError(PlayerError):
    """Kodi answered a request with a JSON-RPC error object."""


def _frame_end(text: str) -> int | None:
    """End index of the first balanced {...} in `text`, strings respected; None if incomplete."""
    depth, in_string, escaped = 0, False, False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth <= 0:
                return index + 1
    return None


class StreamDecoder:
    """Splits Kodi's delimiter-less stream into JSON objects. Input that can never become an
    object (garbage between objects, a balanced frame that is not JSON) is dropped and counted."""

    def __init__(self) -> None:
        self._json = json.JSONDecoder()
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        self._buf = ""
        self.malformed = 0

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buf += self._utf8.decode(data)
        out: list[dict[str, Any]] = []
        while True:
            self._skip_to_object()
            if not self._buf:
                return out
            try:
                obj, end = self._json.raw_decode(self._buf)
            except json.JSONDecodeError:
                frame = _frame_end(self._buf)
                if frame is None:  # a partial object: wait for more, unless it can never end
                    if len(self._buf) > MAX_BUFFER:
                        self._drop(len(self._buf))
                    return out
                self._drop(frame)
                continue
            self._buf = self._buf[end:]
            if isinstance(obj, dict):
                out.append(obj)
            else:
                self.malformed += 1

    def _skip_to_object(self) -> None:
        self._buf = self._buf.lstrip()
        if self._buf and self._buf[0] != "{":
            start = self._buf.find("{")
            self._drop(start if start >= 0 else len(self._buf))
            self._buf = self._buf.lstrip()

    def _drop(self, count: int) -> None:
        self._buf = self._buf[count:]
        self.malformed += 1


def _result(method: str, reply: Any) -> Any:
    if not isinstance(reply, Mapping):
        raise KodiConnectionError(f"{method}: reply is not a JSON-RPC object")
    error = reply.get("error")
    if error is not None:
        raise KodiRpcError(f"{method}: {error.get('message') if isinstance(error, Mapping) else error}")
    return reply.get("result")


class TcpRpc:
    """Requests and notifications on one TCP connection, used from one thread only."""

    def __init__(self, sock: socket.socket, on_malformed: Callable[[int], None]) -> None:
        self._sock = sock
        self._decoder = StreamDecoder()
        self._inbox: deque[dict[str, Any]] = deque()
        self._next_id = 0
        self._on_malformed = on_malformed

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        self._next_id += 1
        rid = self._next_id
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            request["params"] = params
        try:
            self._sock.sendall(json.dumps(request).encode())
        except OSError as exc:
            raise KodiConnectionError(f"{method}: send failed: {exc}") from exc
        deadline = time.monotonic() + CALL_TIMEOUT
        while True:
            for message in self._inbox:
                if message.get("id") == rid and "method" not in message:
                    self._inbox.remove(message)
                    return _result(method, message)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KodiConnectionError(f"{method}: no reply within {CALL_TIMEOUT} s")
            self._read(remaining)

    def next_notification(self, timeout: float) -> Notification | None:
        """The next notification, waiting up to `timeout` seconds for one."""
        if not self._inbox:
            self._read(timeout)
        while self._inbox:
            note = parse_notification(self._inbox.popleft())
            if note is not None:
                return note
        return None

    def _read(self, timeout: float) -> None:
        self._sock.settimeout(max(timeout, 0.001))
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            return
        except OSError as exc:
            raise KodiConnectionError(f"read failed: {exc}") from exc
        if not data:
            raise KodiConnectionError("connection closed by Kodi")
        before = self._decoder.malformed
        self._inbox.extend(self._decoder.feed(data))
        if self._decoder.malformed != before:
            self._on_malformed(self._decoder.malformed)


class HttpRpc:
    """JSON-RPC over Kodi's web server: POST /jsonrpc with basic auth."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        self._session = requests.Session()
        self._session.auth = (username, password)

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
        if params is not None:
            body["params"] = params
        try:
            response = self._session.post(self.url, json=body, timeout=(CONNECT_TIMEOUT, CALL_TIMEOUT))
        except requests.RequestException as exc:
            raise KodiConnectionError(f"{method}: {exc.__class__.__name__}") from exc
        if response.status_code == 401:
            raise KodiUnauthorizedError("Kodi web server refused the username/password")
        if response.status_code != 200:
            raise KodiConnectionError(f"{method}: HTTP {response.status_code}")
        try:
            return _result(method, response.json())
        except ValueError as exc:
            raise KodiConnectionError(f"{method}: reply is not JSON") from exc

    def close(self) -> None:
        self._session.close()
