"""Offline identification throughput and accuracy on the release-name table.

    python -m bench.bench_identify [--rounds N]

Prints names/second through the offline parse (guessit included; the one-off guessit start-up is
timed separately) and the exact-match accuracy on tests/fixtures/release_names.py.
"""

from __future__ import annotations

import argparse
import sys
import time

from scrobblerd import logs
from scrobblerd.config.settings import IdentifyConfig
from scrobblerd.identify.identifier import Identifier
from scrobblerd.identify.parse import normalise_title, parse
from scrobblerd.models import MediaRef
from tests.fixtures.release_names import RELEASE_NAMES, expected_json


def exact(row: tuple[object, ...]) -> bool:
    got = parse(MediaRef(path=str(row[0]))).to_json()
    for key, want in expected_json(row).items():  # type: ignore[arg-type]
        same = normalise_title(got[key]) == normalise_title(str(want)) if key == "title" else got[key] == want
        if not same:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the table (default 3)")
    args = parser.parse_args()
    logs.configure(level="warning", fmt="console", stream=sys.stderr)
    refs = [MediaRef(path=row[0]) for row in RELEASE_NAMES]

    start = time.perf_counter()
    parse(MediaRef(path="Warm.Up.2020.mkv"))
    warmup = time.perf_counter() - start

    start = time.perf_counter()
    for _ in range(args.rounds):
        for ref in refs:
            parse(ref)
    elapsed = time.perf_counter() - start
    count = args.rounds * len(refs)

    identifier = Identifier(IdentifyConfig())
    start = time.perf_counter()
    for ref in refs:
        identifier.identify(ref, offline=True)
    offline_elapsed = time.perf_counter() - start

    good = sum(1 for row in RELEASE_NAMES if exact(row))
    print(f"guessit start-up (first parse): {warmup * 1000:.0f} ms")
    print(
        f"offline parse: {count / elapsed:.1f} names/s ({count} names, {elapsed * 1000 / count:.2f} ms each)"
    )
    print(f"Identifier.identify(offline=True): {len(refs) / offline_elapsed:.1f} names/s")
    print(f"exact-match accuracy: {good}/{len(RELEASE_NAMES)} = {good / len(RELEASE_NAMES):.1%}")


if __name__ == "__main__":
    main()
