"""`huifang call URI --play prompt.wav --record out.wav`: one call, for an operator
checking a trunk. Prints the outcome, SIP codes, timings and any digits received."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from twisted.internet.error import CannotListenError

from dialer.media import MediaSession, StereoRecorder
from dialer.mediacall import MediaCall
from dialer.sipudp import CallResult
from huifang.cli.app import App, fail, out, pass_app
from huifang.config import TrunkSettings
from huifang.service import build_dialer
from huifang.speech import read_8k
from prompts.audio import AudioError


@click.command("call")
@click.argument("uri")
@click.option("--play", "play_path", type=click.Path(exists=True, dir_okay=False,
                                                     path_type=Path),
              help="WAV to play when answered (any rate, mono).")
@click.option("--record", "record_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Stereo WAV of the call: the callee left, us right.")
@click.option("--ring-timeout", type=float, default=None,
              help="Seconds of ringing before CANCEL (default: [trunk] ring_timeout_s).")
@click.option("--hangup-after", type=float, default=None,
              help="Seconds after answer to hang up (default: when the prompt ends, or 10).")
@click.option("--bind", default=None, help="Local address (default: [trunk] bind).")
@click.option("--sip-port", default=0, show_default=True, type=int, help="0: any free port.")
@click.option("--rtp-ports", default=None, help="LOW-HIGH (default: [trunk] rtp_ports).")
@click.option("--proxy", default=None, help="Outbound proxy host:port (default: [trunk]).")
@click.option("--user", default=None, help="Digest username for 401/407 (default: [trunk]).")
@click.option("--transport", type=click.Choice(["udp", "tcp", "tls"]), default=None,
              help="SIP over udp, tcp or tls (default: [trunk] transport).")
@click.option("--password", envvar="HUIFANG_SIP_PASSWORD", default=None,
              help="Digest password (or $HUIFANG_SIP_PASSWORD).")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def call(app: App, uri: str, play_path: Path | None, record_path: Path | None,
         ring_timeout: float | None, hangup_after: float | None, bind: str | None,
         sip_port: int, rtp_ports: str | None, proxy: str | None, user: str | None,
         transport: str | None, password: str | None, as_json: bool) -> None:
    """Place one call to URI (sip:1001@127.0.0.1:5090) and report what happened."""
    if not uri.startswith("sip:"):
        fail(f"{uri!r} is not a sip: URI")
    trunk = app.settings.trunk
    given = {"ring_timeout_s": ring_timeout, "bind": bind, "sip_port": sip_port,
             "rtp_ports": rtp_ports, "proxy": proxy, "username": user, "transport": transport}
    try:
        settings = app.settings.model_copy(update={"trunk": TrunkSettings.model_validate(
            {**trunk.model_dump(), "registrar": "",  # one call: no registration
             **{k: v for k, v in given.items() if v is not None}})})
    except ValidationError as exc:
        fail(f"{exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
    low, _, high = settings.trunk.rtp_ports.partition("-")
    if int(low) >= int(high):
        fail(f"--rtp-ports {settings.trunk.rtp_ports!r}: use LOW-HIGH")
    try:
        prompt = read_8k(play_path) if play_path else b""
    except AudioError as exc:
        fail(f"{play_path}: {exc}")
    from twisted.internet import reactor as _reactor  # noqa: PLC0415 - only for a call
    from twisted.internet.task import react  # noqa: PLC0415

    reactor: Any = _reactor
    report: dict[str, Any] = {}

    def main(_: Any) -> Any:
        try:
            dialer = build_dialer(settings, reactor, password=password or "")
            dialer.listen()
        except (OSError, CannotListenError, ValueError) as exc:
            fail(f"cannot listen for SIP on {settings.trunk.bind}:{settings.trunk.sip_port}: "
                 f"{exc}")
        recorder = StereoRecorder(record_path) if record_path else None
        digits: list[str] = []
        media = MediaSession(reactor, recorder=recorder, on_digit=digits.append)

        def answered() -> None:
            if prompt:
                played = media.play(prompt)
                if hangup_after is None:
                    played.addCallback(lambda _: reactor.callLater(0.5, placed.hangup))
            reactor.callLater(hangup_after if hangup_after is not None
                              else (10.0 if not prompt else 3600.0), placed.hangup)

        placed = MediaCall(dialer, media, uri, on_answered=answered)

        def finished(result: CallResult) -> Any:
            media.stop()
            report.update(asdict(result), digits="".join(digits),
                          early_media_s=round(len(media.early) / 16000, 2),
                          rtp_sent=media.stats.sent, rtp_received=media.stats.received,
                          recording=str(record_path) if record_path else None,
                          rtcp=asdict(placed.rtcp_summary) if placed.rtcp_summary else None)
            return dialer.stop()

        return placed.start().addCallback(finished)

    try:
        react(main)
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            fail("the call engine stopped with an error")
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        out.print(f"结果 outcome: [bold]{report.get('outcome')}[/]  SIP {report.get('code')} "
                  f"{report.get('reason')}  (by {report.get('by')})", highlight=False)
        out.print(f"首个响应 first response: {report.get('first_response_s')} s   "
                  f"接通 answered: {report.get('answered_s')} s   "
                  f"通话 duration: {report.get('duration_s')} s", highlight=False)
        out.print(f"按键 digits: {report.get('digits') or '—'}   RTP sent "
                  f"{report.get('rtp_sent')}, received {report.get('rtp_received')}",
                  highlight=False)
        rtcp = report.get("rtcp")
        if rtcp:
            out.print(f"RTCP 丢包 lost: {rtcp['packets_lost']}   抖动 jitter: "
                      f"{rtcp['jitter_ms']} ms   往返时延 RTT: {rtcp['rtt_ms']} ms",
                      highlight=False)
        if record_path:
            out.print(f"录音 recording: {record_path}", highlight=False)
