"""Identification end to end against the Trakt-like test server: scoring, overrides, cache, filters."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrobblerd.cli import main
from scrobblerd.config.settings import IdentifyConfig, OverrideRule, TraktConfig
from scrobblerd.errors import TransientError
from scrobblerd.identify.identifier import Identifier, cache_key, excluded
from scrobblerd.identify.parse import parse
from scrobblerd.identify.search import choose
from scrobblerd.models import Episode, MediaRef, Movie, Show
from scrobblerd.store.db import Store
from scrobblerd.trakt.client import TraktClient
from tests.trakt_server import FakeTrakt

MATRIX: dict[str, int | str] = {"trakt": 481, "imdb": "tt0133093", "tmdb": 603}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTrakt]:
    with FakeTrakt() as server:
        server.add_movie("The Matrix", 1999, dict(MATRIX))
        server.add_movie("Heat", 1995, {"trakt": 1001, "imdb": "tt0113277"})
        server.add_movie("Amélie", 2001, {"trakt": 1002})
        server.add_movie("Blade Runner 2049", 2017, {"trakt": 1003})
        server.add_movie("Blade Runner", 1982, {"trakt": 1004})
        server.add_movie("Dune", 2021, {"trakt": 1005})
        server.add_movie("Dune", 1984, {"trakt": 1006})
        server.add_movie("The Thing", 1982, {"trakt": 1007})
        server.add_movie(
            "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb", 1964, {"trakt": 1008}
        )
        server.add_movie("Léon: The Professional", 1994, {"trakt": 1009, "imdb": "tt0110413"})
        server.add_show("Mad Men", 2007, {"trakt": 1, "tvdb": 80337}, episodes={(1, 1): {"title": "Smoke"}})
        server.add_show("X-Men '97", 2024, {"trakt": 2}, episodes={(1, 1): {"title": "To Me, My X-Men"}})
        office_us = {(s, e): {"title": f"US {s}x{e}"} for s in (0, 1, 2) for e in range(1, 7)}
        server.add_show("The Office", 2005, {"trakt": 3, "tvdb": 73244}, episodes=office_us)
        server.add_show("The Office", 2001, {"trakt": 4}, episodes={(1, 1): {"title": "Downsize"}})
        server.add_show(
            "One Piece", 1999, {"trakt": 5}, episodes={(21, 1): {"title": "x"}}, absolute={1071: (21, 1)}
        )
        frieren = {(s, e): {"title": f"F {s}x{e}"} for s in (1, 2) for e in range(1, 29)}
        server.add_show("Frieren: Beyond Journey's End", 2023, {"trakt": 6}, episodes=frieren)
        server.add_show(
            "Doctor Who", 2005, {"trakt": 7}, episodes={(0, 1): {"title": "The Christmas Invasion"}}
        )
        server.add_show("Doctor Who", 1963, {"trakt": 8}, episodes={(1, 1): {"title": "An Unearthly Child"}})
        server.add_show("The Daily Show", 1996, {"trakt": 9})
        yield server


@pytest.fixture
def client(fake: FakeTrakt) -> Iterator[TraktClient]:
    fake.clear_faults()
    with TraktClient(TraktConfig(api_url=fake.url, auth_url=fake.auth_url, timeout=5)) as c:
        yield c


class MemoryCache:
    """The Cache protocol in memory, with a clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.data: dict[str, tuple[dict[str, Any], float]] = {}
        self.ttls: list[float] = []

    def cache_get(self, key: str) -> dict[str, Any] | None:
        value, until = self.data.get(key, ({}, 0.0))
        return json.loads(json.dumps(value)) if until > self.now else None

    def cache_put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        self.ttls.append(ttl)
        self.data[key] = (json.loads(json.dumps(value)), self.now + ttl)

    def cache_delete(self, key: str) -> None:
        self.data.pop(key, None)

    def cache_clear(self) -> int:
        n = len(self.data)
        self.data.clear()
        return n


def ident(client: TraktClient | None, cache: MemoryCache | None = None, **config: Any) -> Identifier:
    return Identifier(IdentifyConfig(**config), client, cache, min_duration=300, rules_file="config.yaml")


def searches(fake: FakeTrakt) -> int:
    return sum(1 for r in fake.requests if r.path.startswith("/search"))


# ---- search scoring ---------------------------------------------------------------------------


