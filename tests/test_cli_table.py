"""The root command's table: every entry loads its command, under that name, with the
one-line help the root's --help lists; and a light command does not load the speech,
media and evaluation stacks."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from huifang.cli import COMMANDS, cli, load_command


def test_every_entry_is_its_commands_own() -> None:
    for name, (_, _, short) in COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        assert command.get_short_help_str(limit=200) == short, name


def test_the_root_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == list(COMMANDS)


def test_a_light_command_loads_no_heavy_stack() -> None:
    code = ("import sys; from huifang.cli import main; sys.argv = ['huifang', 'db', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('scipy', 'twisted.internet.reactor', 'pocketsphinx', "
            "'huifang.evaluation', 'dialer.media') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "HEAVY []" in out, out
