"""`huifang doctor`: is this node ready to call? Each check with OK, WARN or FAIL and a
fix; exit 1 on any FAIL."""

from __future__ import annotations

import json
import sys

import click
from rich.markup import escape

from huifang.cli.app import EXIT_ERROR, App, out, pass_app
from huifang.config import ConfigError, config_path, load_settings
from huifang.doctor import Check, Status, run_checks

COLOUR = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "red"}


def print_check(check: Check, indent: str = "") -> None:
    colour = COLOUR[check.status]
    out.print(f"{indent}[{colour}]{check.status.value:<4}[/] {check.name}: "
              f"{escape(check.detail)}", highlight=False)
    if check.fix:
        out.print(f"{indent}     → {escape(check.fix)}", highlight=False)


@click.command("doctor")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1, 30), default=2.0,
              show_default=True, help="Seconds to wait for the trunk's answer.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@pass_app
def doctor(app: App, timeout_s: float, as_json: bool) -> None:
    """Check that this node can run: configuration, database, trunk, ports, model, TTS."""
    source = config_path(app.config_path)
    try:
        load_settings(app.config_path)
    except ConfigError as exc:
        checks = [Check("配置 configuration", Status.FAIL, str(exc),
                        "fix the key named (`huifang config check`)")]
    else:
        checks = [Check("配置 configuration", Status.OK,
                        f"{source or 'no file: the defaults'} is valid")]
        checks += run_checks(app.settings, timeout_s=timeout_s)
    if as_json:
        out.print_json(json.dumps([c.as_dict() for c in checks], ensure_ascii=False))
    else:
        for check in checks:
            print_check(check)
        counts = {s: sum(c.status is s for c in checks) for s in Status}
        out.print(f"{counts[Status.OK]} OK, {counts[Status.WARN]} WARN, "
                  f"{counts[Status.FAIL]} FAIL", highlight=False)
    if any(c.status is Status.FAIL for c in checks):
        sys.exit(EXIT_ERROR)
