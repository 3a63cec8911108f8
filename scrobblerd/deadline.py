"""Whole-request deadlines for `requests`: connect plus everything after it, not per read.

requests' `timeout` bounds each socket read, so a peer that drips a byte a second (a hung proxy,
a half-dead VLC) holds a request as long as it likes. `request` arms a timer for the whole
exchange; when it fires, the connection's socket is shut down, the blocked read returns, and the
caller gets `requests.Timeout`. A session takes part once `install(session)` mounted our adapter.
A body larger than `max_bytes` is refused (`BodyTooLarge`) as it arrives, not after.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

CHUNK = 65536

_local = threading.local()


class BodyTooLarge(requests.RequestException):
    """The answer was larger than the caller allows."""


class _Watch:
    """The connections one request uses, shut down when its deadline passes."""

    def __init__(self) -> None:
        self.expired = False
        self._conns: list[HTTPConnection] = []
        self._lock = threading.Lock()

    def track(self, conn: HTTPConnection) -> None:
        with self._lock:
            self._conns.append(conn)
            expired = self.expired
        if expired:
            _shut(conn)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            conns = list(self._conns)
        for conn in conns:
            _shut(conn)


def _shut(conn: HTTPConnection) -> None:
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _tracked(base: type[HTTPConnection]) -> type[HTTPConnection]:
    class Tracked(base):  # type: ignore[valid-type,misc]
        def request(self, *args: Any, **kwargs: Any) -> None:
            watch = getattr(_local, "watch", None)
            if watch is not None:
                watch.track(self)
            super().request(*args, **kwargs)

    Tracked.__name__ = f"Deadline{base.__name__}"
    return Tracked


class _Pool(HTTPConnectionPool):
    ConnectionCls = _tracked(HTTPConnection)


class _SecurePool(HTTPSConnectionPool):
    ConnectionCls = _tracked(HTTPSConnection)  # type: ignore[assignment]


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _SecurePool}

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(*args, **kwargs)
        manager.pool_classes_by_scheme = {"http": _Pool, "https": _SecurePool}
        return manager


def install(session: requests.Session) -> requests.Session:
    """Let `request` watch this session's connections (TLS verification is untouched)."""
    for prefix in ("http://", "https://"):
        session.mount(prefix, _Adapter())
    return session


def request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    total: float,
    connect: float | None = None,
    max_bytes: int | None = None,
    **kwargs: Any,
) -> requests.Response:
    """`session.request` that ends within `total` seconds (requests.Timeout otherwise), its body
    read in full (BodyTooLarge past `max_bytes`)."""
    watch = _Watch()
    timer = threading.Timer(total, watch.expire)
    timer.daemon = True
    _local.watch = watch
    timer.start()
    try:
        connect_timeout = min(connect if connect is not None else total, total)
        resp = session.request(method, url, timeout=(connect_timeout, total), stream=True, **kwargs)
        try:
            _read_body(resp, max_bytes)
        except BaseException:
            resp.close()
            raise
    except (requests.RequestException, OSError) as exc:
        if watch.expired and not isinstance(exc, BodyTooLarge):
            raise requests.Timeout(f"no complete answer within {total:g} s") from None
        raise
    finally:
        timer.cancel()
        _local.watch = None
    if watch.expired:
        resp.close()
        raise requests.Timeout(f"no complete answer within {total:g} s")
    return resp


def _read_body(resp: requests.Response, max_bytes: int | None) -> None:
    parts: list[bytes] = []
    size = 0
    for chunk in resp.iter_content(CHUNK):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise BodyTooLarge(f"an answer over {max_bytes} bytes")
        parts.append(chunk)
    resp._content = b"".join(parts)  # what requests itself sets once it has read a body
    resp._content_consumed = True  # type: ignore[attr-defined]
