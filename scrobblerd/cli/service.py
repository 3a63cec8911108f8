"""`scrobblerd service install|show`: put the systemd unit in place and enable it.

The unit files are the repository's systemd/ directory, shipped in the package as
scrobblerd/units/. Installing replaces the ExecStart binary with the scrobblerd that is running
this command.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

from scrobblerd.atomic import write_atomic
from scrobblerd.cli.common import fail
from scrobblerd.exitcodes import EXIT_USAGE

SYSTEMCTL_TIMEOUT = 60.0  # seconds; enable --now waits for READY=1
PROBE_TIMEOUT = 5.0
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
SYSTEM_CONFIG_DIR = Path("/etc/scrobblerd")
SYSTEM_STATE_DIR = Path("/var/lib/scrobblerd")
USER_UNIT_NAME = "scrobblerd.service"
SYSTEM_UNIT_NAME = "scrobblerd@.service"


def _unit_text(name: str) -> str:
    return resources.files("scrobblerd").joinpath("units", name).read_text(encoding="utf-8")


def __getattr__(name: str) -> str:
    """USER_UNIT and SYSTEM_UNIT: the unit files of the repository's systemd/ directory, shipped
    in the package; read when asked for, not at import."""
    units = {"USER_UNIT": USER_UNIT_NAME, "SYSTEM_UNIT": SYSTEM_UNIT_NAME}
    if name in units:
        return _unit_text(units[name])
    raise AttributeError(name)


_EXEC_START = re.compile(r"^ExecStart=(\S+)", re.MULTILINE)


def scrobblerd_command(executable: str | None = None) -> list[str]:
    """How systemd should start this very installation of scrobblerd.

    The console script beside the running interpreter (a venv, pipx or the system's bin dir);
    failing that, the interpreter with `-m scrobblerd`, which always works. Shims on $PATH
    (pyenv, asdf) are avoided on purpose: they depend on a shell environment systemd lacks.
    """
    python = Path(executable or sys.executable)
    script = python.parent / "scrobblerd"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [str(python), "-m", "scrobblerd"]


def exec_quote(arg: str) -> str:
    """One ExecStart= word: "%" escaped as "%%", quoted when it holds spaces or quotes."""
    escaped = arg.replace("%", "%%")
    if re.search(r"[\s\"'\\;]", escaped):
        return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return escaped


def render_unit(text: str, command: Sequence[str]) -> str:
    """The unit with its ExecStart binary replaced by `command` (its arguments are kept)."""
    binary = " ".join(exec_quote(word) for word in command)
    return _EXEC_START.sub(lambda _: "ExecStart=" + binary, text, count=1)


def user_unit_dir(env: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if env is None else env
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".config")
    return Path(base) / "systemd" / "user"


def write_file(path: Path, text: str, mode: int = 0o644) -> bool:
    """Atomically write `text`; False when the file already had exactly this content."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text, mode=mode)
    return True


def user_manager_reachable() -> bool:
    """systemctl exists and `systemctl --user` can talk to this user's service manager."""
    if shutil.which("systemctl") is None:
        return False
    try:
        probe = subprocess.run(
            ["systemctl", "--user", "show-environment"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


def system_manager_running() -> bool:
    """sd_booted(3): this machine was booted with systemd."""
    return shutil.which("systemctl") is not None and Path("/run/systemd/system").is_dir()


def _run_all(commands: list[list[str]], run: bool) -> int:
    for command in commands:
        print("  " + " ".join(command))
    if not run:
        return 0
    for command in commands:
        try:
            done = subprocess.run(command, timeout=SYSTEMCTL_TIMEOUT, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            return fail(f"{command[0]}: {exc}")
        if done.returncode != 0:
            return fail(f"`{' '.join(command)}` failed with exit code {done.returncode}")
    return 0


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    service = sub.add_parser(
        "service",
        parents=[common],
        help="install the systemd unit (user or system service)",
        description="Install scrobblerd as a systemd service.",
    )
    actions = service.add_subparsers(dest="service_command", metavar="ACTION")
    actions.required = True
    install = actions.add_parser(
        "install",
        parents=[common],
        help="write the unit, then daemon-reload and enable --now it",
        description="Write the systemd unit with ExecStart pointing at this scrobblerd, then reload "
        "systemd and enable and start the service (unless --dry-run).",
    )
    _target_options(install)
    install.add_argument(
        "--dry-run", action="store_true", help="write the unit but only print the systemctl commands"
    )
    install.add_argument(
        "--root",
        metavar="DIR",
        type=Path,
        help="with --system: install into an image rooted at DIR (packagers); runs no systemctl",
    )
    install.set_defaults(handler=cmd_install)
    show = actions.add_parser(
        "show",
        parents=[common],
        help="print the unit that install would write",
        description="Print the systemd unit, with ExecStart pointing at this scrobblerd.",
    )
    _target_options(show)
    show.set_defaults(handler=cmd_show)


def _target_options(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--user",
        action="store_true",
        help="a user service in ~/.config/systemd/user (the default; for desktops and mpv)",
    )
    target.add_argument(
        "--system",
        metavar="USER",
        help="the system unit scrobblerd@USER running as USER (media-center boxes; needs root)",
    )


def cmd_show(args: argparse.Namespace) -> int:
    text = _unit_text(SYSTEM_UNIT_NAME if args.system else USER_UNIT_NAME)
    print(render_unit(text, scrobblerd_command()), end="")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    if args.system:
        return _install_system(args.system, args.root, args.dry_run)
    if args.root:
        print("scrobblerd: --root goes with --system USER", file=sys.stderr)
        return EXIT_USAGE
    return _install_user(args.dry_run)


def _install_user(dry_run: bool) -> int:
    path = user_unit_dir() / USER_UNIT_NAME
    changed = write_file(path, render_unit(_unit_text(USER_UNIT_NAME), scrobblerd_command()))
    print(f"{'wrote' if changed else 'unchanged'} {path}")
    commands = [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", "scrobblerd"],
    ]
    run = not dry_run and user_manager_reachable()
    if not dry_run and not run:
        print("no systemd user manager reachable here; in your desktop session, run:")
    else:
        print("running:" if run else "next, run:")
    code = _run_all(commands, run)
    if code == 0:
        print("logs: journalctl --user -u scrobblerd -f    status: scrobblerd status")
    return code


def system_config_text(state_dir: Path) -> str:
    """The example config with state_dir pointing at the unit's StateDirectory."""
    from scrobblerd.cli.conf import example_text

    line = f"state_dir: {state_dir}"
    text, found = re.subn(r"^state_dir:.*$", line, example_text(), count=1, flags=re.MULTILINE)
    return text if found else f"{line}\n{text}"


def _install_system(user: str, root: Path | None, dry_run: bool) -> int:
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        print(f"scrobblerd: no such user: {user}", file=sys.stderr)
        return EXIT_USAGE
    as_root = os.geteuid() == 0
    if root is None and not as_root:
        return fail("--system writes to /etc/systemd/system: run it as root (sudo)")
    prefix = root or Path("/")
    unit = prefix / SYSTEM_UNIT_DIR.relative_to("/") / SYSTEM_UNIT_NAME
    changed = write_file(unit, render_unit(_unit_text(SYSTEM_UNIT_NAME), scrobblerd_command()))
    print(f"{'wrote' if changed else 'unchanged'} {unit}")
    state = SYSTEM_STATE_DIR / user
    config = SYSTEM_CONFIG_DIR / f"{user}.yaml"
    owner = (account.pw_uid, account.pw_gid) if as_root else None
    _ensure_config(prefix / config.relative_to("/"), state, owner)
    _ensure_dir(prefix / state.relative_to("/"), owner)
    commands = [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", f"scrobblerd@{user}"]]
    run = not dry_run and root is None and system_manager_running()
    print("running:" if run else "next, run:")
    code = _run_all(commands, run)
    if code == 0:
        exe = " ".join(scrobblerd_command())
        print(f"authorise once:  sudo -u {user} {exe} --config {config} auth")
        print(f"logs: journalctl -u scrobblerd@{user} -f    status: systemctl status scrobblerd@{user}")
    return code


def _ensure_config(path: Path, state: Path, owner: tuple[int, int] | None) -> None:
    if path.exists():
        print(f"kept {path}")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(system_config_text(state))
    if owner:
        os.chown(path, *owner)
    print(f"wrote {path}; edit it (e.g. players.kodi.enabled: true)")


def _ensure_dir(path: Path, owner: tuple[int, int] | None) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if owner:
        os.chown(path, *owner)
