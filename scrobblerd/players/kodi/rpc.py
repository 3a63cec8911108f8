"""Kodi JSON-RPC transports: push over TCP, requests over HTTP.

The TCP stream is a bare sequence of JSON objects with no delimiter between them, so it is
decoded incrementally. One thread owns the socket: a request is written and the stream is read
until the reply with that id arrives; notifications read meanwhile wait in an inbox and are
handled afterwards, in order. There is no second reader, so nothing can deadlock.
"""

from __future__ import annotations

import codecs
import json
import re
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import requests

from scrobblerd import deadline
from scrobblerd.errors import PlayerError
from scrobblerd.players import fields
from scrobblerd.players.kodi.parse import Notification, parse_notification

CONNECT_TIMEOUT = 2.0  # seconds for a TCP connect to a local or LAN Kodi
CALL_TIMEOUT = 5.0  # seconds for one request; Kodi blocked by a modal dialog never answers
MAX_MESSAGE = 4 * 1024 * 1024  # characters; Kodi's largest replies to us are a few KiB
MAX_DEPTH = 64  # nesting levels; Kodi's deepest message to us is about 5
RESYNC_AFTER = 4 * MAX_MESSAGE  # characters of one unfinished frame before the stream is resynchronised

Rpc = Callable[..., Any]  # rpc(method, params=None) -> result; raises PlayerError subclasses


class KodiConnectionError(PlayerError):
    """The transport failed: refused, closed, timed out, or not JSON-RPC."""


class KodiUnauthorizedError(KodiConnectionError):
    """Kodi's web server refused the username/password (HTTP 401)."""


class KodiRpcError(PlayerError):
    """Kodi answered a request with a JSON-RPC error object."""


_OUTSIDE = re.compile(r'[{}\[\]"]')  # what changes the framing state outside a string
_INSIDE = re.compile(r'["\\]')  # ... and inside one


class StreamDecoder:
    """Splits Kodi's delimiter-less stream into JSON objects in one pass: each character is
    looked at once, however the stream is cut (a regular expression jumps between the brackets
    and quotes that matter), and each complete frame is decoded once.

    Dropped and counted: garbage between objects, a frame that is not JSON (`malformed`), a frame
    over MAX_MESSAGE characters (`oversized`, skipped to its end without being kept) and one
    nested deeper than MAX_DEPTH (`too_deep`, never handed to the JSON decoder)."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        self._parts: list[str] = []
        self._size = 0
        self._depth = 0
        self._in_string = False
        self._skip_next = False  # the character after a backslash inside a string
        self._too_big = False
        self._too_deep = False
        self.malformed = 0
        self.oversized = 0
        self.too_deep = 0

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        text = self._utf8.decode(data)
        out: list[dict[str, Any]] = []
        pos = 0
        while pos < len(text):
            if self._depth == 0:
                pos = self._to_next_frame(text, pos)
                continue
            start, end = pos, self._scan(text, pos)
            self._keep(text[start:end])
            pos = end
            if self._depth == 0:
                self._finish(out)
        return out

    def _to_next_frame(self, text: str, pos: int) -> int:
        start = text.find("{", pos)
        if text[pos : start if start >= 0 else len(text)].strip():
            self.malformed += 1  # garbage between objects
        if start < 0:
            return len(text)
        self._depth, self._in_string, self._skip_next = 1, False, False
        self._parts, self._size, self._too_big, self._too_deep = ["{"], 1, False, False
        return start + 1

    def _scan(self, text: str, pos: int) -> int:
        """Advance through `text` until the frame ends (returns the index after it) or the text does."""
        while True:
            if self._skip_next:
                if pos >= len(text):
                    return pos
                self._skip_next, pos = False, pos + 1
            match = (_INSIDE if self._in_string else _OUTSIDE).search(text, pos)
            if match is None:
                return len(text)
            char, pos = match.group(), match.end()
            if self._in_string:
                if char == "\\":
                    self._skip_next = True
                else:
                    self._in_string = False
            elif char == '"':
                self._in_string = True
            elif char in "{[":
                self._depth += 1
                self._too_deep = self._too_deep or self._depth > MAX_DEPTH
            else:
                self._depth -= 1
                if self._depth == 0:
                    return pos

    def _keep(self, piece: str) -> None:
        self._size += len(piece)
        if self._depth and self._size > RESYNC_AFTER:  # a frame that never ends: start over
            self.oversized, self._depth, self._parts = self.oversized + 1, 0, []
            return
        if self._too_big or self._too_deep:
            return
        if self._size > MAX_MESSAGE:
            self._too_big, self._parts = True, []
            return
        self._parts.append(piece)

    def _finish(self, out: list[dict[str, Any]]) -> None:
        frame, self._parts = "".join(self._parts), []
        if self._too_deep:
            self.too_deep += 1
        elif self._too_big:
            self.oversized += 1
        else:
            try:
                obj = json.loads(frame)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                out.append(obj)
            else:
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

    def __init__(
        self,
        sock: socket.socket,
        on_malformed: Callable[[int], None],
        on_rejected: Callable[[str], None] | None = None,
    ) -> None:
        self._sock = sock
        self._decoder = StreamDecoder()
        self._inbox: deque[dict[str, Any]] = deque()
        self._next_id = 0
        self._on_malformed = on_malformed
        self._on_rejected = on_rejected

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
        decoder = self._decoder
        before = (decoder.malformed, decoder.oversized, decoder.too_deep)
        self._inbox.extend(decoder.feed(data))
        if decoder.malformed != before[0]:
            self._on_malformed(decoder.malformed)
        if self._on_rejected is not None and decoder.oversized != before[1]:
            self._on_rejected(f"a message over {MAX_MESSAGE} characters was skipped")
        if self._on_rejected is not None and decoder.too_deep != before[2]:
            self._on_rejected(f"a message nested deeper than {MAX_DEPTH} levels was skipped")


class HttpRpc:
    """JSON-RPC over Kodi's web server: POST /jsonrpc with basic auth."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        self._session = deadline.install(requests.Session())
        self._session.auth = (username, password)

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
        if params is not None:
            body["params"] = params
        try:
            response = deadline.request(  # the whole request within CALL_TIMEOUT, not per read
                self._session,
                "POST",
                self.url,
                json=body,
                connect=CONNECT_TIMEOUT,
                total=CALL_TIMEOUT,
                max_bytes=MAX_MESSAGE,
            )
        except requests.RequestException as exc:
            raise KodiConnectionError(f"{method}: {exc.__class__.__name__}") from exc
        if response.status_code == 401:
            raise KodiUnauthorizedError("Kodi web server refused the username/password")
        if response.status_code != 200:
            raise KodiConnectionError(f"{method}: HTTP {response.status_code}")
        try:
            reply = fields.loads(response.content)
        except fields.MessageRejected as exc:
            raise KodiConnectionError(f"{method}: reply refused: {exc}") from None
        except ValueError as exc:
            raise KodiConnectionError(f"{method}: reply is not JSON") from exc
        return _result(method, reply)

    def close(self) -> None:
        self._session.close()
