"""Offline identification on the regression corpus: exact % per class and names per second.

    python -m bench identify [--rounds N] [--misses]

The corpus is tests/fixtures/identify_corpus/ (one JSON Lines file per class; sources in its
SOURCES.md). The one-off start-up of the name parsers (guessit, anitopy) is timed apart.
"""

from __future__ import annotations

import argparse
import sys
import time

from scrobblerd import logs
from scrobblerd.identify.parse import parse
from scrobblerd.models import MediaRef
from tests import identify_corpus


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2, help="timed passes over the corpus (default 2)")
    parser.add_argument("--misses", action="store_true", help="list every name that is not exact")
    args = parser.parse_args(argv)
    logs.configure(level="warning", fmt="console", stream=sys.stderr)
    cases = identify_corpus.load()

    start = time.perf_counter()
    parse(MediaRef(path="Warm.Up.2020.mkv"))
    parse(MediaRef(path="[Group] Warm Up - 01 [1080p].mkv"))
    warmup = time.perf_counter() - start

    refs = [MediaRef(path=case.name) for case in cases]
    start = time.perf_counter()
    for _ in range(args.rounds):
        for ref in refs:
            parse(ref)
    elapsed = time.perf_counter() - start
    count = args.rounds * len(refs)

    scores = identify_corpus.score(cases)
    print(f"name parsers start-up (first parses): {warmup * 1000:.0f} ms")
    print(
        f"offline parse: {count / elapsed:.1f} names/s ({count} names, {elapsed * 1000 / count:.2f} ms each)"
    )
    print("exact per class:")
    for line in identify_corpus.report(scores, misses=args.misses):
        print("  " + line)


if __name__ == "__main__":
    main()
