"""A Trakt-like HTTP server on 127.0.0.1, written from the Trakt API v2 document.

Real HTTP (stdlib ThreadingHTTPServer), real status codes, real headers; state lives in memory
so tests can look at what arrived (`requests`, `history`, `scrobbles`, `ratings`) and script
faults (`fail_next`, `drop_next`, `delay_next`, `set_outage`, `random_faults`, `post_interval`).

    with FakeTrakt() as t:
        t.add_movie("The Matrix", 1999, {"trakt": 481, "imdb": "tt0133093", "tmdb": 603})
        token = t.issue_token()
        ... point trakt.api_url at t.url and trakt.auth_url at t.auth_url (or use t.config()) ...

Like Trakt since July 2026, OAuth (device code and token, refresh, revoke) is served only on its
own host, here a second listener (`auth_url`); the API listener answers those paths 404 and the
auth listener answers API paths 404. Refresh tokens are single-use: a refresh spends the old one,
and a spent or unknown one is 400 {error: invalid_grant, error_description}.

Device flow: `device_script` is a list of poll answers (HTTP statuses) consumed in order by
POST /oauth/device/token; when it is empty the code's own state answers: 400 while pending,
200 once `approve()` was called, 418 after `deny()`, 410 after `expires_in`, 409 once used,
404 for an unknown code. Run standalone with `python -m tests.trakt_server --port 8000`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import secrets
import socket
import threading
import time
import traceback
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scrobblerd.config.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, TraktConfig

# Trakt: a stop at >= 80 % progress is a watch; below it is treated as a pause.
SCROBBLE_THRESHOLD = 80.0
MIN_STOP_PROGRESS = 1.0  # Trakt: a stop below 1 % is answered 422 and ignored
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")  # Trakt: history's start_at/end_at are "YYYY-MM-DD"
ID_ORDER = ("trakt", "imdb", "tmdb", "tvdb", "slug")  # Trakt: ids are matched in this order
DEFAULT_PAGE_LIMIT = 10  # Trakt: paginated methods return 10 items per page by default
CONTRACT_SCHEMAS = Path(__file__).parent / "fixtures" / "trakt_contract" / "requests.schema.json"
CLOUDFLARE_HTML = "<html><head><title>{status}: Cloudflare</title></head><body>error {status}</body></html>"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    json: Any
    at: float
    raw: bytes = b""
    host: str = "api"  # "api" | "auth": which of the two listeners it came to


@dataclass
class _Fault:
    remaining: int
    kind: str  # "fail" | "drop" | "delay"
    paths: str | None
    status: int = 0
    retry_after: float | None = None
    body: str | None = None
    seconds: float = 0.0

    def matches(self, path: str) -> bool:
        return self.remaining > 0 and (self.paths is None or path.startswith(self.paths))


@dataclass
class _Device:
    device_code: str
    user_code: str
    expires_at: float
    state: str = "pending"  # pending | approved | denied | used


@dataclass
class _Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None  # a non-JSON body, sent as-is
    drop: bool = False


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _norm(text: str) -> str:
    """Trakt's search folds case and accents (`Amelie` finds *Amélie*) and splits on punctuation."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"[^\w]+|_", " ", folded.casefold()).strip()


def _slug(title: str, year: int | None) -> str:
    return "-".join([*_norm(title).split(), *([str(year)] if year else [])])


