"""Debian's Chromium driven by Playwright (its own browser download is not
reachable here): installed with apt-get when missing, as memcached is."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from tests.servers import REPO

CHROMIUM = Path("/usr/bin/chromium")
# Screenshots of the main pages, desktop and phone widths (git-ignored).
SCREENSHOTS = REPO / "tests" / "console" / ".screenshots"


def ensure_chromium_installed() -> str:
    found = shutil.which("chromium") or (str(CHROMIUM) if CHROMIUM.exists() else None)
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    if subprocess.run(install, env=env, stdin=subprocess.DEVNULL, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, check=True)
        subprocess.run(install, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=True)
    return shutil.which("chromium") or str(CHROMIUM)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for one test module."""
    executable = ensure_chromium_installed()
    # Chromium's sandbox needs user namespaces, which root in a container lacks.
    arguments = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=arguments)
        try:
            yield browser
        finally:
            browser.close()
