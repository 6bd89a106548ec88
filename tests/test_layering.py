"""The floors import downwards only, and the rules core stays sans-I/O.

contracts/ (with the error root, stagecheck/errors.py) is the ground floor; results/,
transports/ and mock_server/ stand on it; suites/, load/, browser/ and reports/ above; only
stagecheck/cli.py and stagecheck/commands/ reach every floor.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROOT = REPO / "src" / "stagecheck"
FLOORS = ("contracts", "results", "transports", "mock_server", "suites", "load", "reports", "browser")
# Modules of the package root that any floor may import: the version and the error root.
SHARED = ("__init__", "errors")

# What each floor may import from stagecheck (besides itself and SHARED).
ALLOWED: dict[str, set[str]] = {
    "contracts": set(),
    "results": {"contracts"},
    "transports": {"contracts"},
    "mock_server": {"contracts"},
    "suites": {"contracts", "results", "transports"},
    "load": {"contracts", "results", "transports"},
    "reports": {"contracts", "results"},
    # The real-browser check (Playwright): beside load/, used only by commands/ and the CLI.
    "browser": {"contracts", "results", "transports"},
}
# The sans-I/O core reads no clock and knows no framework.
CORE_FORBIDDEN = {"asyncio", "socket", "time", "locust", "gevent", "pytest", "httpx", "websockets", "anyio"}


def imports_of(path: Path, floor: str) -> set[str]:
    """Top-level names imported by a module, with relative imports made absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ["stagecheck", floor, *path.relative_to(ROOT / floor).parent.parts]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
    return names


def modules(floor: str) -> list[Path]:
    return sorted((ROOT / floor).rglob("*.py"))


@pytest.mark.parametrize("floor", FLOORS)
def test_floor_imports_only_the_floors_below(floor: str) -> None:
    wrong = []
    for path in modules(floor):
        for name in imports_of(path, floor):
            parts = name.split(".")
            if parts[0] in FLOORS:
                wrong.append(f"{path.relative_to(REPO)}: bare top-level import {name!r}")
            if parts[0] != "stagecheck" or len(parts) < 2:
                continue
            target = parts[1]
            if target in SHARED:
                continue
            if target not in FLOORS:
                wrong.append(f"{path.relative_to(REPO)} imports {name}, above every floor")
            elif target in FLOORS and target != floor and target not in ALLOWED[floor]:
                wrong.append(f"{path.relative_to(REPO)} imports {name} ({floor} may use {sorted(ALLOWED[floor])})")
    assert wrong == []


def test_rules_core_is_sans_io() -> None:
    wrong = []
    for path in modules("contracts"):
        for name in imports_of(path, "contracts"):
            if name.split(".")[0] in CORE_FORBIDDEN:
                wrong.append(f"{path.relative_to(REPO)} imports {name}")
    assert wrong == []


def test_locust_is_imported_only_by_the_load_floor() -> None:
    wrong = []
    for floor in FLOORS:
        if floor == "load":
            continue
        for path in modules(floor):
            if any(name.split(".")[0] in ("locust", "gevent") for name in imports_of(path, floor)):
                wrong.append(str(path.relative_to(REPO)))
    assert wrong == []


def test_importing_the_cli_does_not_import_locust() -> None:
    import subprocess
    import sys

    code = "import sys, stagecheck.cli; print('locust' in sys.modules or 'gevent' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("cwd", ["/", str(REPO)], ids=["outside", "checkout-root"])
def test_floors_are_not_importable_under_bare_names(cwd: str) -> None:
    import subprocess
    import sys

    # Every module has one import name, stagecheck.<floor>.<module>, from anywhere: the floors
    # live under src/, so the checkout root holds no importable `contracts` (PyContracts' name).
    code = f"import importlib.util as u; print([n for n in {FLOORS!r} if u.find_spec(n)])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cwd)
    assert out.stdout.strip() == "[]"


def test_the_package_has_no_symlinks() -> None:
    links = [str(path.relative_to(REPO)) for path in ROOT.rglob("*") if path.is_symlink()]
    assert links == []


def test_every_package_module_is_in_a_floor_or_the_root() -> None:
    stray = [
        str(path.relative_to(REPO))
        for path in ROOT.rglob("*.py")
        if len(path.relative_to(ROOT).parts) > 1 and path.relative_to(ROOT).parts[0] not in (*FLOORS, "commands")
    ]
    assert stray == []
