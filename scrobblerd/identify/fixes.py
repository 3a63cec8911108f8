"""Corrections that stick: `scrobblerd identify --fix PATH_OR_QUEUE_ID TRAKT_URL_OR_ID`.

A fix says "this file is that Trakt item". Fixes live in a rules file in `state_dir`
(identify-fixes.json, written atomically; the user's config is never rewritten); the config's
`identify.overrides` are checked first and still win. Applying a fix looks the item up on Trakt
(so a typo fails at once), drops the cached match of that name, and hands every queued or failed
watch of the file back to the delivery queue with the corrected item. `apply_fix` is what the
command line and the web page call.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

import structlog

from scrobblerd.atomic import write_atomic
from scrobblerd.config.settings import IdentifyConfig
from scrobblerd.identify.traktref import TraktRef, TraktRefError, parse_trakt_ref
from scrobblerd.models import Episode, MediaRef, Movie, Show, item_from_json
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.store.history import history_identify
from scrobblerd.timefmt import iso_utc, parse_time

if TYPE_CHECKING:
    from scrobblerd.identify.identifier import Identifier

log = structlog.get_logger()

FIXES_NAME = "identify-fixes.json"
FORMAT_VERSION = 1


class FixError(ValueError):
    """A fix that cannot be applied (unknown target, no such Trakt item, bad rules file)."""


class TargetLookup(Protocol):
    """The Trakt client calls a fix needs (scrobblerd.trakt.client.TraktClient)."""

    def summary(self, kind: str, key: str) -> Movie | Show | None: ...

    def search_id(self, id_type: str, value: str | int, type: str | None = None) -> Sequence[Any]: ...

    def episode(self, show: Show, season: int, number: int) -> Episode | None: ...


class FixClient(TargetLookup, Protocol):
    """The client apply_fix needs: look-ups for the target and the identification search."""

    def search_text(
        self, query: str, types: Sequence[str] = ("movie", "show"), year: int | None = None, limit: int = 10
    ) -> Sequence[Any]: ...

    def show_episodes(self, show: Show) -> Any: ...

    def show_aliases(self, show: Show) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Fix:
    """One rule: the file at `path` is `target` (a Movie, an Episode, or a Show whose episode the
    file name gives). `ref` is what the user typed."""

    path: str
    target: Movie | Episode | Show
    ref: str
    created_at: float = field(default_factory=time.time)

    def describe(self) -> str:
        return describe_target(self.target)

    def to_json(self) -> dict[str, Any]:
        target = self.target
        body = {"type": "show", "show": target.to_json()} if isinstance(target, Show) else target.to_json()
        return {"path": self.path, "target": body, "ref": self.ref, "created_at": iso_utc(self.created_at)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fix:
        body = data["target"]
        target: Movie | Episode | Show
        if body.get("type") == "show":
            show = body["show"]
            target = Show(str(show["title"]), show.get("year"), dict(show.get("ids") or {}))
        else:
            target = item_from_json(body)
        created = data.get("created_at")
        stamp = parse_time(str(created)).timestamp() if created else 0.0
        return cls(str(data["path"]), target, str(data.get("ref") or ""), stamp)


def describe_target(target: Movie | Episode | Show) -> str:
    if isinstance(target, Episode):
        show = target.show
        year = f" ({show.year})" if show.year else ""
        label = f"S{target.season or 0:02d}E{target.number or 0:02d}"
        return f"{show.title}{year} {label} [trakt {target.ids.get('trakt')}]"
    year = f" ({target.year})" if target.year else ""
    kind = "show " if isinstance(target, Show) else ""
    return f"{kind}{target.title}{year} [trakt {target.ids.get('trakt')}]"


def fixes_path(state_dir: Path) -> Path:
    return Path(state_dir) / FIXES_NAME


def load_fixes(path: Path) -> list[Fix]:
    """The fixes in order (rule N is index N - 1); none when the file does not exist."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise FixError(f"{path}: cannot read the fixes ({exc.strerror})") from None
    try:
        data = json.loads(text)
        return [Fix.from_json(entry) for entry in data["fixes"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise FixError(f"{path}: not a fixes file ({exc}); move it aside to start over") from None


def save_fixes(path: Path, fixes: Sequence[Fix]) -> None:
    body = {"version": FORMAT_VERSION, "fixes": [f.to_json() for f in fixes]}
    write_atomic(Path(path), json.dumps(body, indent=2, ensure_ascii=False) + "\n", durable=True)


def normalise_path(target: str) -> str:
    """A file as players report it: an absolute path (a file:// URL becomes one; other URLs stay)."""
    if target.lower().startswith("file://"):
        return unquote(urlsplit(target).path)
    if "://" in target:
        return target
    return os.path.abspath(os.path.expanduser(target))


def resolve_ref(client: TargetLookup, ref: TraktRef) -> Movie | Episode | Show:
    """The Trakt item `ref` names, looked up so that it carries every id; FixError when none."""
    if ref.kind == "episode":
        show = client.summary("show", ref.key) if ref.id_type in ("trakt", "slug") else None
        episode = client.episode(show, ref.season or 0, ref.number or 0) if isinstance(show, Show) else None
        if episode is None:
            raise FixError(f"Trakt has no {ref.describe()}")
        return episode
    if ref.kind in ("movie", "show") and ref.id_type in ("trakt", "slug"):
        found = client.summary(ref.kind, ref.key)
        if found is None:
            raise FixError(f"Trakt has no {ref.describe()}")
        return found
    hits = [
        h for h in client.search_id(ref.id_type, ref.key, ref.kind) if h.type in ("movie", "show", "episode")
    ]
    kinds = {h.type for h in hits}
    if len(hits) != 1:
        what = f"several items ({', '.join(sorted(kinds))})" if hits else "nothing"
        raise FixError(f"{ref.describe()} names {what} on Trakt: use a trakt.tv link instead")
    item = hits[0].item
    if not isinstance(item, Movie | Episode | Show):
        raise FixError(f"{ref.describe()} is not a movie, show or episode")
    return item


def parse_ref(text: str) -> TraktRef:
    try:
        return parse_trakt_ref(text)
    except TraktRefError as exc:
        raise FixError(str(exc)) from None


def add_fix(path: Path, fix: Fix) -> int:
    """Add (or replace the fix for the same file); returns the rule's number (1-based)."""
    fixes = [f for f in load_fixes(path) if f.path != fix.path]
    fixes.append(fix)
    save_fixes(path, fixes)
    log.info("identify_fix_added", path=fix.path, target=fix.describe(), rules=str(path))
    return len(fixes)


def remove_fix(path: Path, number: int) -> Fix:
    fixes = load_fixes(path)
    if not 1 <= number <= len(fixes):
        raise FixError(
            f"no fix number {number} (there are {len(fixes)}; see `scrobblerd identify --fix --list`)"
        )
    removed = fixes.pop(number - 1)
    save_fixes(path, fixes)
    log.info("identify_fix_removed", path=removed.path, rules=str(path))
    return removed


class FixBook:
    """The fixes as the Identifier reads them: reloaded when the file changes (the CLI and the web
    page write it while the daemon runs)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._fixes: list[Fix] = []

    def match(self, ref: MediaRef) -> tuple[int, Fix] | None:
        """(rule number, fix) for the file `ref` plays, or None."""
        if self.path is None or not ref.path:
            return None
        self._reload()
        for number, fix in enumerate(self._fixes, start=1):
            if fix.path == ref.path:
                return number, fix
        return None

    def _reload(self) -> None:
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except OSError:
            self._stamp, self._fixes = None, []
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                self._fixes = load_fixes(self.path)
            except FixError as exc:
                log.warning("identify_fixes_unreadable", error=str(exc))
                self._fixes = []
            self._stamp = stamp


@dataclass(frozen=True, slots=True)
class FixResult:
    """What `apply_fix` did: the rule's number and file, the item, the dropped cache entry, and the
    queue rows handed back for delivery (with the items they now carry)."""

    number: int
    path: str
    target: Movie | Episode | Show
    rules_path: Path
    cache_dropped: bool
    redelivered: tuple[int, ...]
    unresolved: tuple[int, ...] = ()  # queued watches the fix could not give an item (see reason)

    def to_json(self) -> dict[str, Any]:
        target = self.target
        body = {"type": "show", "show": target.to_json()} if isinstance(target, Show) else target.to_json()
        return {
            "number": self.number,
            "path": self.path,
            "target": body,
            "describe": describe_target(target),
            "rules": str(self.rules_path),
            "cache_dropped": self.cache_dropped,
            "redelivered": list(self.redelivered),
            "unresolved": list(self.unresolved),
        }


def apply_fix(
    store: Store,
    rules_path: Path,
    target: str,
    trakt_ref: str,
    client: FixClient,
    *,
    config: IdentifyConfig | None = None,
    now: float | None = None,
) -> FixResult:
    """`target` is a file path (or URL) or a queue id; `trakt_ref` a trakt.tv URL or an id. Looks
    the item up, writes the rule, drops the cached match of the file's name, and gives every
    queued or failed watch of the file the corrected item, due now. FixError on any problem
    (nothing is written then); TraktError when Trakt cannot be asked."""
    from scrobblerd.identify.identifier import Identifier, cache_key
    from scrobblerd.identify.parse import parse

    path = _target_path(store, target)
    item = resolve_ref(client, parse_ref(trakt_ref))
    number = add_fix(rules_path, Fix(path, item, trakt_ref.strip()))
    ref = MediaRef(path=path)
    key = cache_key(parse(ref))
    dropped = store.cache_get(key) is not None
    store.cache_delete(key)
    identifier = Identifier(config or IdentifyConfig(), client, store, fixes_file=rules_path)
    done, missing = _redeliver(store, identifier, path, time.time() if now is None else now)
    log.info("identify_fix_applied", path=path, target=describe_target(item), redelivered=len(done))
    return FixResult(number, path, item, rules_path, dropped, done, missing)


def _target_path(store: Store, target: str) -> str:
    text = target.strip()
    if text.isdigit() and (row := deliveries.get(store, int(text))) is not None:
        media = row.payload.get("media") or {}
        if row.kind != deliveries.WATCH or not media.get("path"):
            raise FixError(f"queue item {text} is not the watch of a file")
        return str(media["path"])
    if not text:
        raise FixError("give the file (or a queue id from `scrobblerd queue list`) to fix")
    return normalise_path(text)


def _redeliver(
    store: Store, identifier: Identifier, path: str, now: float
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    rows = [
        r
        for r in deliveries.rows(store)
        if r.kind == deliveries.WATCH
        and r.status in (deliveries.PENDING, deliveries.FAILED)
        and (r.payload.get("media") or {}).get("path") == path
    ]
    done: list[int] = []
    missing: list[int] = []
    for row in rows:
        part = int(row.payload.get("part", 0))
        item = identifier.resolve_for_delivery(MediaRef.from_json(row.payload["media"]), part)
        if item is None:
            missing.append(row.id)
            continue
        deliveries.redeliver(store, row.id, {**row.payload, "item": item.to_json()}, now)
        with store.write() as conn:
            history_identify(conn, row.payload["viewing"], part, item)
        done.append(row.id)
    return tuple(done), tuple(missing)
