"""What the installed distribution puts on the path: the six rooms of the architecture and
nothing else. There was a top-level `console` package once, and `console` is also another
distribution on PyPI (`from console import fg`): installing both overwrote one with the
other, silently. The entry point is the application room's command line."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOMS = {"store", "scoring", "prompts", "ivr", "dialer", "huifang"}


def test_the_distribution_installs_the_six_rooms_only() -> None:
    installed = {name for name, dists in metadata.packages_distributions().items()
                 if "huifang" in dists}
    assert installed == ROOMS
    [script] = [e for e in metadata.entry_points(group="console_scripts")
                if e.name == "huifang"]
    assert script.value == "huifang.cli:main"


def test_there_is_no_console_package_to_import(tmp_path: Path) -> None:
    """Run where the checkout is not the current directory, as an installed
    `huifang` is: what is importable is what the venv has."""
    result = subprocess.run([sys.executable, "-c", "import console"], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "No module named 'console'" in result.stderr, result.stderr
