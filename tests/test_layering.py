"""The floors import downwards only, and the rules core stays sans-I/O.

contracts/ is the ground floor; transports/, mock_server/, suites/, load/ and reports/
stand on it; only stagecheck/cli.py and stagecheck/commands/ reach every floor.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLOORS = ("contracts", "transports", "mock_server", "suites", "load", "reports")

# What each floor may import from stagecheck (besides itself).
ALLOWED: dict[str, set[str]] = {
    "contracts": set(),
    "transports": {"contracts"},
    "mock_server": {"contracts"},
    "suites": {"contracts", "transports"},
    "load": {"contracts", "transports"},
    "reports": {"contracts"},
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
                wrong.append(f"{path.relative_to(ROOT)}: bare top-level import {name!r}")
            if parts[0] != "stagecheck" or len(parts) < 2:
                continue
            target = parts[1]
            if target in ("cli", "commands", "__main__"):
                wrong.append(f"{path.relative_to(ROOT)} imports the CLI ({name})")
            elif target in FLOORS and target != floor and target not in ALLOWED[floor]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name} ({floor} may use {sorted(ALLOWED[floor])})")
    assert wrong == []


def test_rules_core_is_sans_io() -> None:
    wrong = []
    for path in modules("contracts"):
        for name in imports_of(path, "contracts"):
            if name.split(".")[0] in CORE_FORBIDDEN:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def test_locust_is_imported_only_by_the_load_floor() -> None:
    wrong = []
    for floor in FLOORS:
        if floor == "load":
            continue
        for path in modules(floor):
            if any(name.split(".")[0] in ("locust", "gevent") for name in imports_of(path, floor)):
                wrong.append(str(path.relative_to(ROOT)))
    assert wrong == []


def test_importing_the_cli_does_not_import_locust() -> None:
    import subprocess
    import sys

    code = "import sys, stagecheck.cli; print('locust' in sys.modules or 'gevent' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "False"


def test_floors_are_not_importable_under_bare_names() -> None:
    import subprocess
    import sys

    # From outside the checkout only the stagecheck namespace exists (PyContracts owns `contracts`).
    code = f"import importlib.util as u; print([n for n in {FLOORS!r} if u.find_spec(n)])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]"
