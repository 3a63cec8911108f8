"""The daemon's long-lived resources, opened in dependency order and closed in reverse:
store -> tokens -> Trakt client -> identification -> delivery worker.

Part of the wiring room with daemon.py: this module builds things, daemon.py runs them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from scrobblerd.config.settings import Config
from scrobblerd.delivery.ratings import rating_handler
from scrobblerd.delivery.worker import DeliveryWorker
from scrobblerd.errors import TraktError
from scrobblerd.models import Item, MediaRef, PlayerEvent, SeekCommand
from scrobblerd.resume.book import PointBook
from scrobblerd.resume.service import Resumer
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.store.unsaved import runtime_journal
from scrobblerd.trakt.auth import TokenManager, TokenStore
from scrobblerd.trakt.client import TraktClient

if TYPE_CHECKING:
    from scrobblerd.identify.identifier import Identifier

log = structlog.get_logger()

SETTLE_MARGIN = 2.0  # seconds past the client's timeout before an unanswered send is checked


class IdentifierOnDemand:
    """Identification, built at its first use: its name parsers and their regular expressions
    (about 2 MiB) are not paid by a daemon that has nothing to identify yet."""

    def __init__(self, config: Config, client: TraktClient, store: Store) -> None:
        self._config, self._client, self._store = config, client, store
        self._identifier: Identifier | None = None
        self._lock = threading.Lock()

    def get(self) -> Identifier:
        built = self._identifier
        if built is not None:
            return built
        with self._lock:
            if self._identifier is None:
                from scrobblerd.identify.fixes import fixes_path
                from scrobblerd.identify.identifier import Identifier

                config = self._config
                self._identifier = Identifier(
                    config.identify,
                    searcher=self._client,
                    cache=self._store,
                    min_duration=config.scrobble.min_duration,
                    rules_file=str(config.source) if config.source else None,
                    fixes_file=fixes_path(config.state_dir),
                )
            return self._identifier

    @property
    def built(self) -> bool:
        return self._identifier is not None

    def resolve_for_delivery(self, ref: MediaRef, part: int = 0) -> Item | None:
        return self.get().resolve_for_delivery(ref, part)


@dataclass
class Services:
    store: Store
    tokens: TokenManager
    oauth: TraktClient
    client: TraktClient
    identification: IdentifierOnDemand
    delivery: DeliveryWorker

    token_file: TokenStore
    _token_stamp: int | None = None

    @property
    def identifier(self) -> Identifier:
        return self.identification.get()

    @classmethod
    def open(cls, config: Config) -> Services:
        store = Store.open(config.state_dir)
        oauth = TraktClient(config.trakt)  # refreshes tokens; carries no token itself
        token_file = TokenStore(config.state_dir)
        tokens = TokenManager(token_file, oauth)
        client = TraktClient(config.trakt, tokens)
        identifier = IdentifierOnDemand(config, client, store)
        delivery = DeliveryWorker(
            store, client, identifier.resolve_for_delivery, settle=config.trakt.timeout + SETTLE_MARGIN
        )
        handler = rating_handler(client, identifier.resolve_for_delivery)
        for kind in ("rating", "unrate"):
            delivery.register_handler(kind, handler)
        runtime = runtime_journal()
        if runtime is not None:
            delivery.unsaved.journals.append(runtime)
        delivery.unsaved.load_journals()
        return cls(store, tokens, oauth, client, identifier, delivery, token_file, token_file.stamp())

    def close(self) -> None:
        self.client.close()
        self.oauth.close()
        self.store.close()

    def resumer(
        self,
        config: Config,
        events: Callable[[PlayerEvent], None],
        seek: Callable[[SeekCommand], None],
        announce: Callable[[SeekCommand], None] | None,
    ) -> Resumer | None:
        """The resume service when `resume.enabled`, else None."""
        if not config.resume.enabled:
            return None
        book = PointBook(self.store, self.client)
        resolve = self.identification.resolve_for_delivery
        return Resumer(book, resolve, events, seek, threshold=config.scrobble.threshold, announce=announce)

    def count_parts(self, media: MediaRef) -> int:
        return self.identifier.count_parts(media)

    def refresh_token_if_due(self) -> None:
        try:
            if self.tokens.refresh_if_due():
                log.info("token_refreshed")
                self.delivery.resume()
        except TraktError as exc:
            log.warning("token_refresh_failed", error=str(exc))

    def announce_missing_login(self) -> None:
        """Said once at start: without a usable token nothing reaches Trakt, but nothing is lost."""
        state = self.tokens.status()
        if state["needs_reauth"]:
            log.warning(
                "trakt_login_refused",
                detail="Trakt refused the saved token; watches wait in the queue",
                hint="run `scrobblerd auth`",
            )
        elif not state["authorized"]:
            log.warning(
                "trakt_not_authorised",
                detail=state.get("problem") or "no token yet; watches wait in the queue until you log in",
                hint="run `scrobblerd auth`",
            )

    def notice_new_login(self) -> None:
        """`scrobblerd auth` in another process rewrote the token file: deliver now rather than
        at the next auth re-check (one stat call)."""
        stamp = self.token_file.stamp()
        if stamp != self._token_stamp:
            self._token_stamp = stamp
            if stamp is not None:
                log.debug("token_file_changed")
                self.delivery.resume()

    def cache_upkeep(self) -> None:
        self.store.cache_purge(time.time())

    def queue_depth(self) -> int:
        counts = deliveries.counts(self.store)
        return counts["pending"] + counts["inflight"]
