"""Fixes: Trakt references, the rules file, apply_fix against the Trakt-like server and a real store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrobblerd.config.settings import IdentifyConfig, OverrideRule, TraktConfig
from scrobblerd.identify.fixes import FixError, apply_fix, fixes_path, load_fixes, remove_fix
from scrobblerd.identify.identifier import Identifier, cache_key
from scrobblerd.identify.parse import parse
from scrobblerd.identify.traktref import TraktRef, TraktRefError, parse_trakt_ref
from scrobblerd.models import ActionKind, Episode, MediaRef, Movie, ScrobbleAction
from scrobblerd.store import deliveries
from scrobblerd.store.db import Store
from scrobblerd.trakt.client import TraktClient
from tests.trakt_server import FakeTrakt


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("https://trakt.tv/movies/the-matrix-1999", TraktRef("movie", "slug", "the-matrix-1999")),
        (
            "https://app.trakt.tv/shows/the-office/seasons/2/episodes/3",
            TraktRef("episode", "slug", "the-office", 2, 3),
        ),
        ("https://trakt.tv/shows/1390", TraktRef("show", "trakt", "1390")),
        ("481", TraktRef(None, "trakt", "481")),
        ("movie:481", TraktRef("movie", "trakt", "481")),
        ("show:the-office", TraktRef("show", "slug", "the-office")),
        ("tt0133093", TraktRef(None, "imdb", "tt0133093")),
        ("tvdb:73244", TraktRef(None, "tvdb", "73244")),
    ],
)
def test_trakt_urls_and_ids_are_read(text: str, ref: TraktRef) -> None:
    assert parse_trakt_ref(text) == ref


@pytest.mark.parametrize(
    "text",
    [
        "https://example.com/movies/x",
        "https://trakt.tv/shows/x/seasons/2",
        "the matrix",
        "https://trakt.tv/users/sean",
    ],
)
def test_what_names_no_item_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(TraktRefError, match="trakt"):
        parse_trakt_ref(text)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTrakt]:
    with FakeTrakt() as t:
        t.add_movie("The Matrix", 1999, {"trakt": 481, "imdb": "tt0133093"})
        t.add_movie("Matrix", 1993, {"trakt": 482})
        t.add_show(
            "The Office", 2005, {"trakt": 3}, episodes={(2, n): {"title": f"2x{n}"} for n in range(1, 5)}
        )
        yield t


@pytest.fixture
def client(fake: FakeTrakt) -> Iterator[TraktClient]:
    with TraktClient(TraktConfig(api_url=fake.url, auth_url=fake.auth_url, timeout=5)) as c:
        yield c


def queue_watch(store: Store, path: str, viewing: str, part: int = 0, parts: int = 1) -> int:
    action = ScrobbleAction(
        ActionKind.STOP,
        "mpv:x",
        viewing,
        MediaRef(path=path),
        95.0,
        1000.0 + part,
        watched=True,
        part=part,
        parts=parts,
    )
    row = deliveries.enqueue_watch(store, action, 0.0)
    assert row is not None
    return row


def test_apply_fix_writes_the_rule_drops_the_cache_and_redelivers(
    client: TraktClient, tmp_path: Path
) -> None:
    path = "/dl/Matrix.1993.mkv"
    rules = fixes_path(tmp_path)
    with Store.open(tmp_path) as store:
        first = Identifier(IdentifyConfig(), client, store).identify(MediaRef(path=path))
        assert isinstance(first.item, Movie) and first.item.ids["trakt"] == 482  # the wrong film
        row = queue_watch(store, path, "v1")
        with store.write() as conn:
            deliveries.fail(conn, [row], "permanent: 404")
        other = queue_watch(store, "/dl/Other.mkv", "v2")

        result = apply_fix(store, rules, path, "https://trakt.tv/movies/the-matrix-1999", client, now=50.0)

        assert (result.number, result.path, result.redelivered, result.cache_dropped) == (
            1,
            path,
            (row,),
            True,
        )
        assert store.cache_get(cache_key(parse(MediaRef(path=path)))) is None
        fixed = deliveries.get(store, row)
        assert fixed is not None and (fixed.status, fixed.attempts, fixed.next_attempt_at) == (
            "pending",
            0,
            50.0,
        )
        assert fixed.payload["item"]["ids"]["trakt"] == 481
        untouched = deliveries.get(store, other)
        assert untouched is not None and "item" not in untouched.payload
        again = Identifier(IdentifyConfig(), client, store, fixes_file=rules).identify(MediaRef(path=path))
    assert isinstance(again.item, Movie) and again.item.ids["trakt"] == 481
    assert again.source == "override" and "fix #1" in (again.reason or "")
    assert [f.path for f in load_fixes(rules)] == [path]
    assert json.loads(rules.read_text())["fixes"][0]["ref"] == "https://trakt.tv/movies/the-matrix-1999"


def test_a_show_fix_takes_the_episode_from_the_name_and_a_multi_part_file_gets_each(
    client: TraktClient, tmp_path: Path
) -> None:
    path = "/tv/Office/The.Office.S02E01E02.mkv"
    with Store.open(tmp_path) as store:
        rows = [queue_watch(store, path, "v", part, 2) for part in (0, 1)]
        result = apply_fix(store, fixes_path(tmp_path), path, "https://trakt.tv/shows/3", client)
        items = [deliveries.get(store, r) for r in rows]
    assert result.redelivered == tuple(rows)
    assert [(i.payload["item"]["season"], i.payload["item"]["number"]) for i in items if i] == [
        (2, 1),
        (2, 2),
    ]
    assert all(i and i.payload["item"]["ids"]["trakt"] for i in items)


def test_an_episode_fix_names_the_episode_with_its_ids(client: TraktClient, tmp_path: Path) -> None:
    path = "/tv/misc/office-clip.mkv"
    with Store.open(tmp_path) as store:
        apply_fix(store, fixes_path(tmp_path), path, "https://trakt.tv/shows/3/seasons/2/episodes/4", client)
        found = Identifier(IdentifyConfig(), client, store, fixes_file=fixes_path(tmp_path)).identify(
            MediaRef(path=path)
        )
    assert isinstance(found.item, Episode) and (found.item.season, found.item.number) == (2, 4)
    assert found.item.ids["trakt"] == 3 * 10_000 + 2 * 1000 + 4


def test_config_overrides_still_win_over_fixes(client: TraktClient, tmp_path: Path) -> None:
    path = "/dl/Matrix.1993.mkv"
    with Store.open(tmp_path) as store:
        apply_fix(store, fixes_path(tmp_path), path, "movie:481", client)
        rule = OverrideRule(type="movie", path="Matrix\\.1993", trakt=482, line=3)
        config = IdentifyConfig(overrides=(rule,))
        found = Identifier(config, client, store, fixes_file=fixes_path(tmp_path)).identify(
            MediaRef(path=path)
        )
    assert (
        isinstance(found.item, Movie)
        and found.item.ids["trakt"] == 482
        and "override rule" in (found.reason or "")
    )


def test_a_fix_overrides_the_built_in_ignores(client: TraktClient, tmp_path: Path) -> None:
    path = "/home/ann/DCIM/VID_20240301_123456.mp4"
    with Store.open(tmp_path) as store:
        assert Identifier(IdentifyConfig(), client, store).identify(MediaRef(path=path)).item is None
        apply_fix(store, fixes_path(tmp_path), path, "tt0133093", client)
        found = Identifier(IdentifyConfig(), client, store, fixes_file=fixes_path(tmp_path)).identify(
            MediaRef(path=path)
        )
    assert isinstance(found.item, Movie) and found.item.ids["trakt"] == 481


def test_a_running_identifier_sees_a_new_fix_and_a_removed_one(client: TraktClient, tmp_path: Path) -> None:
    path = "/dl/Matrix.1993.mkv"
    rules = fixes_path(tmp_path)
    with Store.open(tmp_path) as store:
        identifier = Identifier(IdentifyConfig(), client, store, fixes_file=rules)
        assert identifier.fixes.match(MediaRef(path=path)) is None
        apply_fix(store, rules, path, "movie:481", client)
        assert identifier.fixes.match(MediaRef(path=path)) is not None
        remove_fix(rules, 1)
        assert identifier.fixes.match(MediaRef(path=path)) is None


@pytest.mark.parametrize(
    ("target", "ref", "message"),
    [
        ("/dl/x.mkv", "https://trakt.tv/movies/no-such-film", "Trakt has no movie"),
        ("/dl/x.mkv", "https://trakt.tv/shows/3/seasons/9/episodes/9", "Trakt has no episode"),
        ("/dl/x.mkv", "not a link", "not a Trakt URL or id"),
    ],
)
def test_a_bad_fix_writes_nothing(
    client: TraktClient, tmp_path: Path, target: str, ref: str, message: str
) -> None:
    with Store.open(tmp_path) as store, pytest.raises(FixError, match=message):
        apply_fix(store, fixes_path(tmp_path), target, ref, client)
    assert not fixes_path(tmp_path).exists()
    with pytest.raises(FixError, match="no fix number 1"):
        remove_fix(fixes_path(tmp_path), 1)


def test_a_damaged_rules_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    rules = fixes_path(tmp_path)
    rules.write_text("{not json")
    with pytest.raises(FixError, match="not a fixes file"):
        load_fixes(rules)
    assert rules.read_text() == "{not json"


def test_a_file_url_names_the_same_file(client: TraktClient, tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        result = apply_fix(store, fixes_path(tmp_path), "file:///dl/My%20Film.mkv", "movie:481", client)
    assert result.path == "/dl/My Film.mkv"
