"""Offline identification on the regression corpus: exact % per class and names per second.

    python -m bench identify [--rounds N] [--misses] [--online]

The corpus is tests/fixtures/identify_corpus/ (one JSON Lines file per class; sources in its
SOURCES.md). The one-off start-up of the name parsers (guessit, anitopy) is timed apart.
`--online` also resolves the look-alike cases of tests/fixtures/lookalikes.py against the
Trakt-like test server on 127.0.0.1 and prints exact Trakt ids per class and lookups per second.
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
    parser.add_argument("--online", action="store_true", help="also the look-alikes against the test server")
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
    if args.online:
        online(misses=args.misses)


def online(*, misses: bool) -> None:
    """Exact Trakt ids on the look-alike cases, per class, through the real client and server."""
    from scrobblerd.config.settings import IdentifyConfig, TraktConfig
    from scrobblerd.identify.identifier import Identifier
    from scrobblerd.trakt.client import TraktClient
    from tests.fixtures.lookalikes import CASES, populate
    from tests.trakt_server import FakeTrakt

    per_class: dict[str, list[bool]] = {}
    wrong: list[str] = []
    with (
        FakeTrakt() as server,
        TraktClient(TraktConfig(api_url=server.url, auth_url=server.auth_url, timeout=5)) as client,
    ):
        populate(server)
        identifier = Identifier(IdentifyConfig(), client)
        start = time.perf_counter()
        for cls, path, want in CASES:
            found = identifier.identify(MediaRef(path=path))
            got = found.item.ids.get("trakt") if found.item is not None else None
            per_class.setdefault(cls, []).append(got == want)
            if got != want:
                wrong.append(f"  miss [{cls}] {path}: got {got}, want {want} ({found.reason})")
        elapsed = time.perf_counter() - start
    print(f"online look-alikes: {len(CASES) / elapsed:.1f} lookups/s (no cache; loopback test server)")
    for cls, hits in per_class.items():
        print(f"  {cls:20} {sum(hits):5}/{len(hits):<5} {sum(hits) / len(hits):7.1%}")
    total = sum(sum(h) for h in per_class.values())
    print(f"  {'overall':20} {total:5}/{len(CASES):<5} {total / len(CASES):7.1%}")
    if misses:
        print("\n".join(wrong))


if __name__ == "__main__":
    main()
