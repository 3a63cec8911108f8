"""mpv's JSON IPC client: newline-delimited JSON over a Unix socket, one thread per connection.

The client is our own: python-mpv-jsonipc leaks a socket on every refused connect (a
ResourceWarning per retry), has a fixed 120 s command timeout and runs two threads per connection.
"""

from __future__ import annotations

import json
import socket
import time
from collections import deque
from typing import Any

from scrobblerd.errors import PlayerError
from scrobblerd.players import fields

# mpv answers IPC requests from its core loop within milliseconds; silence this long means a
# hung mpv or a socket that is not mpv's.
REQUEST_TIMEOUT = 3.0  # seconds


def split_lines(buffer: bytes, rejected: list[str] | None = None) -> tuple[list[dict[str, Any]], bytes]:
    """Complete newline-delimited JSON messages in `buffer`, and the incomplete rest. A line
    too large or too deep is skipped and its reason appended to `rejected`."""
    *lines, rest = buffer.split(b"\n")
    messages = []
    for line in lines:
        try:
            message = fields.loads(line)
        except fields.MessageRejected as exc:
            if rejected is not None:
                rejected.append(str(exc))
            continue
        except ValueError:
            continue  # mpv writes only JSON; a broken line is noise, not a reason to disconnect
        if isinstance(message, dict):
            messages.append(message)
    return messages, rest


class MpvIpc:
    """A JSON IPC connection: synchronous requests, pushed events collected in `pending`."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        self._next_id = 0
        self._discarding = False
        self.pending: deque[dict[str, Any]] = deque()
        self.rejected: list[str] = []  # why messages were skipped; the watcher says so and clears it

    @classmethod
    def connect(cls, path: str, timeout: float = REQUEST_TIMEOUT) -> MpvIpc:
        """Raises OSError (FileNotFoundError, ConnectionRefusedError for a stale socket...)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        return cls(sock)

    def fileno(self) -> int:
        return self._sock.fileno()

    def send(self, *command: Any) -> int:
        self._next_id += 1
        line = json.dumps({"command": list(command), "request_id": self._next_id}).encode() + b"\n"
        try:
            self._sock.sendall(line)
        except OSError as exc:
            raise PlayerError(f"mpv connection lost: {exc}") from exc
        return self._next_id

    def request(self, *command: Any, timeout: float = REQUEST_TIMEOUT) -> Any:
        """mpv's answer; None for "property unavailable"; PlayerError for anything else."""
        request_id = self.send(*command)
        deadline = time.monotonic() + timeout
        while True:
            answer: dict[str, Any] | None = None
            # The whole batch is taken: events read along with the answer (before or after it)
            # are kept for the loop, never dropped.
            for message in self._read(max(0.001, deadline - time.monotonic())):
                if "event" in message:
                    self.pending.append(message)
                elif message.get("request_id") == request_id and answer is None:
                    answer = message
            if answer is not None:
                error = answer.get("error")
                if error == "success":
                    return answer.get("data")
                if error == "property unavailable":
                    return None
                raise PlayerError(f"mpv {command[0]} failed: {error}")
            if time.monotonic() >= deadline:
                raise PlayerError(f"mpv did not answer {command[0]} within {timeout}s")

    def get(self, name: str) -> Any:
        return self.request("get_property", name)

    def receive(self) -> None:
        """Read what is there without blocking; events go to `pending`."""
        self.pending.extend(m for m in self._read(0.0) if "event" in m)

    def _read(self, timeout: float) -> list[dict[str, Any]]:
        try:
            self._sock.settimeout(timeout)
            data = self._sock.recv(65536)
        except (BlockingIOError, TimeoutError):
            return []
        except OSError as exc:
            raise PlayerError(f"mpv connection lost: {exc}") from exc
        if not data:
            raise PlayerError("mpv closed the connection")
        if self._discarding:  # the rest of a line that was already too long
            cut = data.find(b"\n")
            if cut < 0:
                return []
            self._discarding, data = False, data[cut + 1 :]
        messages, self._buffer = split_lines(self._buffer + data, self.rejected)
        if len(self._buffer) > fields.MAX_MESSAGE:  # a line that never ends: dropped as it comes
            self.rejected.append(f"a line over {fields.MAX_MESSAGE} bytes")
            self._buffer, self._discarding = b"", True
        return messages

    def close(self) -> None:
        self._sock.close()
