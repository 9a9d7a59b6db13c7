"""`make demo` on a bare machine (issue 19): the Debian packages are looked at before the
virtual environment is built, and without root a missing one, python3-venv included,
stops it at once with the one `apt-get install` line that covers them all.

A machine without python3-venv is played by a directory on PYTHONPATH whose `ensurepip`
cannot be imported, which is what Debian's python3 is without python3.11-venv (that
package ships `/usr/lib/python3.11/ensurepip`). The script runs as `nobody` when the
tests run as root, so that it never installs anything here."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install-system-deps"
DEMO_FILES = ("/usr/bin/espeak-ng", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


def as_nobody(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The command as an ordinary user: `nobody` when we are root, else ourselves."""
    command = ["env", *(f"{k}={v}" for k, v in env.items()), *args]
    if os.geteuid() == 0:
        need(shutil.which("runuser") is not None, "runuser (util-linux) not installed")
        command = ["runuser", "-u", "nobody", "--", *command]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.fixture
def shadow() -> Iterator[Path]:
    """A directory `nobody` can read (pytest's tmp_path is root's alone) holding an
    `ensurepip` that cannot be imported."""
    directory = Path(tempfile.mkdtemp(prefix="huifang-bare-"))
    try:
        directory.chmod(0o755)
        (directory / "ensurepip.py").write_text(
            'raise ImportError("no ensurepip: python3-venv is not installed")\n',
            encoding="utf-8")
        (directory / "ensurepip.py").chmod(0o644)
        yield directory
    finally:
        shutil.rmtree(directory)


def test_the_demo_looks_at_the_packages_before_it_builds_the_environment() -> None:
    need(shutil.which("make") is not None, "make not installed")
    planned = subprocess.run(["make", "-n", "demo", "VENV=/nonexistent/venv"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60, check=True).stdout
    steps = ("install-system-deps demo", "scripts/ensure-venv",
             "/nonexistent/venv/bin/huifang demo")
    order = [planned.find(step) for step in steps]
    assert -1 not in order and order == sorted(order), planned


def test_without_root_a_missing_python3_venv_stops_at_once_with_the_line(
        shadow: Path, tmp_path: Path) -> None:
    done = as_nobody([str(SCRIPT), "demo"], {
        "PYTHONPATH": str(shadow), "PYTHON": "python3", "VENV": str(tmp_path / "venv")})
    assert done.returncode == 1, done.stderr
    line = next(x for x in done.stderr.splitlines() if "apt-get install" in x)
    assert line.split()[:3] == ["apt-get", "install", "--no-install-recommends"]
    assert "python3-venv" in line.split()
    assert not (tmp_path / "venv").exists()


def test_an_existing_environment_needs_no_python3_venv(shadow: Path) -> None:
    need(all(Path(f).exists() for f in DEMO_FILES), "the demo's Debian packages missing")
    venv = shadow / "venv"  # all the script asks of one: an executable bin/python
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\n", encoding="utf-8")
    (venv / "bin" / "python").chmod(0o755)
    venv.chmod(0o755)
    (venv / "bin").chmod(0o755)
    done = as_nobody([str(SCRIPT), "demo"], {
        "PYTHONPATH": str(shadow), "PYTHON": "python3", "VENV": str(venv)})
    assert (done.returncode, done.stderr) == (0, "")
