"""The package as users get it: sdist and wheel built, the wheel installed in a fresh venv.

The editable install used by `make` finds modules in the source tree, so it hides a
module or data file the build leaves out. This test builds from a copy of the project,
installs the wheel (built from the sdist) into a new venv, and runs the CLI from a
directory that holds no source, so only what the wheel ships can be imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COPIED = ("src", "pyproject.toml", "README.md")


def _run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_wheel_works_in_a_fresh_venv_outside_the_checkout(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, project / name)
    dist = tmp_path / "dist"
    # No isolated build env: the dev venv has setuptools and build, and CI need not download them again.
    built = _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, project, cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "BuildBackendWarning" not in built.stderr and "SetuptoolsDeprecationWarning" not in built.stderr

    (sdist,) = dist.glob("stagecheck-*.tar.gz")
    (wheel,) = dist.glob("stagecheck-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    # Every module and data file of the source tree is in both.
    for path in (REPO / "src" / "stagecheck").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(REPO / "src").as_posix()
            assert relative in shipped, f"the wheel lacks {relative}"
            assert f"src/{relative}" in in_sdist, f"the sdist lacks {relative}"

    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", venv, cwd=tmp_path).returncode == 0
    # under the lock make setup uses: the wheel's own dependencies, at versions known to pass
    lock = REPO / "constraints.txt"
    installed = _run(
        venv / "bin" / "python", "-m", "pip", "install", "--quiet", "-c", lock, wheel, cwd=tmp_path, timeout=480
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    stagecheck = venv / "bin" / "stagecheck"
    where = _run(venv / "bin" / "python", "-c", "import stagecheck; print(stagecheck.__file__)", cwd=elsewhere)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr

    helped = _run(stagecheck, "--help", cwd=elsewhere)
    assert helped.returncode == 0 and "validate-specs" in helped.stdout, helped.stderr
    specs = _run(stagecheck, "validate-specs", cwd=elsewhere)
    assert specs.returncode == 0 and specs.stdout.startswith("OK: "), specs.stderr
    gate = _run(stagecheck, "contract", "--profile", "quick", cwd=elsewhere, timeout=240)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "conforms (exit 0)" in gate.stdout + gate.stderr
    assert (elsewhere / "stagecheck-report" / "contract" / "results.json").is_file()
