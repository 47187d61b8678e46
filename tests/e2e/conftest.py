"""A Glint in its no-auth mode and the stock OpenStack clients to drive it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import REPO, GlintServer, glint_server

CLIENTS = REPO / "tests" / ".clients" / "bin"


@pytest.fixture(scope="module")
def noauth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp("glint-e2e")
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", flavor="") as running:
        yield running


class Cli:
    """Runs `openstack` and `glance` against one endpoint without Keystone."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _run(self, argv: list[str]) -> str:
        done = self._complete(argv)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    @staticmethod
    def _complete(argv: list[str]) -> subprocess.CompletedProcess[str]:
        if not Path(argv[0]).exists():
            raise RuntimeError(f"{argv[0]} is missing: run `make clients`")
        # stdin is closed: `openstack image create` would otherwise upload it.
        return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=120)

    def glance_fails(self, *args: str) -> str:
        """What `glance` prints when the command fails (it must fail)."""
        done = self._complete([str(CLIENTS / "glance"), "--os-image-url", self.url,
                               "--os-auth-token", "x", *args])
        assert done.returncode != 0, done.stdout
        return done.stderr + done.stdout

    def openstack_fails(self, *args: str) -> str:
        done = self._complete([str(CLIENTS / "openstack"), "--os-auth-type", "none",
                               "--os-endpoint", self.url, *args])
        assert done.returncode != 0, done.stdout
        return done.stderr + done.stdout

    def openstack(self, *args: str) -> str:
        return self._run([str(CLIENTS / "openstack"), "--os-auth-type", "none",
                          "--os-endpoint", self.url, *args])

    def openstack_json(self, *args: str) -> Any:
        return json.loads(self.openstack(*args, "-f", "json"))

    def glance(self, *args: str) -> str:
        return self._run([str(CLIENTS / "glance"), "--os-image-url", self.url,
                          "--os-auth-token", "x", *args])


@pytest.fixture(scope="module")
def cli(noauth_server: GlintServer) -> Cli:
    return Cli(noauth_server.url)