class FakeTrakt:
    """A Trakt-like server. Public attributes may be read (and the knobs set) from tests."""

    def __init__(
        self, client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.url = ""
        self.auth_url = ""
        self.requests: list[Recorded] = []
        self.errors: list[str] = []  # tracebacks of bugs in this server (answered with 500)
        self.history: list[dict[str, Any]] = []
        self.scrobbles: list[dict[str, Any]] = []
        self.ratings: dict[tuple[str, int], dict[str, Any]] = {}
        self.playback: dict[tuple[str, int], dict[str, Any]] = {}
        # /sync/last_activities: when each kind's playback points last changed (epoch seconds)
        self.paused_activity: dict[str, float] = {"movie": 0.0, "episode": 0.0}
        # /users/settings: a subset of the contract's settingsResponseSchema, nothing invented
        self.settings: dict[str, Any] = {
            "user": {
                "username": "sean",
                "private": False,
                "name": "Sean Rudford",
                "vip": False,
                "vip_ep": False,
                "director": False,
                "ids": {"slug": "sean", "trakt": 1, "uuid": "b6589fc6ab0dc82cf12099d1c2d40ab994e8410c"},
                "joined_at": "2010-09-25T17:49:25.000Z",
                "vip_og": False,
                "vip_years": 0,
            },
            "permissions": {"commenting": True, "liking": True, "following": True},
            "account": {"timezone": "Europe/Berlin", "date_format": "dmy", "time_24hr": True},
        }
        # knobs
        self.device_script: list[int] = []
        self.device_interval: float = 5  # Trakt: seconds between polls
        self.device_expires_in: float = 600
        self.token_expires_in: int = 7 * 86400  # the contract's device flow: "valid for 7 days"
        self.invalid_grant_status = 400  # Trakt: a refused refresh is 400 invalid_grant
        self.revoke_on_refresh = True  # the old access token stops working after a refresh
        self.clock: Callable[[], float] = time.time  # stamps tokens' created_at (tests may simulate time)
        self.refreshes_refused = 0  # /oauth/token answers of invalid_grant (a spent or unknown token)
        self.date_offset = 0.0  # seconds added to the Date header (a server clock unlike ours)
        self.scrobble_dedupe_window: float = 3600.0  # a second stop of the same item within it -> 409
        self.post_interval: float | None = None
        self.verification_url = "https://auth.trakt.tv/activate"
        # state
        self._cond = threading.Condition()
        self._movies: list[dict[str, Any]] = []
        self._shows: list[dict[str, Any]] = []
        self._movie_aliases: dict[int, list[str]] = {}
        self._access: dict[str, dict[str, Any]] = {}
        self._refresh: dict[str, str] = {}
        self._devices: dict[str, _Device] = {}
        self._faults: list[_Fault] = []
        self._outage: int | None = None
        self._random: tuple[float, random.Random, tuple[int, ...], bool] | None = None
        self._last_post: float | None = None
        self._next_id = 9_000_000_001
        self._stopping = threading.Event()
        self._servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self, port: int = 0, auth_port: int = 0) -> FakeTrakt:
        self.url = self._listen("api", port)
        self.auth_url = self._listen("auth", auth_port)
        return self

    def _listen(self, host: str, port: int) -> str:
        handler = type("Handler", (_Handler,), {"fake": self, "host": host})
        server = _Server(("127.0.0.1", port), handler)
        thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name=f"fake-trakt-{host}", daemon=True
        )
        thread.start()
        self._servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    def config(self, **kw: Any) -> TraktConfig:
        """A TraktConfig pointing at this server's two hosts (`kw` overrides fields)."""
        return TraktConfig(**{"api_url": self.url, "auth_url": self.auth_url, **kw})

    def stop(self) -> None:
        self._stopping.set()
        for server, thread in self._servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        self._servers.clear()

    def __enter__(self) -> FakeTrakt:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- catalogue ------------------------------------------------------------------------
    def add_movie(
        self, title: str, year: int | None, ids: dict[str, Any], *, aliases: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        movie = {"title": title, "year": year, "ids": {"slug": _slug(title, year), **ids}}
        with self._cond:
            self._movies.append(movie)
            self._movie_aliases[id(movie)] = list(aliases)
        return json.loads(json.dumps(movie))  # type: ignore[no-any-return]

    def add_playback(self, body: dict[str, Any], progress: float, at: float) -> int:
        """A point made elsewhere (another device): `body` names the item like a scrobble body
        (`{"movie": {"ids": ...}}`). Returns the point's id."""
        with self._cond:
            found = self._item_of(body)
            assert found is not None, body
            kind, public, ids = found
            point_id = self._new_id()
            self.playback[(kind, int(ids["trakt"]))] = {
                "progress": progress, "paused_at": iso(at), "id": point_id, "type": kind, **public,
            }  # fmt: skip
            self.paused_activity[kind] = at
            return point_id

    def add_show(
        self,
        title: str,
        year: int | None,
        ids: dict[str, Any],
        episodes: dict[tuple[int, int], dict[str, Any]] | None = None,
        absolute: dict[int, tuple[int, int]] | None = None,
        *,
        country: str | None = None,
        aliases: tuple[str, ...] = (),
        timezone: str | None = None,
    ) -> dict[str, Any]:
        """`episodes` maps (season, number) to {"title", "ids", "first_aired"}; missing trakt ids
        are made up. `country` (lower-case ISO code), `aliases` (searched like titles, listed by
        /shows/:id/aliases) and `timezone` (airs.timezone) come with `extended=full`."""
        show_ids: dict[str, Any] = {"slug": _slug(title, year), **ids}
        show: dict[str, Any] = {"title": title, "year": year, "ids": show_ids}
        abs_of = {se: n for n, se in (absolute or {}).items()}
        eps: dict[tuple[int, int], dict[str, Any]] = {}
        for (season, number), data in (episodes or {}).items():
            ep_ids = dict(data.get("ids") or {})
            ep_ids.setdefault("trakt", int(show_ids["trakt"]) * 10_000 + season * 1000 + number)
            eps[(season, number)] = {
                "season": season,
                "number": number,
                "title": data.get("title"),
                "ids": ep_ids,
                "number_abs": abs_of.get((season, number)),
                "first_aired": data.get("first_aired"),
            }
        full = {"country": country, "airs": {"day": None, "time": None, "timezone": timezone}}
        with self._cond:
            self._shows.append({"show": show, "episodes": eps, "full": full, "aliases": list(aliases)})
        return json.loads(json.dumps(show))  # type: ignore[no-any-return]

    # ---- tokens ---------------------------------------------------------------------------
    def issue_token(self, expires_in: int | None = None, created_at: int | None = None) -> dict[str, Any]:
        """A valid token as /oauth/device/token returns it."""
        with self._cond:
            return self._new_token(expires_in, created_at)

    def _new_token(self, expires_in: int | None = None, created_at: int | None = None) -> dict[str, Any]:
        expires_in = self.token_expires_in if expires_in is None else expires_in
        created = int(self.clock()) if created_at is None else created_at
        access, refresh = secrets.token_hex(32), secrets.token_hex(32)
        self._access[access] = {"refresh": refresh, "expires_at": created + expires_in}
        self._refresh[refresh] = access
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": expires_in,
            "refresh_token": refresh,
            "scope": "public",
            "created_at": created,
        }

    def expire_access_tokens(self) -> None:
        with self._cond:
            for data in self._access.values():
                data["expires_at"] = 0

    def token_valid(self, access: str) -> bool:
        with self._cond:
            data = self._access.get(access)
            return data is not None and time.time() < data["expires_at"]

    def refresh_valid(self, refresh: str) -> bool:
        with self._cond:
            return refresh in self._refresh

    # ---- device flow ----------------------------------------------------------------------
    def approve(self, user_code: str | None = None) -> None:
        self._set_device_state("approved", user_code)

    def deny(self, user_code: str | None = None) -> None:
        self._set_device_state("denied", user_code)

    def _set_device_state(self, state: str, user_code: str | None) -> None:
        with self._cond:
            for dev in reversed(list(self._devices.values())):
                if user_code in (None, dev.user_code):
                    dev.state = state
                    return
        raise KeyError(user_code)

    # ---- faults ---------------------------------------------------------------------------
    def fail_next(
        self,
        n: int,
        status: int,
        retry_after: float | None = None,
        body: str | None = None,
        paths: str | None = None,
    ) -> None:
        """The next `n` requests whose path starts with `paths` (all when None) get `status`."""
        with self._cond:
            self._faults.append(_Fault(n, "fail", paths, status=status, retry_after=retry_after, body=body))

    def drop_next(self, n: int, paths: str | None = None) -> None:
        with self._cond:
            self._faults.append(_Fault(n, "drop", paths))

    def delay_next(self, n: int, seconds: float, paths: str | None = None) -> None:
        with self._cond:
            self._faults.append(_Fault(n, "delay", paths, seconds=seconds))

    def set_outage(self, on: bool, status: int = 503) -> None:
        with self._cond:
            self._outage = status if on else None

    def random_faults(
        self, rate: float, seed: int, statuses: tuple[int, ...] = (429, 500, 502, 503, 520), drop: bool = True
    ) -> None:
        with self._cond:
            self._random = (rate, random.Random(seed), tuple(statuses), drop) if rate > 0 else None

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()
            self._outage = None
            self._random = None

    def contract_problems(self) -> list[str]:
        """Every recorded write body checked against the request schemas of Trakt's contract
        (tests/fixtures/trakt_contract/requests.schema.json): one line per violation."""
        import jsonschema

        schemas = json.loads(CONTRACT_SCHEMAS.read_text(encoding="utf-8"))
        cls = jsonschema.validators.validator_for(schemas)
        found = []
        for rec in list(self.requests):
            entry = schemas["endpoints"].get(f"{rec.method} {rec.path}")
            if entry is None:
                continue
            validator = cls({"$defs": schemas["$defs"], **entry["body"]})
            found += [
                f"{rec.method} {rec.path}: {e.message} at {list(e.absolute_path)}"
                for e in validator.iter_errors(rec.json)
            ]
        return found

    def wait_for(self, predicate: Callable[[FakeTrakt], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    # ---- request pipeline (called on server threads) --------------------------------------
    def _handle(self, rec: Recorded) -> _Reply:
        with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()
            fault = self._pick_fault(rec.path)
        if fault is not None and fault.kind == "delay":
            self._stopping.wait(fault.seconds)
        elif fault is not None:
            return self._fault_reply(fault)
        with self._cond:
            try:
                reply = self._dispatch(rec)
            except Exception:  # a bug in this server: answer 500 and keep it for the test to see
                self.errors.append(traceback.format_exc())
                traceback.print_exc()
                reply = _Reply(500, {"error": "fake server bug", "detail": self.errors[-1]})
            finally:
                self._cond.notify_all()
        return reply

    def _pick_fault(self, path: str) -> _Fault | None:
        if self._outage is not None:
            return _Fault(1, "fail", None, status=self._outage)
        if self._random is not None:
            rate, rng, statuses, drop = self._random
            if rng.random() < rate:
                choices: list[int | None] = [*statuses, *([None] if drop else [])]
                status = rng.choice(choices)
                retry = 1.0 if status == 429 else None
                return _Fault(1, "drop", None) if status is None else _Fault(1, "fail", None, status, retry)
        for fault in self._faults:
            if fault.matches(path):
                fault.remaining -= 1
                return fault
        return None

    @staticmethod
    def _fault_reply(fault: _Fault) -> _Reply:
        if fault.kind == "drop":
            return _Reply(0, drop=True)
        headers = {}
        if fault.retry_after is not None:
            ra = fault.retry_after
            headers["Retry-After"] = str(int(ra)) if ra == int(ra) else str(ra)
        if fault.body is not None:
            return _Reply(fault.status, raw=fault.body, headers=headers)
        if fault.status >= 500:
            return _Reply(fault.status, raw=CLOUDFLARE_HTML.format(status=fault.status), headers=headers)
        return _Reply(fault.status, {"error": f"status {fault.status}"}, headers)

    def _dispatch(self, rec: Recorded) -> _Reply:
        if rec.headers.get("trakt-api-key") != self.client_id:
            return _Reply(403, {"error": "invalid api key"})
        if rec.headers.get("trakt-api-version") != "2":
            return _Reply(400, {"error": "trakt-api-version 2 required"})
        if rec.method in ("POST", "PUT") and not rec.headers.get("content-type", "").startswith(
            "application/json"
        ):
            return _Reply(412, {"error": "use application/json content type"})
        if rec.json is _INVALID:
            return _Reply(400, {"error": "request couldn't be parsed"})
        for method, pattern, oauth, func in _ROUTES:
            match = re.fullmatch(pattern, rec.path)
            if match is None or method != rec.method:
                continue
            if (rec.host == "auth") != pattern.startswith("/oauth/"):
                return _Reply(404, {"error": "not found"})  # Trakt: OAuth only on its own host
            if oauth and not self._authorized(rec):
                return _Reply(
                    401,
                    {"error": "invalid_token", "error_description": "OAuth must be provided"},
                    {"WWW-Authenticate": 'Bearer realm="trakt", error="invalid_token"'},
                )
            if oauth and rec.method == "POST":
                limited = self._rate_limit(rec.at)
                if limited is not None:
                    return limited
            return func(self, rec, *match.groups())
        return _Reply(405, {"error": "method not found"})

    def _authorized(self, rec: Recorded) -> bool:
        auth = rec.headers.get("authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        data = self._access.get(token)
        return data is not None and time.time() < data["expires_at"]

    def _rate_limit(self, now: float) -> _Reply | None:
        if self.post_interval is not None and self._last_post is not None:
            remaining = self._last_post + self.post_interval - now
            if remaining > 0:
                ra = math.ceil(remaining) if self.post_interval >= 1 else round(remaining, 3)
                limit = {"name": "AUTHED_API_POST_LIMIT", "period": 1, "limit": 1, "remaining": 0,
                         "until": iso(now + remaining)}  # fmt: skip
                headers = {"Retry-After": str(ra), "X-Ratelimit": json.dumps(limit)}
                return _Reply(429, {"error": "rate limit exceeded"}, headers)
        self._last_post = now
        return None

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # ---- catalogue lookups (lock held) ----------------------------------------------------
    def _find(self, entries: list[dict[str, Any]], obj: Any) -> dict[str, Any] | None:
        if not isinstance(obj, dict):
            return None
        ids = obj.get("ids") or {}
        for key in ID_ORDER:
            if ids.get(key) not in (None, ""):
                for entry in entries:
                    if str(entry["ids"].get(key)) == str(ids[key]):
                        return entry
        title = obj.get("title")
        if isinstance(title, str):
            for entry in entries:
                if _norm(entry["title"]) == _norm(title) and obj.get("year") in (None, entry["year"]):
                    return entry
        return None

    def find_movie(self, obj: Any) -> dict[str, Any] | None:
        return self._find(self._movies, obj)

    def find_show(self, obj: Any) -> dict[str, Any] | None:
        found = self._find([s["show"] for s in self._shows], obj)
        return next((s for s in self._shows if s["show"] is found), None)

    def find_episode(self, ep: Any, show: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(show entry, episode) by the episode's ids, else by its show plus season/number/number_abs."""
        if not isinstance(ep, dict):
            return None
        ids = ep.get("ids") or {}
        for key in ID_ORDER:
            if ids.get(key) not in (None, ""):
                for entry in self._shows:
                    for e in entry["episodes"].values():
                        if str(e["ids"].get(key)) == str(ids[key]):
                            return entry, e
        found = self.find_show(show)
        if found is None:
            return None
        entry = found
        if ep.get("number_abs") is not None:
            hit = next((e for e in entry["episodes"].values() if e["number_abs"] == ep["number_abs"]), None)
        else:
            hit = entry["episodes"].get((ep.get("season"), ep.get("number")))
        return (entry, hit) if hit else None

    @staticmethod
    def _episode_out(e: dict[str, Any]) -> dict[str, Any]:
        return {
            "season": e["season"],
            "number": e["number"],
            "title": e["title"],
            "ids": dict(e["ids"]),
            "number_abs": e["number_abs"],
        }

    def _item_of(self, body: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
        """(type, public object for responses, ids) of the movie/episode in a scrobble body."""
        if "movie" in body:
            movie = self.find_movie(body["movie"])
            return None if movie is None else ("movie", {"movie": dict(movie)}, movie["ids"])
        found = self.find_episode(body.get("episode"), body.get("show"))
        if found is None:
            return None
        entry, ep = found
        return "episode", {"episode": self._episode_out(ep), "show": dict(entry["show"])}, ep["ids"]

    def _add_history(
        self, kind: str, public: dict[str, Any], ids: dict[str, Any], at: float, source: str
    ) -> dict[str, Any]:
        entry = {
            "id": self._new_id(),
            "type": kind,
            "ids": dict(ids),
            "watched_at": iso(at),
            "at": at,
            "source": source,
            "item": public,
        }
        self.history.append(entry)
        return entry


_INVALID = object()


# ---- route handlers (lock held) --------------------------------------------------------------
def _device_code(t: FakeTrakt, rec: Recorded) -> _Reply:
    if (rec.json or {}).get("client_id") != t.client_id:
        return _Reply(401, {"error": "invalid_client"})
    dev = _Device(secrets.token_hex(20), secrets.token_hex(4).upper(), time.time() + t.device_expires_in)
    t._devices[dev.device_code] = dev
    return _Reply(
        200,
        {
            "device_code": dev.device_code,
            "user_code": dev.user_code,
            "verification_url": t.verification_url,
            "expires_in": t.device_expires_in,
            "interval": t.device_interval,
        },
    )


def _device_token(t: FakeTrakt, rec: Recorded) -> _Reply:
    body = rec.json or {}
    if body.get("client_id") != t.client_id or body.get("client_secret") != t.client_secret:
        return _Reply(401, {"error": "invalid_client"})
    dev = t._devices.get(body.get("code", ""))
    status = t.device_script.pop(0) if t.device_script else None
    if status is None:
        if dev is None:
            status = 404
        elif dev.state == "used":
            status = 409
        elif time.time() > dev.expires_at:
            status = 410
        else:
            status = {"pending": 400, "approved": 200, "denied": 418}[dev.state]
    if status != 200:
        return _Reply(status, None if status == 400 else {"error": f"status {status}"})
    if dev is not None:
        dev.state = "used"
    return _Reply(200, t._new_token())


def _oauth_error(error: str, description: str) -> _Reply:
    """The contract's tokenErrorResponseSchema: 400 {error, error_description}."""
    return _Reply(400, {"error": error, "error_description": description})


def _oauth_token(t: FakeTrakt, rec: Recorded) -> _Reply:
    body = rec.json or {}
    if body.get("client_id") != t.client_id or body.get("client_secret") != t.client_secret:
        return _oauth_error("invalid_client", "Client authentication failed.")
    if body.get("grant_type") != "refresh_token" or body.get("redirect_uri") != "urn:ietf:wg:oauth:2.0:oob":
        return _oauth_error("invalid_request", "grant_type must be refresh_token, redirect_uri the app's.")
    old_access = t._refresh.pop(body.get("refresh_token", ""), None)
    if old_access is None:
        t.refreshes_refused += 1
        return _Reply(
            t.invalid_grant_status,
            {
                "error": "invalid_grant",
                "error_description": "The provided authorization grant is invalid, expired, revoked, "
                "or was issued to another client.",
            },
        )
    if t.revoke_on_refresh:
        t._access.pop(old_access, None)
    return _Reply(200, t._new_token())


def _oauth_revoke(t: FakeTrakt, rec: Recorded) -> _Reply:
    body = rec.json or {}
    if body.get("client_id") != t.client_id or body.get("client_secret") != t.client_secret:
        return _Reply(401, {"error": "invalid_client"})
    data = t._access.pop(body.get("token", ""), None)
    if data is not None:
        t._refresh.pop(data["refresh"], None)
    return _Reply(200, None)  # the contract: 200 without a body


def _scrobble(t: FakeTrakt, rec: Recorded, action: str) -> _Reply:
    body = rec.json if isinstance(rec.json, dict) else {}
    progress = body.get("progress")
    if not isinstance(progress, int | float) or not 0 <= progress <= 100:
        return _Reply(422, {"error": "progress must be between 0 and 100"})
    if action == "stop" and progress < MIN_STOP_PROGRESS:
        return _Reply(422, {"error": "progress must be at least 1 to stop"})
    found = t._item_of(body)
    if found is None:
        return _Reply(404, {"error": "item not found"})
    kind, public, ids = found
    key = (kind, int(ids["trakt"]))
    result, history_id = action, 0
    if action == "stop" and progress >= SCROBBLE_THRESHOLD:
        last = next(
            (
                h
                for h in reversed(t.history)
                if h["source"] == "scrobble" and h["type"] == kind and h["ids"].get("trakt") == ids["trakt"]
            ),
            None,
        )
        if last is not None and rec.at - last["at"] < t.scrobble_dedupe_window:
            return _Reply(
                409,
                {"watched_at": last["watched_at"], "expires_at": iso(last["at"] + t.scrobble_dedupe_window)},
            )
        history_id = t._add_history(kind, public, ids, rec.at, "scrobble")["id"]
        result = "scrobble"  # the API document: only a start removes a point, a watch does not
    elif action == "start":
        _drop_point(t, key, rec.at)
    else:
        t.paused_activity[kind] = rec.at
        result, history_id = "pause", t._new_id()
        t.playback[key] = {
            "progress": progress,
            "paused_at": iso(rec.at),
            "id": history_id,
            "type": kind,
            **public,
        }
    t.scrobbles.append(
        {
            "action": action,
            "result": result,
            "progress": progress,
            "item": public,
            "type": kind,
            "ids": dict(ids),
            "at": rec.at,
            "body": body,
        }
    )
    return _Reply(
        201,
        {
            "id": history_id,
            "action": result,
            "progress": progress,
            "sharing": {"twitter": False, "mastodon": False, "tumblr": False},
            **public,
        },
    )


def _sync_items(
    t: FakeTrakt, body: Any, expand_shows: bool = True
) -> tuple[list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]], dict[str, list[Any]]]:
    """Resolve the movies/shows/episodes arrays: ([(type, public, ids, request obj)], not_found)."""
    body = body if isinstance(body, dict) else {}
    found: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = []
    missing: dict[str, list[Any]] = {"movies": [], "shows": [], "seasons": [], "episodes": [], "ids": []}
    for obj in body.get("movies") or []:
        movie = t.find_movie(obj)
        if movie is None:
            missing["movies"].append(obj)
        else:
            found.append(("movie", {"movie": dict(movie)}, movie["ids"], obj))
    for obj in body.get("episodes") or []:
        hit = t.find_episode(obj, obj.get("show") if isinstance(obj, dict) else None)
        if hit is None:
            missing["episodes"].append(obj)
        else:
            found.append(
                (
                    "episode",
                    {"episode": t._episode_out(hit[1]), "show": dict(hit[0]["show"])},
                    hit[1]["ids"],
                    obj,
                )
            )
    for obj in body.get("shows") or []:
        entry = t.find_show(obj)
        if entry is None:
            missing["shows"].append(obj)
            continue
        seasons = obj.get("seasons")
        if seasons is None:
            # Trakt: a bare show adds all its episodes to history, but rates only the show itself
            chosen = [(e, obj) for e in entry["episodes"].values()] if expand_shows else []
            found.append(("show", {"show": dict(entry["show"])}, entry["show"]["ids"], obj))
        else:
            chosen = []
            for season in seasons:
                wanted = season.get("episodes")
                for e in entry["episodes"].values():
                    if e["season"] != season.get("number"):
                        continue
                    req = (
                        next((w for w in wanted if w.get("number") == e["number"]), None)
                        if wanted
                        else season
                    )
                    if req is not None:
                        chosen.append((e, {**obj, **season, **req}))
        for e, req in chosen:
            found.append(
                ("episode", {"episode": t._episode_out(e), "show": dict(entry["show"])}, e["ids"], req)
            )
    return found, missing


def _sync_history_add(t: FakeTrakt, rec: Recorded) -> _Reply:
    found, missing = _sync_items(t, rec.json)
    added = {"movies": 0, "episodes": 0}
    updated = {"movies": 0, "episodes": 0}  # Trakt does not check item + watched_at: nothing is updated
    for kind, public, ids, obj in found:
        if kind == "show":
            continue
        at = _parse_time(obj.get("watched_at")) if obj.get("watched_at") else rec.at
        if at is None:
            return _Reply(422, {"error": f"invalid watched_at {obj.get('watched_at')!r}"})
        t._add_history(kind, public, ids, at, "sync")
        added[kind + "s"] += 1
    return _Reply(200, {"added": added, "updated": updated, "not_found": missing})


def _paginate(rec: Recorded, items: list[Any], default_limit: int | None = DEFAULT_PAGE_LIMIT) -> _Reply:
    try:
        page = max(1, int(rec.query.get("page", "1")))
        limit = int(rec.query["limit"]) if "limit" in rec.query else (default_limit or max(1, len(items)))
    except ValueError:
        return _Reply(400, {"error": "bad page or limit"})
    limit = max(1, limit)
    pages = max(1, math.ceil(len(items) / limit))
    headers = {
        "X-Pagination-Page": str(page),
        "X-Pagination-Limit": str(limit),
        "X-Pagination-Page-Count": str(pages),
        "X-Pagination-Item-Count": str(len(items)),
    }
    return _Reply(200, items[(page - 1) * limit : page * limit], headers)


def _day(value: str | None) -> float | None:
    """A "YYYY-MM-DD" bound as epoch seconds: its day's start. end_at is read strictly, as the
    first moment not included (the contract does not say), so clients must widen their window."""
    if value is None:
        return None
    return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()


def _sync_history_get(t: FakeTrakt, rec: Recorded, kind: str | None, item_id: str | None) -> _Reply:
    bounds = [rec.query.get("start_at"), rec.query.get("end_at")]
    if any(b is not None and not DATE.fullmatch(b) for b in bounds):
        return _Reply(400, {"error": "start_at and end_at must be formatted as YYYY-MM-DD"})
    start, end = _day(bounds[0]), _day(bounds[1])
    entries = [
        h
        for h in t.history
        if kind in (None, h["type"] + "s")
        and (item_id is None or str(h["ids"].get("trakt")) == item_id)
        and (start is None or h["at"] >= start)
        and (end is None or h["at"] < end)
    ]
    entries.sort(key=lambda h: h["at"], reverse=True)
    out = [
        {
            "id": h["id"],
            "watched_at": h["watched_at"],
            "action": "scrobble" if h["source"] == "scrobble" else "watch",
            "type": h["type"],
            **h["item"],
        }
        for h in entries
    ]
    return _paginate(rec, out)


def _drop_point(t: FakeTrakt, key: tuple[str, int], at: float) -> None:
    """An item's point goes (on /scrobble/start, or DELETE /sync/playback/{id})."""
    if t.playback.pop(key, None) is not None:
        t.paused_activity[key[0]] = at


def _sync_playback(t: FakeTrakt, rec: Recorded, kind: str | None) -> _Reply:
    items = [p for p in t.playback.values() if kind in (None, p["type"] + "s")]
    return _Reply(200, items)


def _sync_playback_delete(t: FakeTrakt, rec: Recorded, playback_id: str) -> _Reply:
    """DELETE /sync/playback/{id}: 204, or 404 when there is no such point."""
    key = next((k for k, p in t.playback.items() if str(p["id"]) == playback_id), None)
    if key is None:
        return _Reply(404, {"error": "playback not found"})
    _drop_point(t, key, rec.at)
    return _Reply(204, None)


def _last_activities(t: FakeTrakt, rec: Recorded) -> _Reply:
    """GET /sync/last_activities, in the contract's shape (lastActivitiesResponseSchema); only
    `paused_at` moves here, the other stamps stay at the epoch."""
    epoch = iso(0)
    stamps = [t.paused_activity["movie"], t.paused_activity["episode"], *(h["at"] for h in t.history)]
    watched = max((h["at"] for h in t.history), default=0.0)
    movies = dict.fromkeys(
        (
            "watched_at",
            "collected_at",
            "rated_at",
            "watchlisted_at",
            "favorited_at",
            "commented_at",
            "hidden_at",
        ),
        epoch,
    )
    episodes = dict.fromkeys(
        ("watched_at", "collected_at", "rated_at", "watchlisted_at", "commented_at"), epoch
    )
    movies["watched_at"] = episodes["watched_at"] = iso(watched)
    updated = {"updated_at": epoch}
    return _Reply(
        200,
        {
            "all": iso(max(stamps, default=0.0)),
            "movies": {**movies, "paused_at": iso(t.paused_activity["movie"])},
            "episodes": {**episodes, "paused_at": iso(t.paused_activity["episode"])},
            "shows": dict.fromkeys(
                ("rated_at", "watchlisted_at", "favorited_at", "commented_at", "hidden_at", "dropped_at"),
                epoch,
            ),
            "seasons": dict.fromkeys(("rated_at", "watchlisted_at", "commented_at", "hidden_at"), epoch),
            "comments": dict.fromkeys(("liked_at", "reacted_at", "blocked_at"), epoch),
            "lists": dict.fromkeys(("liked_at", "reacted_at", "updated_at", "commented_at"), epoch),
            "watchlist": updated,
            "favorites": updated,
            "collaborations": updated,
            "account": dict.fromkeys(
                ("settings_at", "followed_at", "following_at", "pending_at", "requested_at"), epoch
            ),
            "saved_filters": updated,
            "notes": updated,
        },
    )


def _ratings(t: FakeTrakt, rec: Recorded, remove: str | None) -> _Reply:
    found, missing = _sync_items(t, rec.json, expand_shows=False)
    counts = {"movies": 0, "shows": 0, "seasons": 0, "episodes": 0}
    for kind, _public, ids, obj in found:
        key = (kind, int(ids["trakt"]))
        if remove:
            counts[kind + "s"] += int(t.ratings.pop(key, None) is not None)
            continue
        rating = obj.get("rating")
        if not isinstance(rating, int) or not 1 <= rating <= 10:
            return _Reply(422, {"error": "rating must be between 1 and 10"})
        t.ratings[key] = {"rating": rating, "rated_at": obj.get("rated_at") or iso(rec.at)}
        counts[kind + "s"] += 1
    return _Reply(200 if remove else 201, {"deleted" if remove else "added": counts, "not_found": missing})


def _user_settings(t: FakeTrakt, rec: Recorded) -> _Reply:
    return _Reply(200, t.settings)


def _score(query: str, title: str) -> float:
    q, n = _norm(query), _norm(title)
    if not q:
        return 0.0
    if q == n:
        return 1000.0
    words, have = set(q.split()), set(n.split())
    overlap = len(words & have) / len(words | have)
    return round(overlap * 500.0 + (100.0 if q in n else 0.0), 3)


def _years_ok(spec: str | None, year: int | None) -> bool:
    if not spec:
        return True
    if year is None:
        return False
    low, _, high = spec.partition("-")
    return int(low) <= year <= int(high or low)


def _unescape(query: str) -> str:
    """Trakt: a backslash makes the search engine's special characters literal."""
    return re.sub(r"\\(.)", r"\1", query)


def _search_text(t: FakeTrakt, rec: Recorded, types: str) -> _Reply:
    query, years = _unescape(rec.query.get("query", "")), rec.query.get("years")
    # Trakt: by default title, original_title, translations and aliases are searched
    fields = set((rec.query.get("fields") or "title,aliases").split(","))
    full = "full" in (rec.query.get("extended") or "")
    results: list[dict[str, Any]] = []
    wanted = types.split(",")
    pools = [
        ("movie", [(m, t._movie_aliases.get(id(m), []), {}) for m in t._movies]),
        ("show", [(s["show"], s.get("aliases", []), s.get("full") or {}) for s in t._shows]),
    ]
    for kind, pool in pools:
        if kind not in wanted:
            continue
        for obj, aliases, extra in pool:
            names = ([obj["title"]] if "title" in fields else []) + (aliases if "aliases" in fields else [])
            score = max((_score(query, name) for name in names), default=0.0)
            if score > 0 and _years_ok(years, obj["year"]):
                shown = {**obj, "country": extra.get("country")} if full and kind == "show" else dict(obj)
                results.append({"type": kind, "score": score, kind: shown})
    results.sort(key=lambda r: r["score"], reverse=True)
    return _paginate(rec, results)


def _search_id(t: FakeTrakt, rec: Recorded, id_type: str, value: str) -> _Reply:
    wanted = (rec.query.get("type") or "movie,show,episode").split(",")
    results: list[dict[str, Any]] = []
    if "movie" in wanted:
        results += [
            {"type": "movie", "score": 1000.0, "movie": dict(m)}
            for m in t._movies
            if str(m["ids"].get(id_type)) == value
        ]
    for entry in t._shows:
        if "show" in wanted and str(entry["show"]["ids"].get(id_type)) == value:
            results.append({"type": "show", "score": 1000.0, "show": dict(entry["show"])})
        if "episode" in wanted:
            results += [
                {
                    "type": "episode",
                    "score": 1000.0,
                    "episode": t._episode_out(e),
                    "show": dict(entry["show"]),
                }
                for e in entry["episodes"].values()
                if str(e["ids"].get(id_type)) == value
            ]
    return _paginate(rec, results)


def _episode_summary(t: FakeTrakt, rec: Recorded, show_id: str, season: str, number: str) -> _Reply:
    entry = next((s for s in t._shows if show_id in {str(v) for v in s["show"]["ids"].values()}), None)
    ep = entry["episodes"].get((int(season), int(number))) if entry else None
    return _Reply(404, {"error": "not found"}) if ep is None else _Reply(200, t._episode_out(ep))


def _show_entry(t: FakeTrakt, show_id: str) -> dict[str, Any] | None:
    return next((s for s in t._shows if show_id in {str(v) for v in s["show"]["ids"].values()}), None)


def _episode_full(e: dict[str, Any], full: bool) -> dict[str, Any]:
    out = {"season": e["season"], "number": e["number"], "title": e["title"], "ids": dict(e["ids"])}
    if full:  # Trakt: first_aired and number_abs come with extended=full
        out.update(number_abs=e["number_abs"], first_aired=e.get("first_aired"))
    return out


def _show_seasons(t: FakeTrakt, rec: Recorded, show_id: str) -> _Reply:
    """GET /shows/:id/seasons: every season; `extended=episodes` lists their episodes."""
    entry = _show_entry(t, show_id)
    if entry is None:
        return _Reply(404, {"error": "not found"})
    extended = set((rec.query.get("extended") or "").split(","))
    seasons: dict[int, list[dict[str, Any]]] = {}
    for (season, _number), e in sorted(entry["episodes"].items()):
        seasons.setdefault(season, []).append(e)
    out = []
    for number, eps in sorted(seasons.items()):
        season: dict[str, Any] = {
            "number": number,
            "ids": {"trakt": int(entry["show"]["ids"]["trakt"]) * 100 + number},
        }
        if "episodes" in extended:
            season["episodes"] = [_episode_full(e, "full" in extended) for e in eps]
        out.append(season)
    return _Reply(200, out)


def _show_season(t: FakeTrakt, rec: Recorded, show_id: str, season: str) -> _Reply:
    """GET /shows/:id/seasons/:season: the season's episodes."""
    entry = _show_entry(t, show_id)
    eps = [e for (s, _n), e in sorted(entry["episodes"].items()) if s == int(season)] if entry else []
    if not eps:
        return _Reply(404, {"error": "not found"})
    return _Reply(200, [_episode_full(e, "full" in (rec.query.get("extended") or "")) for e in eps])


def _show_summary(t: FakeTrakt, rec: Recorded, show_id: str) -> _Reply:
    entry = _show_entry(t, show_id)
    if entry is None:
        return _Reply(404, {"error": "not found"})
    if "full" in (rec.query.get("extended") or ""):
        return _Reply(200, {**entry["show"], **(entry.get("full") or {})})
    return _Reply(200, dict(entry["show"]))


def _movie_summary(t: FakeTrakt, rec: Recorded, movie_id: str) -> _Reply:
    movie = next((m for m in t._movies if movie_id in {str(v) for v in m["ids"].values()}), None)
    return _Reply(404, {"error": "not found"}) if movie is None else _Reply(200, dict(movie))


def _show_aliases(t: FakeTrakt, rec: Recorded, show_id: str) -> _Reply:
    entry = _show_entry(t, show_id)
    if entry is None:
        return _Reply(404, {"error": "not found"})
    return _Reply(200, [{"title": a, "country": None} for a in entry.get("aliases", [])])


_ROUTES: list[tuple[str, str, bool, Callable[..., _Reply]]] = [
    ("POST", r"/oauth/device/code", False, _device_code),
    ("POST", r"/oauth/device/token", False, _device_token),
    ("POST", r"/oauth/token", False, _oauth_token),
    ("POST", r"/oauth/revoke", False, _oauth_revoke),
    ("POST", r"/scrobble/(start|pause|stop)", True, _scrobble),
    ("POST", r"/sync/history", True, _sync_history_add),
    ("GET", r"/sync/history(?:/(movies|episodes)(?:/(\d+))?)?", True, _sync_history_get),
    ("GET", r"/sync/playback(?:/(movies|episodes))?", True, _sync_playback),
    ("DELETE", r"/sync/playback/(\d+)", True, _sync_playback_delete),
    ("GET", r"/sync/last_activities", True, _last_activities),
    ("POST", r"/sync/ratings(/remove)?", True, _ratings),
    ("GET", r"/users/settings", True, _user_settings),
    ("GET", r"/search/((?:movie|show|episode)(?:,(?:movie|show|episode))*)", False, _search_text),
    ("GET", r"/search/(trakt|imdb|tmdb|tvdb)/([^/]+)", False, _search_id),
    ("GET", r"/shows/([^/]+)/seasons/(\d+)/episodes/(\d+)", False, _episode_summary),
    ("GET", r"/shows/([^/]+)/seasons", False, _show_seasons),
    ("GET", r"/shows/([^/]+)/seasons/(\d+)", False, _show_season),
    ("GET", r"/shows/([^/]+)/aliases", False, _show_aliases),
    ("GET", r"/shows/([^/]+)", False, _show_summary),
    ("GET", r"/movies/([^/]+)", False, _movie_summary),
]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout tests) is expected; stay quiet about it."""


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTrakt
    host: str  # "api" | "auth"
    protocol_version = "HTTP/1.1"
    server_version = "FakeTrakt/1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, on the server's own (possibly skewed) clock."""
        now = time.time() if timestamp is None else timestamp
        return super().date_time_string(now + self.fake.date_offset)

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = _INVALID
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        rec = Recorded(self.command, split.path, query, headers, body, time.time(), raw, self.host)
        reply = self.fake._handle(rec)
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if reply.raw is not None:
            data = reply.raw.encode()
            ctype = "application/json" if reply.raw.lstrip()[:1] in ("{", "[") else "text/html"
        elif reply.body is None:
            data, ctype = b"", "application/json"
        else:
            data, ctype = json.dumps(reply.body).encode(), "application/json"
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _serve


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Trakt-like test server standalone.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--auth-port", type=int, default=8001, help="the OAuth host's port")
    parser.add_argument("--auto-approve", action="store_true", help="approve device codes at the first poll")
    args = parser.parse_args()
    fake = FakeTrakt()
    fake.add_movie("The Matrix", 1999, {"trakt": 481, "imdb": "tt0133093", "tmdb": 603})
    fake.add_show(
        "Breaking Bad",
        2008,
        {"trakt": 1388, "tvdb": 81189, "imdb": "tt0903747", "tmdb": 1396},
        episodes={(1, n): {"title": f"Episode {n}"} for n in range(1, 8)},
    )
    if args.auto_approve:
        fake.device_script = [200] * 1000
    fake.start(args.port, args.auth_port)
    print(f"FakeTrakt API on {fake.url}, OAuth on {fake.auth_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
