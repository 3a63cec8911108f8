"""`scrobblerd rate RATING [--last | --item TRAKT_ID_OR_PATH] [--show]`: rate on Trakt.

The rating goes out at once; when Trakt is unreachable it waits in the durable queue (kind
"rating") and the daemon delivers it, like a watch. A bad RATING is a usage error (exit 2)
raised while parsing, before anything is read or sent.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrobblerd.cli.common import fail, load_config_or_exit
from scrobblerd.delivery.ratings import (
    UNRATE,
    choose_target,
    describe_rating,
    describe_target,
    last_watch,
    media_payload,
    parse_rating,
    rating_payload,
    record_item,
    send_rating,
)

if TYPE_CHECKING:
    from scrobblerd.config.settings import Config
    from scrobblerd.models import Item, MediaRef, Show
    from scrobblerd.store.db import Store
    from scrobblerd.trakt.client import TraktClient

from scrobblerd.exitcodes import EXIT_USAGE

# "481", "movie:481", "show:1388", "episode:73482", "tt0133093"
_TRAKT_ID = re.compile(r"(?:(movie|show|episode):)?(\d+)")
_IMDB_ID = re.compile(r"tt\d+")

EPILOG = """\
examples:
  scrobblerd rate 8 --last          rate what you watched last 8/10
  scrobblerd rate love              the same as 10 (hate is 1)
  scrobblerd rate 9 --last --show   rate the show of the last episode
  scrobblerd rate unrate --last     remove the rating (0 works too)
  scrobblerd rate 7 --item movie:481
  scrobblerd rate 6 --item ~/Videos/Breaking.Bad.S01E02.720p.mkv
