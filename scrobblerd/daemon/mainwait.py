"""The main thread's sleep while the daemon runs: on a socket pair that every signal writes to
(`signal.set_wakeup_fd`) and that another thread can nudge, so SIGTERM, SIGHUP and a stop asked
from a thread end the wait at once, with no timed polling."""

from __future__ import annotations

import contextlib
import selectors
import signal
import socket
import threading


class MainWait:
    def __init__(self) -> None:
        self._attention, self._nudge = socket.socketpair()
        for end in (self._attention, self._nudge):
            end.setblocking(False)
        self._old_wakeup_fd: int | None = None

    def catch_signals(self) -> None:
        """Any signal to the process ends the wait (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is threading.main_thread():
            self._old_wakeup_fd = signal.set_wakeup_fd(self._nudge.fileno(), warn_on_full_buffer=False)

    def nudge(self) -> None:
        with contextlib.suppress(OSError):  # full (already woken) or closed (already stopping)
            self._nudge.send(b"\0")

    def wait(self, timeout: float) -> None:
        """Sleep until a signal or a nudge (or `timeout`), then take every wake-up waiting."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._attention, selectors.EVENT_READ)
            selector.select(timeout)
        with contextlib.suppress(OSError):
            while self._attention.recv(256):
                pass

    def close(self) -> None:
        if self._old_wakeup_fd is not None and threading.current_thread() is threading.main_thread():
            signal.set_wakeup_fd(self._old_wakeup_fd)
            self._old_wakeup_fd = None
        self._attention.close()
        self._nudge.close()
