"""`glint --version` and `glint-manage --version` print the installed version."""

from __future__ import annotations

import subprocess
from importlib.metadata import version

from tests.servers import GLINT


def test_version_comes_from_the_package_metadata() -> None:
    expected = version("glint")
    for program in ("glint", "glint-manage"):
        done = subprocess.run([str(GLINT.parent / program), "--version"], capture_output=True,
                              text=True, timeout=60, check=True)
        assert done.stdout.strip() == f"{program} {expected}"
