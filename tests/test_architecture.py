"""The shape of the code, enforced. Import rules between rooms are import-linter contracts in
pyproject.toml (run by scripts/test and by the test below); what import-linter cannot see is
checked here: only the CLI prints or exits, and importing the package starts nothing."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "scrobblerd"


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts)
        found[name.removesuffix(".__init__")] = path
    return found


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


def test_the_print_finder_sees_a_print_outside_the_cli(tmp_path: Path) -> None:
    """The check above is only worth something if it can fail."""
    sample = tmp_path / "sample.py"
    sample.write_text("import sys\nprint('x')\nsys.exit(1)\nraise SystemExit(2)\n")
    assert sorted(_prints_or_exits(sample)) == [
        "sample.py:2: print()",
        "sample.py:3: sys.exit()",
        "sample.py:4: raise SystemExit",
    ]


def test_importing_the_package_starts_nothing_and_loads_no_heavy_library() -> None:
    """Every module but the wiring room imports without a thread, a log handler, guessit, apprise,
    or the scheduler; the wiring room alone may bring the scheduler."""
    names = sorted(n for n in modules() if n not in ("scrobblerd.__main__", "scrobblerd.daemon.lifecycle"))
    code = (
        "import logging, sys, threading\n"
        f"for name in {names!r}:\n"
        "    __import__(name)\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "assert not logging.getLogger().handlers, logging.getLogger().handlers\n"
        "heavy = [m for m in ('guessit', 'apprise', 'apscheduler') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import scrobblerd.daemon.lifecycle\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "assert 'guessit' not in sys.modules and 'apprise' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_import_linter_contracts_hold() -> None:
    lint = shutil.which("lint-imports")
    assert lint is not None, "import-linter is a dev dependency: pip install -e '.[dev]'"
    out = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "BROKEN" not in out.stdout, out.stdout
    assert out.stdout.count("KEPT") >= 4, out.stdout
