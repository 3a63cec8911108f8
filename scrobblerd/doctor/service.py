"""The systemd unit: installed, enabled, active. Where systemd is absent, or the daemon runs by
hand, the check holds as "not applicable"."""

from __future__ import annotations

import getpass
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from scrobblerd.doctor.check import Check, failed, passed

SYSTEMCTL_TIMEOUT = 5.0
PROPERTIES = "LoadState,UnitFileState,ActiveState"

Systemctl = Callable[[Sequence[str]], tuple[int, str]]  # argv after "systemctl" -> (exit code, stdout)


def run_systemctl(args: Sequence[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(
            ["systemctl", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SYSTEMCTL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return 1, str(exc)
    return done.returncode, done.stdout


def systemd_present() -> bool:
    return shutil.which("systemctl") is not None and Path("/run/systemd/system").is_dir()


def service_check(
    daemon_pid: int | None,
    *,
    systemctl: Systemctl = run_systemctl,
    present: bool | None = None,
    user: str | None = None,
) -> Check:
    name = "service"
    by_hand = f"the daemon runs by hand (pid {daemon_pid})" if daemon_pid else "the daemon does not run"
    if not (systemd_present() if present is None else present):
        return passed(name, f"not applicable: no systemd on this machine; {by_hand}")
    user_unit = _unit(systemctl, ["--user"], "scrobblerd.service")
    system_unit = _unit(systemctl, [], f"scrobblerd@{user or getpass.getuser()}.service")
    for scope, unit, props in (
        ("--user ", "scrobblerd", user_unit),
        ("", "scrobblerd@" + (user or getpass.getuser()), system_unit),
    ):
        if props.get("LoadState") != "loaded":
            continue
        enabled = props.get("UnitFileState") in ("enabled", "enabled-runtime", "linked")
        active = props.get("ActiveState") == "active"
        if enabled and active:
            return passed(name, f"{unit}.service is enabled and running")
        if not enabled:
            return failed(
                name,
                f"{unit}.service is installed but not enabled: it will not start at login/boot",
                f"systemctl {scope}enable --now {unit}",
            )
        return failed(
            name,
            f"{unit}.service is enabled but {props.get('ActiveState')}",
            f"systemctl {scope}restart {unit}; then journalctl {scope}-u {unit} -e",
        )
    if daemon_pid:
        return passed(name, f"not applicable: no unit installed; {by_hand}")
    return failed(
        name,
        "no systemd unit is installed and the daemon does not run: nothing scrobbles",
        "scrobblerd service install",
    )


def _unit(systemctl: Systemctl, scope: list[str], unit: str) -> dict[str, str]:
    code, out = systemctl([*scope, "show", unit, "-p", PROPERTIES])
    if code != 0:
        return {}
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