"""


class _Stop(Exception):
    """End the command with `code` after printing `message` to stderr."""

    def __init__(self, message: str, code: int = 1) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class _Pick:
    """What to rate: a resolved target, or media to identify later (Trakt unreachable now)."""

    target: Item | Show | None
    label: str
    media: MediaRef | None = None
    part: int = 0


def _rating_arg(text: str) -> int:
    try:
        return parse_rating(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "rate",
        parents=[common],
        help="rate the last watched item (or a given one) on Trakt",
        description="Rate the last watched item, or a given one, on Trakt. RATING is 1-10, love (10), "
        "hate (1), or 0/unrate to remove your rating. Offline, the rating is queued and delivered later.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("rating", type=_rating_arg, metavar="RATING", help="1-10, love, hate, 0 or unrate")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--last", action="store_true", help="the last watched item (the default)")
    which.add_argument(
        "--item",
        metavar="TRAKT_ID_OR_PATH",
        help="a Trakt id (481, movie:481, show:1388, episode:73482), an IMDb id, or a file/URL",
    )
    p.add_argument("--show", action="store_true", help="for an episode: rate its show instead")
    p.set_defaults(handler=cmd_rate)


def cmd_rate(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args)
    from scrobblerd.store.db import Store
    from scrobblerd.trakt.auth import open_tokens
    from scrobblerd.trakt.client import TraktClient

    tokens, oauth = open_tokens(config)
    with oauth, TraktClient(config.trakt, tokens) as client, Store.open(config.state_dir) as store:
        try:
            return _rate(args, config, client, store)
        except _Stop as stop:
            return fail(str(stop), stop.code)


def _rate(args: argparse.Namespace, config: Config, client: TraktClient, store: Store) -> int:
    from scrobblerd.errors import AuthError, PermanentError, TransientError

    rating: int = args.rating
    now = time.time()
    pick = _pick_item(args, config, client, store) if args.item else _pick_last(args, config, client, store)
    if pick.target is None:
        assert pick.media is not None
        payload: dict[str, Any] = media_payload(pick.media, pick.part, args.show, rating, now)
        return _queued(store, payload, pick.label, now, "Trakt is unreachable, so it is not identified yet")
    try:
        send_rating(client, pick.target, rating, datetime.fromtimestamp(now, UTC))
    except TransientError as exc:
        return _queued(store, rating_payload(pick.target, rating, now), pick.label, now, str(exc))
    except AuthError as exc:
        raise _Stop(str(exc)) from None
    except PermanentError as exc:
        raise _Stop(f"rating not sent: {exc}") from None
    if rating == UNRATE:
        print(f"Removed your rating of {pick.label}")
    else:
        print(f"Rated {pick.label}: {describe_rating(rating)}")
    return 0


def _queued(store: Store, payload: dict[str, Any], label: str, now: float, why: str) -> int:
    from scrobblerd.store import deliveries

    row = deliveries.enqueue(store, deliveries.RATING, payload, now)
    print(f"Trakt is unreachable ({why}).", file=sys.stderr)
    print(f"The rating of {label} is queued (#{row}); the daemon delivers it when Trakt is back.")
    return 0


def _pick_last(args: argparse.Namespace, config: Config, client: TraktClient, store: Store) -> _Pick:
    from scrobblerd.models import MediaRef

    record = last_watch(store.history(limit=1))
    if record is None:
        raise _Stop("no watches in the local history yet; rate a given item with --item")
    item = record_item(record)
    label = record.title or "the last watch"
    if item is None:
        media = MediaRef.from_json(record.media)
        item = _resolve_media(config, client, store, media, record.part)
        if item is None:
            return _Pick(None, label, media, record.part)
    target = _choose(item, args.show)
    return _Pick(target, describe_target(target))


def _pick_item(args: argparse.Namespace, config: Config, client: TraktClient, store: Store) -> _Pick:
    from scrobblerd.models import MediaRef

    value: str = args.item.strip()
    if _TRAKT_ID.fullmatch(value) or _IMDB_ID.fullmatch(value):
        target = _lookup_id(client, value, args.show)
        return _Pick(target, describe_target(target))
    path = Path(value).expanduser()
    media = MediaRef(path=str(path.resolve()) if path.exists() else value)
    item = _resolve_media(config, client, store, media, 0)
    if item is None:
        return _Pick(None, media.path or value, media)
    target = _choose(item, args.show)
    return _Pick(target, describe_target(target))


def _choose(item: Item, show: bool) -> Item | Show:
    try:
        return choose_target(item, show)
    except ValueError as exc:
        raise _Stop(str(exc), EXIT_USAGE) from None


def _resolve_media(
    config: Config, client: TraktClient, store: Store, media: MediaRef, part: int
) -> Item | None:
    """The Trakt item for `media`; None when Trakt is unreachable (the caller queues)."""
    from scrobblerd.errors import TraktError, TransientError
    from scrobblerd.identify.identifier import Identifier

    rules = str(config.source) if config.source else None
    from scrobblerd.identify.fixes import fixes_path

    identifier = Identifier(
        config.identify, client, store, rules_file=rules, fixes_file=fixes_path(config.state_dir)
    )
    try:
        item = identifier.resolve_for_delivery(media, part)
    except TransientError:
        return None
    except TraktError as exc:
        raise _Stop(f"cannot identify {media.path or media.title}: {exc}") from None
    if item is None:
        found = identifier.identify(media, offline=True)
        raise _Stop(f"cannot identify {media.path or media.title}: {found.reason or 'unknown'}")
    return item


def _lookup_id(client: TraktClient, value: str, show: bool) -> Item | Show:
    from scrobblerd.errors import TraktError
    from scrobblerd.models import Episode, Show

    match = _TRAKT_ID.fullmatch(value)
    id_type, key, kind = ("trakt", match.group(2), match.group(1)) if match else ("imdb", value, None)
    if show and kind in (None, "episode"):
        kind = kind or "show"
    try:
        hits = client.search_id(id_type, key, kind)
    except TraktError as exc:
        raise _Stop(f"cannot look up {value} on Trakt: {exc}") from None
    items = [h.item for h in hits]
    if not items:
        raise _Stop(f"Trakt knows no item with the {id_type} id {key}")
    if len(items) > 1:
        kinds = ", ".join(f"{type(i).__name__.lower()}:{key}" for i in items)
        raise _Stop(f"{value} names several items; write one of {kinds}", EXIT_USAGE)
    item = items[0]
    if show and isinstance(item, Episode):
        return item.show
    if show and not isinstance(item, Show):
        raise _Stop(f"--show rates an episode's show, but {describe_target(item)} is a movie", EXIT_USAGE)
    return item
