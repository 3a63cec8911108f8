"""The offline parse: a table of real-world release names, player hints, and robustness."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrobblerd.identify.parse import Guess, normalise_title, parse
from scrobblerd.models import MediaRef
from tests.fixtures.release_names import RELEASE_NAMES, expected_json

REQUIRED_ACCURACY = 0.97


def mismatches(guess: Guess, expected: dict[str, object]) -> dict[str, tuple[object, object]]:
    got = guess.to_json()
    out = {}
    for key, want in expected.items():
        same = normalise_title(got[key]) == normalise_title(str(want)) if key == "title" else got[key] == want
        if not same:
            out[key] = (got[key], want)
    return out


def test_the_table_is_big_and_varied() -> None:
    assert len(RELEASE_NAMES) >= 150
    kinds = {row[1] for row in RELEASE_NAMES}
    assert kinds == {"movie", "episode"}
    assert sum(1 for row in RELEASE_NAMES if "://" in row[0]) >= 5
    assert sum(1 for row in RELEASE_NAMES if row[6] is not None) >= 10  # absolute numbers
    assert sum(1 for row in RELEASE_NAMES if isinstance(row[5], tuple)) >= 5  # multi-episode


def test_release_name_accuracy(capsys: object) -> None:
    failures = []
    for row in RELEASE_NAMES:
        diff = mismatches(parse(MediaRef(path=row[0])), expected_json(row))
        if diff:
            failures.append(f"{row[0]}: {diff}")
    total = len(RELEASE_NAMES)
    accuracy = 1 - len(failures) / total
    print(f"\nrelease-name accuracy: {accuracy:.1%} exact ({total - len(failures)}/{total})")
    for line in failures:
        print("  miss:", line)
    assert accuracy >= REQUIRED_ACCURACY, "\n".join(failures)


def test_importing_identify_does_not_load_guessit_or_anitopy() -> None:
    code = (
        "import sys, scrobblerd.identify.identifier, scrobblerd.identify.parse, scrobblerd.identify.search, "
        "scrobblerd.identify.fansub, scrobblerd.identify.names, scrobblerd.cli.identify\n"
        "assert 'guessit' not in sys.modules and 'anitopy' not in sys.modules\nprint('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.stdout.strip() == "ok", out.stderr


def test_identify_imports_no_watcher_and_no_daemon() -> None:
    """Only the players' config sections (through the config schema) may come along."""
    code = (
        "import sys, scrobblerd.identify.identifier\n"
        "watchers = [m for m in sys.modules if m.startswith('scrobblerd.players.')\n"
        "    and m.rsplit('.', 1)[-1] not in ('registry', 'base', 'settings', 'mpv', 'vlc', 'kodi')]\n"
        "bad = watchers + [m for m in sys.modules if m.startswith('scrobblerd.daemon')]\n"
        "assert 'scrobblerd.players.mpv.settings' in sys.modules, 'the check sees the players room'\n"
        "assert not bad, bad\nprint('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.stdout.strip() == "ok", out.stderr


def test_multi_episode_file_has_parts() -> None:
    guess = parse(MediaRef(path="/tv/The Office/The.Office.US.S02E01E02.720p.mkv"))
    assert guess.episodes == (1, 2)
    assert guess.parts == 2
    assert parse(MediaRef(path="[SubsPlease] One Piece - 1071-1072 (1080p).mkv")).parts == 2
    assert parse(MediaRef(path="Heat.1995.mkv")).parts == 1


def test_anime_absolute_numbers_are_not_read_as_season_and_episode() -> None:
    guess = parse(MediaRef(path="/anime/One Piece/One Piece - 1071.mkv"))
    assert (guess.season, guess.episodes, guess.absolute) == (None, (), (1071,))


def test_url_is_percent_decoded_and_query_ignored() -> None:
    guess = parse(MediaRef(path="https://h.example/tv/Mad%20Men/Mad.Men.S02E03.mkv?sig=%2F%2Fx"))
    assert (guess.title, guess.season, guess.episodes) == ("Mad Men", 2, (3,))


def test_stream_url_without_a_file_name_uses_the_players_title() -> None:
    ref = MediaRef(path="https://www.example.com/watch?v=abc", title="Big Buck Bunny (2008)")
    guess = parse(ref)
    assert (guess.type, guess.title, guess.year) == ("movie", "Big Buck Bunny", 2008)


def test_player_hints_beat_the_file_name() -> None:
    ref = MediaRef(
        path="/media/stuff/weird_name_01.mkv",
        kind="episode",
        show_title="Mad Men",
        season=2,
        episode=5,
        year=2007,
        ids={"tvdb": 123},
    )
    guess = parse(ref)
    assert (guess.type, guess.title, guess.year, guess.season, guess.episodes) == (
        "episode",
        "Mad Men",
        2007,
        2,
        (5,),
    )
    assert guess.ids == {"tvdb": 123}
    assert {"kind", "show_title", "season", "episode", "year", "ids"} <= set(guess.hints)


def test_kodi_movie_title_hint_but_not_mpvs_file_name_fallback() -> None:
    kodi = parse(MediaRef(path="/m/x.mkv", kind="movie", title="Léon: The Professional", year=1994))
    assert (kodi.title, kodi.year) == ("Léon: The Professional", 1994)
    mpv = parse(MediaRef(path="/m/Heat.1995.1080p.mkv", kind="movie", title="Heat.1995.1080p.mkv"))
    assert (mpv.title, mpv.year) == ("Heat", 1995)


def test_metadata_tags_give_show_numbers_and_ids() -> None:
    ref = MediaRef(
        path="/x/file.mp4",
        tags={"show": "Severance", "season_number": "2", "episode_sort": "10", "IMDB": "tt1"},
    )
    guess = parse(ref)
    assert (guess.type, guess.title, guess.season, guess.episodes) == ("episode", "Severance", 2, (10,))
    assert guess.ids == {"imdb": "tt1"}


def test_nothing_to_go_on() -> None:
    assert parse(MediaRef()) == Guess()
    assert parse(MediaRef(path="/")).title is None


def test_normalise_title() -> None:
    assert normalise_title("The Office") == normalise_title("office")
    assert normalise_title("X-Men '97") == normalise_title("X-Men 97") == "x men 97"
    assert normalise_title("Amélie") == "amelie"
    assert normalise_title("Law & Order") == normalise_title("Law and Order")
    assert normalise_title("Léon: The Professional") == "leon the professional"
    assert normalise_title("Mad Men") != normalise_title("X-Men '97")
    assert normalise_title(None) == ""


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.text(max_size=80), title=st.none() | st.text(max_size=40))
def test_parse_never_raises(path: str, title: str | None) -> None:
    guess = parse(MediaRef(path=path, title=title))
    assert guess.parts >= 1
