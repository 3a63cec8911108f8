"""The identification regression corpus: loading it and scoring the offline parse against it.

Each class is one JSON Lines file under tests/fixtures/identify_corpus/ (SOURCES.md names where the
names come from). A line is `{"name": ..., "expect": {...}}`; only the keys present are checked.
`type` is "movie", "episode" or "extra" (never scrobbled). A country marker is part of the
title (`The Office (US)`); the parse keeps it apart as `country`, which the Trakt search uses.
For absolutely numbered episodes `absolute` is the first number and `episodes` lists every
number the file holds; a line for a single absolute episode may leave `episodes` null, which
means `[absolute]`. Titles compare case- and punctuation-insensitively with accents kept.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrobblerd.config.settings import IdentifyConfig
from scrobblerd.identify.identifier import excluded
from scrobblerd.identify.parse import Guess, parse
from scrobblerd.models import MediaRef

CORPUS_DIR = Path(__file__).parent / "fixtures" / "identify_corpus"
NO_CONFIG = IdentifyConfig()


@dataclass(frozen=True)
class Case:
    cls: str
    name: str
    expect: dict[str, Any]


def load(directory: Path = CORPUS_DIR) -> list[Case]:
    cases = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                cases.append(Case(path.stem, row["name"], row["expect"]))
    return cases


def observed(name: str) -> dict[str, Any]:
    """What the offline identification says about `name`, in the corpus's terms."""
    guess: Guess = parse(MediaRef(path=name))
    if guess.type == "extra" or excluded(name, NO_CONFIG):
        return {"type": "extra"}
    numbers = guess.episodes or guess.absolute
    country = f" ({guess.country})" if guess.country and guess.title else ""
    return {
        "type": guess.type,
        "title": (guess.title or "") + country or None,
        "year": guess.year,
        "season": guess.season,
        "episodes": list(numbers) or None,
        "absolute": guess.absolute[0] if guess.absolute else None,
        "date": guess.date,
    }


def same_title(have: object, want: object) -> bool:
    """Case- and punctuation-insensitive, accents kept (SOURCES.md): `Mad Max: Fury Road` matches
    `Mad Max Fury Road`, `Amélie` does not match `Amelie`."""

    def norm(text: object) -> str:
        folded = unicodedata.normalize("NFC", str(text or "")).casefold()
        folded = folded.replace("'", "").replace("\u2019", "")  # "Ocean's" is "Oceans"
        return re.sub(r"[\W_]+", " ", folded).strip()

    return norm(have) == norm(want)


def _wanted(expect: dict[str, Any]) -> dict[str, Any]:
    want = dict(expect)
    if want.get("episodes") is None and want.get("absolute") is not None:
        want["episodes"] = [want["absolute"]]
    return want


def differences(case: Case) -> dict[str, tuple[Any, Any]]:
    """{key: (got, wanted)} for every checked key that disagrees; empty when exact."""
    got = observed(case.name)
    out: dict[str, tuple[Any, Any]] = {}
    for key, want in _wanted(case.expect).items():
        have = got.get(key)
        same = same_title(have, want) if key == "title" else have == want
        if not same:
            out[key] = (have, want)
    return out


@dataclass(frozen=True)
class Score:
    cls: str
    total: int
    exact: int
    misses: tuple[tuple[str, dict[str, tuple[Any, Any]]], ...]

    @property
    def ratio(self) -> float:
        return self.exact / self.total if self.total else 1.0


def score(cases: list[Case]) -> list[Score]:
    """Per class, in name order."""
    by_cls: dict[str, list[Case]] = {}
    for case in cases:
        by_cls.setdefault(case.cls, []).append(case)
    out = []
    for cls, members in sorted(by_cls.items()):
        misses = tuple((c.name, d) for c in members if (d := differences(c)))
        out.append(Score(cls, len(members), len(members) - len(misses), misses))
    return out


def report(scores: list[Score], *, misses: bool = False) -> Iterator[str]:
    total = sum(s.total for s in scores)
    exact = sum(s.exact for s in scores)
    for s in scores:
        yield f"{s.cls:20} {s.exact:5}/{s.total:<5} {s.ratio:7.1%}"
    yield f"{'overall':20} {exact:5}/{total:<5} {exact / total if total else 1.0:7.1%}"
    if misses:
        for s in scores:
            for name, diff in s.misses:
                yield f"  miss [{s.cls}] {name}: {diff}"