def test_movie_exact_title_and_year(client: TraktClient) -> None:
    found = ident(client).identify(MediaRef(path="/m/The.Matrix.1999.1080p.BluRay.x264-AMIABLE.mkv"))
    assert found.item == Movie("The Matrix", 1999, {"slug": "the-matrix-1999", **MATRIX})
    assert found.source == "search"
    assert "exact title and year" in (found.reason or "")


def test_mad_men_is_not_x_men_97_and_back(client: TraktClient) -> None:
    mad = ident(client).identify(MediaRef(path="Mad.Men.S01E01.720p.mkv"))
    assert isinstance(mad.item, Episode) and mad.item.show.title == "Mad Men"
    assert "X-Men '97 (2024) [trakt 2]: title differs" in (mad.reason or "")
    xmen = ident(client).identify(MediaRef(path="X-Men.97.S01E01.1080p.WEB.H264-NHTV.mkv"))
    assert isinstance(xmen.item, Episode) and xmen.item.show.ids["trakt"] == 2
    assert (xmen.item.season, xmen.item.number) == (1, 1)
    assert xmen.item.ids["trakt"] == 21001


def test_two_shows_of_one_title_without_a_year_stay_unknown(client: TraktClient) -> None:
    found = ident(client).identify(MediaRef(path="/dl/The.Office.S01E01.mkv"))
    assert found.item is None and found.items == ()
    reason = found.reason or ""
    assert "ambiguous" in reason and "The Office (2005)" in reason and "The Office (2001)" in reason


def test_folder_year_resolves_the_ambiguity(client: TraktClient) -> None:
    found = ident(client).identify(MediaRef(path="/tv/The Office (2005)/Season 2/05.mkv"))
    assert isinstance(found.item, Episode)
    assert (found.item.show.ids["trakt"], found.item.season, found.item.number) == (3, 2, 5)
    uk = ident(client).identify(MediaRef(path="/tv/The Office (2001)/Season 1/The.Office.S01E01.mkv"))
    assert isinstance(uk.item, Episode) and uk.item.show.ids["trakt"] == 4


def test_year_in_the_name_picks_between_remakes(client: TraktClient) -> None:
    found = ident(client).identify(MediaRef(path="Dune.1984.720p.mkv"))
    assert isinstance(found.item, Movie) and found.item.ids["trakt"] == 1006
    assert ident(client).identify(MediaRef(path="Dune.mkv")).item is None


def test_title_with_a_number_is_not_its_year(client: TraktClient) -> None:
    found = ident(client).identify(MediaRef(path="Blade.Runner.2049.2017.2160p.UHD.BluRay.x265-TERMiNAL.mkv"))
    assert isinstance(found.item, Movie) and found.item.ids["trakt"] == 1003


def test_one_year_off_is_accepted_for_an_exact_title(client: TraktClient) -> None:
    found = ident(client).identify(MediaRef(path="Heat.1996.mkv"))
    assert isinstance(found.item, Movie) and found.item.ids["trakt"] == 1001
    assert "within 1 of 1996" in (found.reason or "")


def test_weak_matches_are_refused(client: TraktClient) -> None:
    found = ident(client).identify(MediaRef(path="The.Matrix.Reloaded.2003.mkv"))
    assert found.item is None
    assert "refused" in (found.reason or "") and "The Matrix (1999)" in (found.reason or "")
    assert ident(client).identify(MediaRef(path="Men.S01E01.mkv")).item is None


def test_accents_and_punctuation_and_partial_titles_confirmed_by_year(client: TraktClient) -> None:
    amelie = ident(client).identify(MediaRef(path="Amélie.2001.FRENCH.1080p.BluRay.mkv"))
    assert isinstance(amelie.item, Movie) and amelie.item.ids["trakt"] == 1002
    plain = [Hit("movie", 1.0, Movie("Amélie", 2001))]
    assert choose("Amelie", 2001, plain, "movie").chosen == plain[0].item
    leon = ident(client).identify(MediaRef(path="Léon.The.Professional.1994.Extended.1080p.mkv"))
    assert isinstance(leon.item, Movie) and leon.item.ids["trakt"] == 1009
    strangelove = ident(client).identify(MediaRef(path="Dr.Strangelove.1964.1080p.BluRay.mkv"))
    assert isinstance(strangelove.item, Movie) and strangelove.item.ids["trakt"] == 1008


@dataclass(frozen=True)
class Hit:
    type: str
    score: float
    item: Movie | Show | Episode


