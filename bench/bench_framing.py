"""CPU to frame a large Kodi TCP message fed in network-sized chunks, and a deep one.

    python -m bench framing [--megabytes 10] [--chunk 65536]

Prints the CPU seconds the StreamDecoder spends on one message of N MB arriving in chunks (it is
over the size limit, so it is skipped to its end and logged), then on a 100,000-level deep frame.
"""

from __future__ import annotations

import argparse
import time

from scrobblerd.players.kodi.rpc import StreamDecoder


def frame_cpu(body: bytes, chunk: int) -> tuple[float, StreamDecoder]:
    decoder = StreamDecoder()
    start = time.process_time()
    for i in range(0, len(body), chunk):
        decoder.feed(body[i : i + chunk])
    return time.process_time() - start, decoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--chunk", type=int, default=65536)
    args = parser.parse_args()
    size = int(args.megabytes * 1_000_000)
    big = b'{"jsonrpc":"2.0","method":"Other.Big","params":{"data":"' + b"y" * size + b'"}}'
    cpu, decoder = frame_cpu(big, args.chunk)
    label = f"{args.megabytes:g} MB string in {args.chunk} B chunks"
    print(f"{label}: {cpu:.3f} s CPU (oversized={decoder.oversized})")
    nested = (
        b'{"jsonrpc":"2.0","method":"Other.Big","params":{"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    )
    cpu, decoder = frame_cpu(nested * 10, args.chunk)
    print(f"10 frames nested 100,000 deep: {cpu:.3f} s CPU (too_deep={decoder.too_deep})")
    structural = b'{"a":[' + b'{"b":1},' * (size // 8) + b'{"b":1}]}'
    cpu, decoder = frame_cpu(structural, args.chunk)
    print(f"{len(structural) / 1e6:.1f} MB of small objects: {cpu:.3f} s CPU (oversized={decoder.oversized})")


if __name__ == "__main__":
    main()
