"""Online identification against the Trakt-like server: look-alike shows and movies, daily shows by
air date, absolute numbers mapped to episodes with ids, the per-show episode cache. The look-alike
catalogue and its cases (tests/fixtures/lookalikes.py) are also measured by
`python -m bench identify --online`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scrobblerd.config.settings import IdentifyConfig, TraktConfig
from scrobblerd.identify.identifier import Identifier
from scrobblerd.models import Episode, MediaRef, Movie
from scrobblerd.store.db import Store
from scrobblerd.trakt.client import TraktClient
from tests.fixtures.lookalikes import CASES, episode_id, populate
from tests.trakt_server import FakeTrakt


def _season(
    show: int, season: int, count: int, aired: str | None = None
) -> dict[tuple[int, int], dict[str, object]]:
    return {(season, n): {"title": f"{show} {season}x{n}", "first_aired": aired} for n in range(1, count + 1)}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTrakt]:
    with FakeTrakt() as t:
        t.add_show("Shameless", 2004, {"trakt": 21}, episodes=_season(21, 1, 3), country="gb")
        t.add_show("Shameless", 2011, {"trakt": 22}, episodes=_season(22, 1, 3), country="us")
        t.add_movie("Fargo", 1996, {"trakt": 23})
        t.add_show("Fargo", 2014, {"trakt": 24}, episodes=_season(24, 1, 3), country="us")
        t.add_movie("Dune", 1984, {"trakt": 25})
        t.add_movie("Dune", 2021, {"trakt": 26})
        t.add_movie("Loveless", 2017, {"trakt": 27}, aliases=("Нелюбовь",))
        late_night = {
            (2024, 1): {
                "title": "Guest A",
                "first_aired": "2024-03-15T03:35:00.000Z",
            },  # 23:35 on the 14th, NY
            (2024, 2): {"title": "Guest B", "first_aired": "2024-03-16T03:35:00.000Z"},
        }
        t.add_show("The Late Show", 2015, {"trakt": 28}, episodes=late_night, timezone="America/New_York")
        bleach = {**_season(29, 1, 3), **_season(29, 2, 3), (0, 1): {"title": "special"}}
        t.add_show("Bleach", 2004, {"trakt": 29}, episodes=bleach)  # no number_abs at Trakt
        slayer = _season(30, 1, 26)
        t.add_show(
            "Demon Slayer: Kimetsu no Yaiba",
            2019,
            {"trakt": 30},
            episodes=slayer,
            absolute={n: (1, n) for n in range(1, 27)},
            aliases=("Kimetsu no Yaiba",),
        )
        t.add_show("Attack on Titan", 2013, {"trakt": 31}, episodes=_season(31, 1, 25), aliases=())
        t.add_show("Space: 1999", 1975, {"trakt": 32}, episodes=_season(32, 1, 24))
        yield t


@pytest.fixture
def client(fake: FakeTrakt) -> Iterator[TraktClient]:
    fake.clear_faults()
    with TraktClient(TraktConfig(api_url=fake.url, auth_url=fake.auth_url, timeout=5)) as c:
        yield c


def identify(
    client: TraktClient, path: str, store: Store | None = None
) -> tuple[Episode | Movie | None, str]:
    found = Identifier(IdentifyConfig(), client, store).identify(MediaRef(path=path))
    return found.item, found.reason or ""


@pytest.mark.parametrize(
    ("path", "trakt"),
    [
        ("Shameless.US.S01E02.720p.mkv", 22),
        ("Shameless (UK) - 1x02 - Episode.avi", 21),
        ("/tv/Shameless (2011)/Season 1/Shameless.S01E02.mkv", 22),  # the folder's year
    ],
)
def test_country_markers_and_folder_years_pick_between_same_titled_shows(
    client: TraktClient, path: str, trakt: int
) -> None:
    item, reason = identify(client, path)
    assert isinstance(item, Episode) and item.show.ids["trakt"] == trakt, reason
    assert item.ids["trakt"] == trakt * 10_000 + 1000 + 2


def test_same_titled_shows_without_a_marker_stay_unknown(client: TraktClient) -> None:
    item, reason = identify(client, "Shameless.S01E02.720p.mkv")
    assert item is None and "ambiguous" in reason


def test_movie_and_series_of_one_title_are_told_apart(client: TraktClient) -> None:
    movie, _ = identify(client, "Fargo.1996.1080p.BluRay.mkv")
    episode, _ = identify(client, "Fargo.S01E03.1080p.WEB.mkv")
    assert isinstance(movie, Movie) and movie.ids["trakt"] == 23
    assert isinstance(episode, Episode) and episode.show.ids["trakt"] == 24 and episode.number == 3


@pytest.mark.parametrize(
    ("path", "trakt"), [("/movies/Dune (1984)/Dune.mkv", 25), ("Dune.2021.2160p.mkv", 26)]
)
def test_remakes_by_the_year_in_the_name_or_the_folder(client: TraktClient, path: str, trakt: int) -> None:
    item, reason = identify(client, path)
    assert isinstance(item, Movie) and item.ids["trakt"] == trakt, reason


def test_non_ascii_original_title_found_through_its_alternate(client: TraktClient) -> None:
    item, reason = identify(client, "Нелюбовь / Loveless (2017) BDRip 1080p.mkv")
    assert isinstance(item, Movie) and item.ids["trakt"] == 27, reason


def test_a_daily_show_by_its_air_date_in_the_shows_time_zone(client: TraktClient) -> None:
    item, reason = identify(client, "The.Late.Show.2024.03.14.Guest.A.720p.WEB.h264.mkv")
    assert isinstance(item, Episode) and (item.season, item.number) == (2024, 1), reason
    assert item.ids["trakt"] == 28 * 10_000 + 2024 * 1000 + 1 and "aired 2024-03-14" in reason


def test_absolute_numbers_without_trakt_numbering_count_regular_episodes(client: TraktClient) -> None:
    item, reason = identify(client, "/anime/Bleach/Bleach - 005 [DVD].avi")
    assert isinstance(item, Episode) and (item.season, item.number, item.number_abs) == (2, 2, 5), reason
    assert item.ids["trakt"] == 29 * 10_000 + 2 * 1000 + 2


def test_an_alias_finds_the_show_and_a_batch_maps_every_episode(client: TraktClient) -> None:
    found = Identifier(IdentifyConfig(), client).identify(
        MediaRef(path="[Group] Kimetsu no Yaiba - 18-19 [1080p].mkv")
    )
    assert [(e.season, e.number, e.number_abs) for e in found.items if isinstance(e, Episode)] == [
        (1, 18, 18),
        (1, 19, 19),
    ], found.reason
    assert all(isinstance(e, Episode) and e.ids.get("trakt") for e in found.items)
    assert "alias" in (found.reason or "")


def test_the_second_title_of_a_pair_is_searched_when_the_first_is_unknown(client: TraktClient) -> None:
    item, reason = identify(client, "Shingeki no Kyojin / Attack on Titan - 25 [BD 1080p].mkv")
    assert isinstance(item, Episode) and item.show.ids["trakt"] == 31 and item.number == 25, reason
    assert "as 'Attack on Titan'" in reason


def test_episode_lists_are_cached_per_show_in_the_store(
    client: TraktClient, fake: FakeTrakt, tmp_path: object
) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)

    def listings() -> int:
        return sum(1 for r in fake.requests if r.path == "/shows/29/seasons")

    before = listings()
    with Store.open(tmp_path) as store:
        first, _ = identify(client, "/anime/Bleach/Bleach - 004.avi", store)
        second, _ = identify(client, "/anime/Bleach/Bleach - 006.avi", store)
    with Store.open(tmp_path) as store:  # a new process reads the same SQLite cache
        third, _ = identify(client, "/anime/Bleach/Bleach - 001.avi", store)
    assert [(e.season, e.number) for e in (first, second, third) if isinstance(e, Episode)] == [
        (2, 1),
        (2, 3),
        (1, 1),
    ]
    assert listings() - before == 1


def test_a_year_that_is_part_of_a_title(client: TraktClient) -> None:
    item, reason = identify(client, "Space.1999.S01E01.Breakaway.1080p.BluRay.x264-OFT.mkv")
    assert isinstance(item, Episode) and item.show.ids["trakt"] == 32 and item.number == 1, reason
    assert "the year is part of the title" in reason


@pytest.fixture(scope="module")
def lookalikes() -> Iterator[TraktClient]:
    with FakeTrakt() as t:
        populate(t)
        with TraktClient(TraktConfig(api_url=t.url, timeout=5)) as c:
            yield c


@pytest.mark.parametrize(("cls", "path", "want"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_lookalikes_resolve_to_the_exact_trakt_item_or_stay_unknown(
    lookalikes: TraktClient, cls: str, path: str, want: int | None
) -> None:
    found = Identifier(IdentifyConfig(), lookalikes).identify(MediaRef(path=path))
    got = found.item.ids.get("trakt") if found.item is not None else None
    assert got == want, f"[{cls}] {found.reason}"


def test_every_part_of_a_multi_episode_file_has_its_own_episode(lookalikes: TraktClient) -> None:
    identifier = Identifier(IdentifyConfig(), lookalikes)
    batch = identifier.identify(MediaRef(path="[Group] One Piece - 1071-1073 [1080p].mkv"))
    double = identifier.identify(MediaRef(path="The.Office.US.S02E01E02.720p.mkv"))
    assert [i.ids.get("trakt") for i in batch.items] == [episode_id(34, 21, n) for n in (1, 2, 3)]
    assert [i.ids.get("trakt") for i in double.items] == [episode_id(25, 2, n) for n in (1, 2)]


def test_the_cache_keeps_country_versions_apart(client: TraktClient, tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    with Store.open(tmp_path) as store:
        us, _ = identify(client, "Shameless.US.S01E02.720p.mkv", store)
        uk, _ = identify(client, "Shameless.UK.S01E02.720p.mkv", store)
    assert isinstance(us, Episode) and isinstance(uk, Episode)
    assert (us.show.ids["trakt"], uk.show.ids["trakt"]) == (22, 21)
