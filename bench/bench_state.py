"""Events per second through the playback state machine's `step`.

A realistic mixed stream: several players, mostly periodic position reports, with pauses,
seeks, toggle bursts, media changes, multi-episode files, ends and players lost; the
dispatcher's TICKs at `next_deadline` are included. Run: python -m bench.bench_state
"""

from __future__ import annotations

import random
import time

from scrobblerd.models import EventKind, MediaRef, PlayerEvent, ScrobbleAction
from scrobblerd.playback.machine import Rules, Session, new_session, next_deadline, step

T0 = 1_700_000_000.0
PLAYERS = ["mpv:/tmp/mpvsocket", "kodi:127.0.0.1:9090", "vlc:http://127.0.0.1:8080"]
LIBRARY = [(MediaRef(path=f"/media/Movie.{i}.2010.mkv"), 5400.0 + 60 * i) for i in range(5)] + [
    (MediaRef(path=f"/media/Show.S01E{2 * i + 1:02d}E{2 * i + 2:02d}.mkv", parts=2), 2800.0) for i in range(3)
]


# Chances per event of: a pause/resume pair, a seek, a restated PLAYING, a media change, an end.
# "typical" is still far busier than people are (a pause every ~minute per player);
# "churn" is a stress mix where a fifth of all events produce an action.
MIXES = {
    "typical": (0.010, 0.010, 0.010, 0.004, 0.004),
    "churn": (0.06, 0.05, 0.03, 0.03, 0.03),
}


def stream(rng: random.Random, n: int, mix: tuple[float, ...]) -> list[PlayerEvent]:
    """A plausible interleaving of what watchers report; `at` is the wall time."""
    bounds = [sum(mix[: i + 1]) for i in range(len(mix))]
    out: list[PlayerEvent] = []
    now = T0
    pos = dict.fromkeys(PLAYERS, 0.0)
    cur = {p: rng.choice(LIBRARY) for p in PLAYERS}
    for p in PLAYERS:
        out.append(PlayerEvent(EventKind.PLAYING, p, now, cur[p][0], 0.0, cur[p][1]))
    while len(out) < n:
        p = rng.choice(PLAYERS)
        now += rng.uniform(0.05, 0.7)
        media, duration = cur[p]
        pos[p] = min(duration, pos[p] + rng.uniform(0.5, 1.5))
        r = rng.random()
        if r >= bounds[-1]:
            out.append(PlayerEvent(EventKind.PROGRESS, p, now, None, pos[p], duration, False))
        elif r < bounds[0]:
            out.append(PlayerEvent(EventKind.PAUSED, p, now, None, pos[p]))
            out.append(PlayerEvent(EventKind.PLAYING, p, now + 0.4, media, pos[p], duration))
        elif r < bounds[1]:
            pos[p] = rng.uniform(0, duration)
            out.append(PlayerEvent(EventKind.SEEKED, p, now, None, pos[p]))
        elif r < bounds[2]:
            out.append(PlayerEvent(EventKind.PLAYING, p, now, media, pos[p], duration))  # restatement
        elif r < bounds[3]:
            cur[p] = rng.choice(LIBRARY)
            pos[p] = rng.uniform(0, cur[p][1] * 0.9)
            out.append(PlayerEvent(EventKind.PLAYING, p, now, cur[p][0], pos[p], cur[p][1]))
        else:
            kind = rng.choice([EventKind.ENDED, EventKind.STOPPED, EventKind.LOST])
            out.append(PlayerEvent(kind, p, now, None, pos[p]))
            pos[p] = 0.0
            out.append(PlayerEvent(EventKind.PLAYING, p, now + 2, media, 0.0, duration))
    out.sort(key=lambda e: e.at)
    return out


def run(events: list[PlayerEvent], rules: Rules) -> tuple[int, int, list[ScrobbleAction]]:
    """Dispatch like the daemon: per-player sessions, TICKs at deadlines. Returns (steps, ticks, actions)."""
    sessions: dict[str, Session] = {p: new_session(p) for p in PLAYERS}
    actions: list[ScrobbleAction] = []
    steps = ticks = 0
    for ev in events:
        s = sessions[ev.player]
        due = next_deadline(s, rules)
        if due is not None and due <= ev.at:
            s, out = step(s, PlayerEvent(EventKind.TICK, ev.player, due), due, rules)
            actions.extend(out)
            ticks += 1
        s, out = step(s, ev, ev.at, rules)
        actions.extend(out)
        sessions[ev.player] = s
        steps += 1
    return steps + ticks, ticks, actions


def main() -> None:
    rules = Rules()
    for name, mix in MIXES.items():
        events = stream(random.Random(4), 200_000, mix)
        run(events[:5000], rules)  # warm up
        best = best_cpu = 0.0
        for _ in range(3):
            started, started_cpu = time.perf_counter(), time.process_time()
            total, ticks, actions = run(events, rules)
            best = max(best, total / (time.perf_counter() - started))
            best_cpu = max(best_cpu, total / (time.process_time() - started_cpu))
        kinds = {k: sum(1 for a in actions if a.kind.value == k) for k in ("start", "pause", "stop")}
        print(f"state.step [{name}]: {total} events ({ticks} ticks) -> {len(actions)} actions {kinds}")
        print(
            f"state.step [{name}]: {best:,.0f} events/s wall, {best_cpu:,.0f} events/s CPU"
            " (best of 3, next_deadline included)"
        )


if __name__ == "__main__":
    main()
