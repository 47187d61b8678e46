"""The `glint` command: serve the API, manage the database, run the jobs.

Each command's module is imported only when that command is used (glint/cli/lazy.py):
`glint db sync` does not load the auditor, nor `glint --help` anything.
"""

from __future__ import annotations

import logging
import sys

import click

from glint.cli.lazy import LazyCommand, LazyGroup
from glint.cli.log_format import LOG_FORMAT

COMMANDS = {
    "serve": LazyCommand("glint.cli.serve:serve", "Serve the Images API."),
    "db": LazyCommand("glint.cli.db:db", "Manage the database schema."),
    "scrubber": LazyCommand(
        "glint.cli.scrubber:scrubber",
        "Delete the data of images in pending_delete (delayed delete)."),
    "reap": LazyCommand(
        "glint.cli.reap:reap",
        "List data in the stores and the staging area that no image needs any more."),
    "audit": LazyCommand(
        "glint.cli.audit:audit",
        "Re-read the stored data of active images and compare it with their records."),
    "replicate": LazyCommand(
        "glint.cli.replicate:replicate",
        "Replicate images between image services (glance-replicator's commands)."),
    "cache": LazyCommand("glint.cli.cache:cache", "Manage a node's image cache."),
}


@click.group(cls=LazyGroup, lazy=COMMANDS)
# The installed distribution's version (its metadata), never a copy kept in the code.
@click.version_option(package_name="glint", message="%(prog)s %(version)s")
def main() -> None:
    """Glint, an image service that speaks the OpenStack Image (Glance) v2 API."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
