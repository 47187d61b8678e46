"""`glint replicate`'s argument handling, without servers (click's runner, in process)."""

from __future__ import annotations

from click.testing import CliRunner

from glint.cli.main import main


def run(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["replicate", *arguments])
    return result.exit_code, result.output


def test_help_for_a_command_and_for_all() -> None:
    code, output = run("help", "livecopy")
    assert code == 0 and "<fromserver:port> <toserver:port>" in output and "--metaonly" in output
    code, output = run("help")
    assert code == 0 and all(name in output for name in
                             ("compare", "dump", "livecopy", "load", "size"))
    code, output = run("help", "nonsense")
    assert code == 1 and "Unknown command: nonsense" in output


def test_too_few_arguments_and_bad_servers_exit_1() -> None:
    assert run("compare", "127.0.0.1:9292") == (1, "ERROR: Too few arguments.\n")
    assert run("dump", "127.0.0.1:9292") == (1, "ERROR: Too few arguments.\n")
    code, output = run("load", "127.0.0.1:9292", "/nonexistent/folder")
    assert code == 1 and "is not a folder" in output
    code, output = run("livecopy", "host-without-port", "127.0.0.1:9292")
    assert code == 1 and output.startswith('ERROR: Host and port "host-without-port"')
    code, output = run("size", "127.0.0.1:1")
    assert code == 1 and "unreachable" in output