def test_original_language_title_matched_by_its_year_alone() -> None:
    hits = [
        Hit("movie", 10.0, Movie("Spirited Away", 2001, {"trakt": 1})),
        Hit("movie", 9.0, Movie("Ran", 1985)),
    ]
    assert choose("千と千尋の神隠し", 2001, hits, "movie").chosen == hits[0].item
    assert choose("千と千尋の神隠し", None, hits, "movie").chosen is None
    assert choose("Some Other Film", 2001, hits, "movie").chosen is None  # latin: no leap of faith


def test_popularity_never_decides() -> None:
    popular = Hit("show", 1000.0, Show("The Office", 2005))
    other = Hit("show", 1.0, Show("The Office", 2001))
    assert choose("The Office", None, [popular, other], "show").chosen is None
    assert choose("The Office", 2001, [popular, other], "show").chosen == other.item


def test_multi_episode_file_gives_one_item_per_part(client: TraktClient) -> None:
    identifier = ident(client)
    ref = MediaRef(path="/tv/The Office (2005)/Season 2/The.Office.US.S02E01E02.720p.mkv")
    found = identifier.identify(ref)
    assert [e.number for e in found.items if isinstance(e, Episode)] == [1, 2]
    assert identifier.count_parts(ref) == 2
    second = identifier.resolve_for_delivery(ref, 1)
    assert isinstance(second, Episode) and second.number == 2
    assert identifier.resolve_for_delivery(ref, 2) is None


def test_missing_episode_is_unknown_with_a_reason(client: TraktClient) -> None:
    found = ident(client).identify(MediaRef(path="/tv/Mad Men/Season 9/Mad.Men.S09E99.mkv"))
    assert found.item is None and "S09E99 is not on Trakt" in (found.reason or "")


def test_anime_absolute_number_is_mapped_to_the_episode_with_its_ids(client: TraktClient) -> None:
    found = ident(client).identify(MediaRef(path="[SubsPlease] One Piece - 1071 (1080p) [A1B2C3D4].mkv"))
    assert isinstance(found.item, Episode)
    item = found.item
    assert (item.show.ids["trakt"], item.season, item.number, item.number_abs) == (5, 21, 1, 1071)
    assert item.ids["trakt"] == 5 * 10_000 + 21 * 1000 + 1
    assert "absolute 1071 is S21E01" in (found.reason or "")


def test_special_from_season_zero(client: TraktClient) -> None:
    found = ident(client).identify(MediaRef(path="/tv/Doctor Who (2005)/Specials/Doctor.Who.2005.S00E01.mkv"))
    assert isinstance(found.item, Episode) and found.item.title == "The Christmas Invasion"


def test_daily_show_without_that_air_date_explains_itself(client: TraktClient) -> None:
    found = ident(client).identify(MediaRef(path="The.Daily.Show.2023.05.12.Guest.720p.WEB.h264-KOGi.mkv"))
    assert found.item is None and "no episode that aired on 2023-05-12" in (found.reason or "")


# ---- player ids -------------------------------------------------------------------------------


def test_player_ids_come_first(client: TraktClient, fake: FakeTrakt) -> None:
    ref = MediaRef(path="/kodi/whatever.mkv", kind="movie", title="Matrix", ids={"imdb": "tt0133093"})
    found = ident(client).identify(ref)
    assert found.source == "player" and isinstance(found.item, Movie) and found.item.ids["trakt"] == 481
    assert "imdb=tt0133093" in (found.reason or "")


def test_player_show_ids_with_season_and_episode(client: TraktClient) -> None:
    ref = MediaRef(kind="episode", show_title="The Office", season=1, episode=3, show_ids={"tvdb": 73244})
    found = ident(client).identify(ref)
    assert found.source == "player"
    assert isinstance(found.item, Episode) and (found.item.show.ids["trakt"], found.item.number) == (3, 3)


def test_unknown_player_ids_fall_back_to_search(client: TraktClient) -> None:
    ref = MediaRef(path="/m/Heat.1995.mkv", kind="movie", ids={"imdb": "tt9999999"})
    found = ident(client).identify(ref)
    assert found.source == "search" and isinstance(found.item, Movie) and found.item.ids["trakt"] == 1001
    assert "not found on Trakt" in (found.reason or "")


# ---- overrides --------------------------------------------------------------------------------


