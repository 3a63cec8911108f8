"""The regression corpus (tests/fixtures/identify_corpus/, sources in its SOURCES.md): the offline
identification must get >= 97 % of all names exactly right and >= 90 % of every class."""

from __future__ import annotations

import pytest

from tests import identify_corpus

OVERALL = 0.97
PER_CLASS = 0.90
MIN_NAMES = 1500
CLASSES = {
    "movies",
    "episodes",
    "daily",
    "absolute",
    "title_numbers",
    "years",
    "prefixes",
    "alternate_titles",
    "country",
    "folders",
    "multi_episode",
    "cjk",
    "extras",
    "miniseries",
    "guessit_movies",
    "guessit_episodes",
    "anitopy",
}


@pytest.fixture(scope="module")
def scores() -> list[identify_corpus.Score]:
    return identify_corpus.score(identify_corpus.load())


def test_the_corpus_holds_every_class_and_enough_names() -> None:
    cases = identify_corpus.load()
    assert len(cases) >= MIN_NAMES
    assert {case.cls for case in cases} == CLASSES
    assert len({case.name for case in cases}) == len(cases), "a name appears twice"
    assert (identify_corpus.CORPUS_DIR / "SOURCES.md").is_file()


def test_corpus_overall_and_every_class_score(scores: list[identify_corpus.Score]) -> None:
    total = sum(s.total for s in scores)
    exact = sum(s.exact for s in scores)
    table = "\n".join(identify_corpus.report(scores, misses=True))
    low = [s.cls for s in scores if s.ratio < PER_CLASS]
    assert exact / total >= OVERALL and not low, f"classes below {PER_CLASS:.0%}: {low}\n{table}"


def test_the_scorer_sees_a_wrong_answer() -> None:
    case = identify_corpus.Case("movies", "The.Matrix.1999.1080p.mkv", {"type": "movie", "year": 1998})
    assert identify_corpus.differences(case) == {"year": (1999, 1998)}
    extra = identify_corpus.Case("extras", "The.Matrix.1999.1080p.mkv", {"type": "extra"})
    assert identify_corpus.differences(extra) == {"type": ("movie", "extra")}
