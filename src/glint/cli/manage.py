"""`glint-manage`: the twin of `glance-manage` for the commands Glint has.

`glint-manage db_sync` and `glint-manage db sync` both migrate, so the
deployment tutorial's `glance-manage db_sync` step maps one to one.
"""

from __future__ import annotations

import sys

from glint.cli.main import main as glint_main

ALIASES = {
    "db_sync": ["db", "sync"], "db_version": ["db", "version"],
    "db_load_metadefs": ["db", "load-metadefs"], "load_metadefs": ["db", "load-metadefs"],
    "db_unload_metadefs": ["db", "unload-metadefs"], "unload_metadefs": ["db", "unload-metadefs"],
    "db_export_metadefs": ["db", "export-metadefs"], "export_metadefs": ["db", "export-metadefs"],
}


def main() -> None:
    args = sys.argv[1:]
    config: list[str] = []
    # glance-manage takes --config-file/--config-dir before the command.
    while args and args[0].startswith("--config-file"):
        option = args.pop(0)
        if "=" in option:
            config.append(option.split("=", 1)[1])
        elif args:
            config.append(args.pop(0))
    if args and args[0] in ALIASES:
        args = ALIASES[args[0]] + args[1:]
    elif len(args) >= 2 and args[0] == "db" and args[1] in ALIASES:
        args = ALIASES[args[1]] + args[2:]
    for path in config:
        args += ["--config-file", path]
    glint_main(args=args, prog_name="glint-manage")