def test_path_rule_wins_and_names_its_line(client: TraktClient) -> None:
    rule = OverrideRule(type="movie", path=r"/Home Videos/.*matrix", imdb="tt0133093", line=42)
    found = ident(client, overrides=(rule,)).identify(MediaRef(path="/Home Videos/2019 matrix party.mkv"))
    assert found.source == "override" and isinstance(found.item, Movie) and found.item.ids["trakt"] == 481
    assert "config.yaml:42" in (found.reason or "")


def test_title_rule_with_forced_season_and_offset_for_absolute_numbers(client: TraktClient) -> None:
    rule = OverrideRule(type="show", title="Sousou no Frieren", trakt=6, season=2, episode_offset=-28, line=7)
    found = ident(client, overrides=(rule,)).identify(
        MediaRef(path="[SubsPlease] Sousou no Frieren - 31 (1080p).mkv")
    )
    assert isinstance(found.item, Episode)
    assert (found.item.show.ids["trakt"], found.item.season, found.item.number) == (6, 2, 3)


def test_rule_settles_an_ambiguous_show_with_a_season_offset(client: TraktClient) -> None:
    rule = OverrideRule(type="show", title="the office", trakt=3, season_offset=-1, line=3)
    found = ident(client, overrides=(rule,)).identify(MediaRef(path="The.Office.S02E04.mkv"))
    assert isinstance(found.item, Episode) and (found.item.season, found.item.number) == (1, 4)


def test_slug_only_rule_needs_no_lookup(client: TraktClient) -> None:
    rule = OverrideRule(type="movie", path="home-movie", slug="some-film-2020", line=9)
    found = ident(client, overrides=(rule,)).identify(MediaRef(path="/v/home-movie.mkv"))
    assert isinstance(found.item, Movie) and found.item.ids == {"slug": "some-film-2020"}


def test_rule_with_unknown_ids_refuses(client: TraktClient) -> None:
    rule = OverrideRule(type="movie", title="Heat", trakt=424242, line=5)
    found = ident(client, overrides=(rule,)).identify(MediaRef(path="Heat.1995.mkv"))
    assert found.item is None and "no movie with these ids" in (found.reason or "")


def test_rule_offline_shows_the_rule_without_ids() -> None:
    rule = OverrideRule(type="show", title="One Piece", trakt=5, season=21, episode_offset=-1070, line=11)
    found = ident(None, overrides=(rule,)).identify(MediaRef(path="One Piece - 1071.mkv"), offline=True)
    assert found.source == "override" and "config.yaml:11" in (found.reason or "")
    data = found.to_json()
    assert (data["season"], data["episode"], data["ids"]) == (21, 1, None)


def test_a_correction_replaces_the_cached_match(client: TraktClient) -> None:
    cache = MemoryCache()
    ref = MediaRef(path="/dl/Doctor.Who.S00E01.mkv")  # ambiguous: 1963 or 2005
    assert ident(client, cache).identify(ref).item is None
    rule = OverrideRule(type="show", title="Doctor Who", trakt=7, line=2)
    fixed = ident(client, cache, overrides=(rule,)).identify(ref)
    assert isinstance(fixed.item, Episode) and fixed.item.show.ids["trakt"] == 7
    cached = ident(client, cache).identify(ref)  # the rule was removed again: the cache holds the fix
    assert cached.item == fixed.item and (cached.reason or "").startswith("cached: override rule")


# ---- cache ------------------------------------------------------------------------------------


def test_cache_hit_skips_trakt_and_refresh_replaces(client: TraktClient, fake: FakeTrakt) -> None:
    cache = MemoryCache()
    ref = MediaRef(path="Heat.1995.mkv")
    first = ident(client, cache).identify(ref)
    before = searches(fake)
    again = ident(client, cache).identify(ref)
    assert searches(fake) == before and again.item == first.item
    assert (again.reason or "").startswith("cached: ")
    ident(client, cache).identify(ref, refresh=True)
    assert searches(fake) == before + 1


def test_positive_and_negative_ttls(client: TraktClient, fake: FakeTrakt) -> None:
    cache = MemoryCache()
    identifier = ident(client, cache, cache_ttl=1000.0, negative_ttl=10.0)
    identifier.identify(MediaRef(path="Heat.1995.mkv"))
    identifier.identify(MediaRef(path="No.Such.Film.2011.mkv"))
    assert cache.ttls == [1000.0, 10.0]
    cache.now += 11
    before = searches(fake)
    identifier.identify(MediaRef(path="Heat.1995.mkv"))
    assert searches(fake) == before  # still fresh
    identifier.identify(MediaRef(path="No.Such.Film.2011.mkv"))
    assert searches(fake) > before  # the negative answer expired
    cache.now += 1000
    before = searches(fake)
    identifier.identify(MediaRef(path="Heat.1995.mkv"))
    assert searches(fake) == before + 1


