"""`scrobblerd doctor [--json]`: check the whole setup and say how to fix what fails; exit 0 or 1."""

from __future__ import annotations

import argparse

from scrobblerd.cli.common import print_json
from scrobblerd.exitcodes import EXIT_FAILURE, EXIT_OK


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "doctor",
        parents=[common],
        help="check config, token, Trakt, clock, players, service and queue; say how to fix problems",
        description="Check everything scrobblerd needs: the config, the state directory, the token, "
        "Trakt and the account, this machine's clock, each enabled player, the systemd unit and the "
        "queue. Each failing check comes with a one-line fix. Exit 0 when all hold, 1 otherwise.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from scrobblerd.doctor.run import run_checks

    checks = run_checks(getattr(args, "config", None))
    ok = all(c.ok for c in checks)
    if args.json:
        print_json({"ok": ok, "checks": [c.to_json() for c in checks]})
        return EXIT_OK if ok else EXIT_FAILURE
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{'ok  ' if c.ok else 'FAIL'} {c.name:<{width}}  {c.detail}")
        if c.fix:
            print(f"     {'':<{width}}  fix: {c.fix}")
    failing = sum(not c.ok for c in checks)
    print("All checks hold." if ok else f"{failing} check(s) failed; the fix is under each.")
    return EXIT_OK if ok else EXIT_FAILURE
