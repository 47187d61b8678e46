"""`glint serve`: check the configuration, database and stores, then become the server."""

from __future__ import annotations

import json
import logging
import os
import sys

import click

from glint.cli.options import (
    ServeOptions,
    StartupError,
    config_file_option,
    data_dir_option,
    load_settings,
)
from glint.cli.startup import check_authorization, check_port_free, prepare_database
from glint.config_file import ConfigError
from glint.stores.base import StoreError
from glint.stores.options import OptionError
from glint.stores.registry import check_registry

# glibc malloc: a few arenas instead of one per thread (the server has dozens
# of threads), which keeps worker memory flat while large blocks stream.
MALLOC_TUNING = {"MALLOC_ARENA_MAX": "2"}


@click.command()
@config_file_option
@data_dir_option
@click.option("--host", help="Address to listen on (overrides [DEFAULT] bind_host).")
@click.option("--port", type=int, help="Port to listen on (overrides [DEFAULT] bind_port).")
def serve(config_files: tuple[str, ...], data_dir: str | None, host: str | None,
          port: int | None) -> None:
    """Serve the Images API."""
    from glint.cli import supervisor

    options = ServeOptions(config_files=config_files, data_dir=data_dir, host=host, port=port)
    try:
        settings = load_settings(options)
        prepare_database(settings)
        check_registry(settings.store)
        check_authorization(settings)
        check_port_free(settings.server.bind_host, settings.server.bind_port)
    except (ConfigError, StoreError, OptionError) as exc:
        raise StartupError(str(exc)) from exc
    server = settings.server
    environment = {**MALLOC_TUNING, **os.environ, supervisor.SETTINGS_ENVIRONMENT_VARIABLE: json.dumps({
        **options.to_json(),
        "server": {"bind_host": server.bind_host, "bind_port": server.bind_port,
                   "workers": server.workers, "max_header_line": server.max_header_line},
    })}
    logging.getLogger(__name__).info(
        "Glint serving on http://%s:%d with %d worker(s)",
        server.bind_host, server.bind_port, server.workers,
    )
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "glint.cli.supervisor"], environment)
