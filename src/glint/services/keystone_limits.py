"""Keystone's unified limits for images, read with oslo.limit as Glance does.

`[DEFAULT] use_keystone_limits = True` turns them on; oslo.limit reads its
`[oslo_limit]` section (Keystone credentials, `endpoint_id` or the service
lookup keys) from the config files. Glint asks oslo.limit only for each
project's limits (its project limit, else the registered default; 0 when
Keystone has neither, as in Glance) and compares them with usage itself, under
the project's quota lock (glint.services.quotas). The limits are kept for
LIMITS_TTL, then read again, so a new limit counts within that time.

oslo.limit only reads the process-wide `oslo_config.cfg.CONF`: `KeystoneLimits`
loads the config files into it once, when the services are built.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from glint.domain.quota import Resource

LIMITS_TTL = 30.0
RESOURCES = tuple(Resource)


class KeystoneLimits:
    """The four image limits of a project, from Keystone (a LimitSource)."""

    def __init__(self, config_files: Sequence[Path]) -> None:
        from oslo_config import cfg
        from oslo_limit import limit  # registers [oslo_limit] on cfg.CONF

        cfg.CONF(args=[], project="glance", default_config_files=[str(p) for p in config_files],
                 default_config_dirs=[])
        self._limit = limit
        self._lock = threading.Lock()
        self._enforcer: Any = None
        self._made_at = 0.0

    def _current(self) -> Any:
        """An Enforcer whose cached limits are younger than LIMITS_TTL."""
        with self._lock:
            if self._enforcer is None or time.monotonic() - self._made_at > LIMITS_TTL:
                self._enforcer = self._limit.Enforcer(_no_usage, cache=True)
                self._made_at = time.monotonic()
            return self._enforcer

    def limits(self, project: str) -> dict[Resource, int]:
        found = self._current().get_project_limits(project, [str(r) for r in RESOURCES])
        return {Resource(name): int(value) for name, value in found}


def _no_usage(project_id: str | None, resource_names: Collection[str]) -> dict[str, int]:
    """oslo.limit wants a usage callback; Glint never asks it to count."""
    raise RuntimeError("usage is counted by glint.services.quotas, not through oslo.limit")
