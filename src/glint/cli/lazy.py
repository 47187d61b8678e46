"""A click group that imports a command's module only when that command is used.

`glint db sync` should not pay for the imports of `glint audit` or `glint
replicate` (seconds on a busy 2-core machine), and `glint --help` for none of
them: the group lists each command with a summary kept beside its import path,
and imports the module when the command runs or shows its own help.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class LazyCommand:
    """A command as its group lists it before importing it.

    `target` is "package.module:attribute"; `summary` is the first paragraph
    of the command's own help, the text `--help` shortens into the listing
    (tests/cli/test_lazy.py checks that the two agree).
    """

    target: str
    summary: str

    def load(self) -> click.Command:
        """Import the command. Raises ImportError, AttributeError, TypeError."""
        module_name, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command


class LazyGroup(click.Group):
    """A group whose `lazy` commands are imported on first use, never to list them."""

    def __init__(self, name: str | None = None,
                 commands: MutableMapping[str, click.Command] | Sequence[click.Command] | None
                 = None, *, lazy: Mapping[str, LazyCommand], **attrs: Any) -> None:
        # **attrs: click.group(cls=LazyGroup, ...) hands over the group's usual settings.
        super().__init__(name, commands, **attrs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.add_command(self.lazy[cmd_name].load(), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The "Commands" section as click writes it, from the summaries of the
        commands not imported yet."""
        names = [name for name in self.list_commands(ctx)
                 if name not in self.commands or not self.commands[name].hidden]
        if not names:
            return
        # click's own layout: the help column is what the longest name leaves.
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, self._short_help(name, limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _short_help(self, name: str, limit: int) -> str:
        if name in self.commands:
            return self.commands[name].get_short_help_str(limit)
        # A stand-in with the same help shortens it exactly as the real command would.
        return click.Command(name, help=self.lazy[name].summary).get_short_help_str(limit)
