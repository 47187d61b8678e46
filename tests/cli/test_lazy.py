"""`glint` imports a command's module only when that command is used, and lists
every command with the same summary the command itself gives."""

from __future__ import annotations

import subprocess
import sys

import click

from glint.cli.db import db
from glint.cli.lazy import LazyGroup
from glint.cli.main import main

# Runs `glint ARGS` in a fresh interpreter, then prints the glint.cli modules it
# imported and whether SQLAlchemy came along.
PROBE = """
import sys
from glint.cli.main import main
main(sys.argv[1:], prog_name="glint", standalone_mode=False)
print(" ".join(sorted(name for name in sys.modules if name.startswith("glint.cli."))))
print("sqlalchemy" in sys.modules)
"""
LIGHT = {"glint.cli.main", "glint.cli.lazy", "glint.cli.log_format"}


def _imported(*args: str) -> tuple[str, set[str], bool]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          timeout=60, check=True)
    *shown, modules, sqlalchemy = done.stdout.splitlines()
    return "\n".join(shown), set(modules.split()), sqlalchemy == "True"


def test_help_lists_every_command_and_imports_none() -> None:
    shown, modules, sqlalchemy = _imported("--help")
    for name in ("serve", "db", "scrubber", "reap", "audit", "replicate", "cache"):
        assert f"\n  {name} " in shown
    assert "Serve the Images API." in shown
    assert modules == LIGHT
    assert not sqlalchemy


def test_a_command_imports_its_own_module_only() -> None:
    shown, modules, _ = _imported("db", "--help")
    assert "load-metadefs" in shown and "Create or upgrade the schema" in shown
    assert "glint.cli.db" in modules
    assert not modules & {"glint.cli.metadefs", "glint.cli.serve", "glint.cli.audit",
                          "glint.cli.cache", "glint.cli.replicate", "glint.cli.jobs"}


def _first_paragraph(text: str) -> str:
    return " ".join(text.split("\n\n")[0].split())


def test_summaries_are_the_commands_own() -> None:
    for group in (main, db):
        assert isinstance(group, LazyGroup)
        for name, entry in group.lazy.items():
            command = entry.load()
            assert command.name == name
            assert entry.summary == _first_paragraph(command.help or ""), name


def _listing(group: click.Group, width: int) -> str:
    context = click.Context(group, info_name=group.name, terminal_width=width,
                            max_content_width=width)
    formatter = context.make_formatter()
    group.format_commands(context, formatter)
    return formatter.getvalue()


def test_listing_is_what_click_writes_for_the_imported_commands() -> None:
    for group in (main, db):
        assert isinstance(group, LazyGroup)
        eager = {name: command for name, command in group.commands.items()
                 if name not in group.lazy}
        nothing_imported = LazyGroup(group.name, dict(eager), lazy=group.lazy)
        imported = click.Group(group.name, {**eager, **{
            name: entry.load() for name, entry in group.lazy.items()}})
        for width in (60, 80, 200):
            assert _listing(nothing_imported, width) == _listing(imported, width)
