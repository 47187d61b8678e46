"""Command-line options of `glint serve` and `glint db`, and the settings they produce.

Kept free of heavy imports: server worker processes load their settings
through this module.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import click

from glint.config_file import settings_from_files
from glint.settings import Settings

DEFAULT_DATA_DIR = Path("data")


class StartupError(click.ClickException):
    """The configuration, database or stores keep a command from starting."""

    exit_code = 2


config_file_option = click.option(
    "--config-file", "config_files", multiple=True, type=click.Path(dir_okay=False),
    help="A glance-api.conf-style file; repeat to layer several (later ones win).",
)
data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False),
    help="Folder for the embedded SQLite database and filesystem store (default: ./data).",
)


@dataclass(frozen=True)
class ServeOptions:
    config_files: tuple[str, ...] = ()
    data_dir: str | None = None
    host: str | None = None
    port: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServeOptions:
        return cls(
            config_files=tuple(data["config_files"]), data_dir=data["data_dir"],
            host=data["host"], port=data["port"],
        )


def load_settings(options: ServeOptions, *, warn: bool = True) -> Settings:
    """Settings from the config files with command-line overrides applied.

    `--data-dir` moves the embedded database and the filesystem store unless
    the config files name their own. Raises ConfigError.
    """
    logger = logging.getLogger("glint.config_file")
    previous = logger.level
    if not warn:
        logger.setLevel(logging.ERROR)
    try:
        data_dir = Path(options.data_dir) if options.data_dir else DEFAULT_DATA_DIR
        settings = settings_from_files([Path(p) for p in options.config_files], data_dir)
    finally:
        logger.setLevel(previous)
    server = settings.server
    if options.host is not None:
        server = replace(server, bind_host=options.host)
    if options.port is not None:
        server = replace(server, bind_port=options.port)
    return replace(settings, server=server)