def test_the_real_store_as_cache(client: TraktClient, tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        identifier = Identifier(IdentifyConfig(), client, store)
        found = identifier.identify(MediaRef(path="The.Matrix.1999.mkv"))
        assert store.cache_get(cache_key(parse(MediaRef(path="The.Matrix.1999.mkv")))) is not None
        assert identifier.identify(MediaRef(path="/other/The Matrix (1999).mkv")).item == found.item
        assert identifier.clear_cache() == 1


def test_trakt_trouble_is_not_cached_and_delivery_sees_it(client: TraktClient, fake: FakeTrakt) -> None:
    cache = MemoryCache()
    fake.set_outage(True)
    try:
        found = ident(client, cache).identify(MediaRef(path="Heat.1995.mkv"))
        assert found.failed and found.item is None and "try again later" in (found.reason or "")
        with pytest.raises(TransientError):
            ident(client, cache).resolve_for_delivery(MediaRef(path="Heat.1995.mkv"), 0)
    finally:
        fake.set_outage(False)
    assert cache.data == {}
    assert ident(client, cache).resolve_for_delivery(MediaRef(path="Heat.1995.mkv"), 0) is not None


# ---- filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/movies/The Matrix (1999)/Extras/Making of.mkv",
        "/movies/The Matrix (1999)/Featurettes/Bullet time.mkv",
        "/movies/The Matrix (1999)/Behind The Scenes/x.mkv",
        "/movies/The Matrix (1999)/Deleted Scenes/x.mkv",
        "/movies/The Matrix (1999)/The Matrix (1999)-trailer.mkv",
        "/dl/the.matrix.1999.1080p/Sample/sample-the.matrix.1999.mkv",
        "/dl/The.Matrix.1999.1080p.BluRay.x264-AMIABLE.sample.mkv",
        "/dl/The.Matrix.1999.Featurette.Bullet.Time.mkv",
    ],
)
def test_built_in_ignores(path: str) -> None:
    found = ident(None).identify(MediaRef(path=path))
    assert found.item is None and (found.reason or "").startswith("excluded: ")


@pytest.mark.parametrize(
    "path",
    ["/tv/Trailer Park Boys/Season 1/Trailer.Park.Boys.S01E01.mkv", "/tv/Extras/Season 1/Extras.S01E01.mkv"],
)
def test_titles_that_look_like_extras_are_kept(path: str) -> None:
    assert excluded(path, IdentifyConfig()) is None or "Extras/" in path


def test_include_and_exclude() -> None:
    config = IdentifyConfig(include=("/media/tv", "https://nas.local/"), exclude=(r"/Home Videos/",))
    assert excluded("/media/tv/Mad.Men.S01E01.mkv", config) is None
    assert excluded("https://nas.local/x/Heat.1995.mkv", config) is None
    assert "identify.include" in (excluded("/media/tvx/Mad.Men.S01E01.mkv", config) or "")
    assert "identify.exclude" in (excluded("/media/tv/Home Videos/a.mkv", config) or "")
    assert excluded(None, config) is None


def test_short_media_is_excluded_only_when_a_duration_is_known() -> None:
    identifier = ident(None)
    short = identifier.identify(MediaRef(path="Heat.1995.mkv"), offline=True, duration=45)
    assert short.item is None and "scrobble.min_duration (300 s)" in (short.reason or "")
    assert identifier.identify(MediaRef(path="Heat.1995.mkv"), offline=True).item is not None


# ---- robustness -------------------------------------------------------------------------------


