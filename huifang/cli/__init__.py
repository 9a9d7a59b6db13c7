"""The `huifang` command line: the root group, and every command registered here,
explicitly (no command registers itself by being imported).

Each command's module is imported only when that command runs (`LazyGroup`), with the
one-line help the root's `--help` lists kept beside it here: `huifang db status` does not
pay for the speech, media and evaluation stacks (scipy, Twisted, PocketSphinx) that other
commands need, which made every command take seconds to start. A test checks that these
lines are the commands' own."""

from __future__ import annotations

import importlib

import click

from huifang.cli.app import App

# name -> (module, attribute, the short help the root's --help lists)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "config": ("database", "config", "Check the configuration."),
    "calendar": ("calendar", "calendar",
                 "The holiday calendar: [calendar] before chinese-calendar."),
    "db": ("database", "db", "Create, upgrade and inspect the database."),
    "import": ("imports", "import_command",
               "Import units, tickets, evaluations or exclusions from CSV, XLSX or JSON "
               "Lines."),
    "sample": ("sample", "sample_command",
               "Generate a realistic synthetic hotline (units, tickets, callbacks, "
               "exclusions)."),
    "report": ("report", "report_command",
               "Rates, rankings and cards for a period, in the terminal and as files."),
    "explain": ("report", "explain_command",
                "List the tickets behind each of a unit's numbers: which count where, and "
                "why not."),
    "prompts": ("prompts", "prompts", "The callback script: check it, render it, speak any "
                "text."),
    "recognize": ("recognize", "recognize",
                  "Print the hypothesis, intent and confidence for one WAV clip (any rate, "
                  "mono)."),
    "models": ("models", "models",
               "Speech models: list, install (a directory or an archive) and verify them."),
    "asr-eval": ("asreval", "asr_eval",
                 "Intent accuracy, confusion, rejection, false acceptance and real-time "
                 "factor."),
    "asr-tune": ("asrtune", "asr_tune",
                 "Calibrate rejection on the tune split; print the [recognition] settings."),
    "call": ("call", "call",
             "Place one call to URI (sip:1001@127.0.0.1:5090) and report what happened."),
    "run": ("run", "run", "Run the campaign: scheduler, dialer, health and metrics."),
    "campaign": ("run", "campaign",
                 "See and steer the running campaign (every process sharing the database)."),
    "dnc": ("run", "dnc", "The do-not-call list (免打扰): numbers never called."),
    "recordings": ("recordings", "recordings",
                   "Call recordings: retention (campaign.recordings_keep_days)."),
    "console": ("console", "console_command",
                "Serve the supervisors' web console (also served by `huifang run`)."),
    "user": ("console", "user",
             "Console accounts: admin, supervisor (质检员) and viewer (领导)."),
    "token": ("console", "token", "API tokens for the hotline's ticket system."),
    "spot-checks": ("spotchecks", "spot_checks",
                    "Spot checks (抽检): draw the machine's calls to check, and its measured "
                    "accuracy."),
    "reasons": ("reasons", "reasons",
                "The citizen's reasons in words: transcribe them now, sort them into "
                "categories."),
    "doctor": ("doctor", "doctor",
               "Check that this node can run: configuration, database, trunk, ports, model, "
               "TTS."),
    "demo": ("demo", "demo_command",
             "Build a demo hotline in a fresh SQLite database, run a callback campaign, and "
             "serve the supervisors' console on it."),
}


def load_command(name: str) -> click.Command:
    module, attribute, _ = COMMANDS[name]
    command: click.Command = getattr(importlib.import_module(f"huifang.cli.{module}"),
                                     attribute)
    return command


class LazyGroup(click.Group):
    """A group whose commands are imported when they are run or asked for help."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            return load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="PATH", envvar="HUIFANG_CONFIG",
              help="huifang.toml to use (default: $HUIFANG_CONFIG, then ./huifang.toml).")
@click.version_option(package_name="huifang")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """huifang 回访: automatic follow-up calls for 12345 hotlines."""
    ctx.obj = App(config_path)


def main() -> None:
    cli(prog_name="huifang")