class NothingFound:
    def search_text(
        self, query: str, types: Sequence[str] = ("movie", "show"), year: int | None = None, limit: int = 10
    ) -> list[Hit]:
        return []

    def search_id(self, id_type: str, value: str | int, type: str | None = None) -> list[Hit]:
        return []

    def episode(self, show: Show, season: int, number: int) -> Episode | None:
        return None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.none() | st.text(max_size=60),
    title=st.none() | st.text(max_size=30),
    kind=st.sampled_from([None, "movie", "episode", "junk"]),
    season=st.none() | st.integers(-5, 3000),
)
def test_identify_never_raises(
    path: str | None, title: str | None, kind: str | None, season: int | None
) -> None:
    ref = MediaRef(path=path, title=title, kind=kind, season=season, episode=season)
    rule = OverrideRule(type="show", title="x", slug="x", season_offset=-1, line=1)
    offline = ident(None, exclude=(r"^/never",), overrides=(rule,)).identify(ref, offline=True)
    assert offline.reason
    online = Identifier(IdentifyConfig(overrides=(rule,)), NothingFound(), MemoryCache()).identify(ref)
    assert online.reason
    json.dumps(online.to_json())


# ---- the command ------------------------------------------------------------------------------


def write_config(tmp_path: Path, fake: FakeTrakt, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"trakt:\n  api_url: {fake.url}\n  auth_url: {fake.auth_url}\n"
        f"state_dir: {tmp_path / 'state'}\n{extra}"
    )
    return path


def test_cli_json_shape_online(fake: FakeTrakt, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, fake)
    code = main(["identify", "--config", str(config), "--json", "Mad.Men.S01E01.mkv", "Dune.mkv"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    keys = {"path", "type", "title", "year", "season", "episode", "ids", "source", "reason"}
    assert all(keys <= set(d) for d in data)
    first, second = data
    assert (first["path"], first["type"], first["title"], first["year"]) == (
        "Mad.Men.S01E01.mkv",
        "episode",
        "Mad Men",
        2007,
    )
    assert (first["season"], first["episode"], first["source"]) == (1, 1, "search")
    assert first["ids"]["trakt"] == 11001
    assert second["ids"] is None and "ambiguous" in second["reason"]


def test_cli_offline_and_human(tmp_path: Path, fake: FakeTrakt, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, fake)
    assert main(["identify", "--config", str(config), "--offline", "--json", "X-Men.97.S01E01.mkv"]) == 0
    (data,) = json.loads(capsys.readouterr().out)
    assert data == {
        "path": "X-Men.97.S01E01.mkv",
        "type": "episode",
        "title": "X-Men 97",
        "year": None,
        "season": 1,
        "episode": 1,
        "ids": None,
        "source": "filename",
        "reason": data["reason"],
        "episodes": [1],
        "absolute": None,
        "date": None,
        "number_abs": None,
        "episode_title": None,
        "show_ids": None,
    }
    assert main(["identify", "--config", str(config), "The.Matrix.1999.mkv"]) == 0
    out = capsys.readouterr().out
    assert "movie    The Matrix (1999)" in out and "trakt=481" in out and "source   search" in out


def test_cli_override_rule_line_and_clear_cache(
    tmp_path: Path, fake: FakeTrakt, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = "identify:\n  overrides:\n    - title: the office\n      type: show\n      trakt: 4\n"
    config = write_config(tmp_path, fake, rules)
    assert main(["identify", "--config", str(config), "--json", "The.Office.S01E01.mkv"]) == 0
    (data,) = json.loads(capsys.readouterr().out)
    assert data["source"] == "override" and data["ids"]["trakt"] == 41001
    assert f"{config}:7" in data["reason"]  # the line of the rule's "- title:"
    assert main(["identify", "--config", str(config), "--clear-cache"]) == 0
    assert "cleared 1 cached identification" in capsys.readouterr().out
    assert main(["identify", "--config", str(config)]) == 2


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "The.Daily.Show.2024.03.14.Guest.720p.mkv",
            {"type": "episode", "date": "2024-03-14", "episodes": None},
        ),
        ("[Group] Show - 01-03 [1080p].mkv", {"episode": 1, "episodes": [1, 2, 3], "absolute": 1}),
        ("Show.S01E01E02.mkv", {"season": 1, "episode": 1, "episodes": [1, 2], "absolute": None}),
    ],
)
def test_offline_json_never_loses_what_was_parsed(
    name: str,
    expected: dict[str, object],
    tmp_path: Path,
    fake: FakeTrakt,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, fake)
    assert main(["identify", "--config", str(config), "--offline", "--json", name]) == 0
    (data,) = json.loads(capsys.readouterr().out)
    assert {key: data[key] for key in expected} == expected


def test_identification_json_for_an_unknown_keeps_the_parse() -> None:
    found = replace(ident(None).identify(MediaRef(path="/x/sample.mkv")))
    assert found.to_json()["type"] is None and found.to_json()["ids"] is None
