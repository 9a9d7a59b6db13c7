"""The composition root carries every trunk setting into the dialer and every campaign
setting into the campaign: a setting that is validated but never reaches the code would
be silently ignored."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dialer.callsession import SessionSettings
from dialer.sipactions import Credentials
from dialer.sipconnect import TlsSettings
from dialer.siptransport import Transport
from dialer.trunk import TrunkConfig
from dialer.workers import Workers
from huifang.config import Settings
from huifang.recognition_processes import ProcessRecognitionPool
from huifang.service import (
    RecognitionUnavailable,
    campaign_settings,
    load_recognition,
    session_settings,
    trunk_config,
)
from tests.conftest import need


def test_every_trunk_setting_reaches_the_dialer() -> None:
    settings = Settings.model_validate({"trunk": {
        "bind": "127.0.0.2", "sip_port": 5070, "rtp_ports": "30000-30100",
        "proxy": "127.0.0.3:5062", "username": "hf", "ring_timeout_s": 12,
        "max_channels": 7, "calls_per_second": 2.5, "registrar": "127.0.0.4:5063",
        "aor": "sip:hf@trunk", "register_expires_s": 600, "rtp_latching": False,
        "rtcp": False,
        "session_expires_s": 600, "min_se_s": 120,
        "accept_from": ["127.0.0.5"], "transport": "tls", "tls_ca": "ca.pem",
        "tls_cert": "me.pem", "tls_key": "me.key", "tls_server_name": "trunk.test"}})
    config = trunk_config(settings, password="pw")
    assert config == TrunkConfig(
        bind="127.0.0.2", sip_port=5070, rtp_low=30000, rtp_high=30100,
        proxy=("127.0.0.3", 5062), credentials=Credentials("hf", "pw"), ring_timeout=12,
        max_channels=7, calls_per_second=2.5, registrar=("127.0.0.4", 5063),
        aor="sip:hf@trunk", register_expires=600, rtp_latching=False, rtcp=False,
        session_expires=600, min_se=120,
        accept_from=("127.0.0.5",), transport=Transport.TLS,
        tls=TlsSettings("ca.pem", "me.pem", "me.key", "trunk.test"))
    defaults = trunk_config(Settings())
    changed = {f.name for f in dataclasses.fields(TrunkConfig)
               if getattr(config, f.name) != getattr(defaults, f.name)}
    assert changed == {f.name for f in dataclasses.fields(TrunkConfig)}  # each one moved


def test_routes_and_node_reach_the_campaign() -> None:
    settings = Settings.model_validate({
        "trunk": {"routes": {"0731": "sip:{number}@gw:5060"}, "dial_prefix": "9"},
        "campaign": {"node": "node-a", "tick_s": 2.0, "trunk_backoff_s": 4}})
    c = campaign_settings(settings)
    assert (c.routes, c.dial_prefix, c.node, c.tick_s, c.trunk_backoff_s) == (
        (("0731", "sip:{number}@gw:5060"),), "9", "node-a", 2.0, 4.0)


def test_the_trunks_hosts_are_trusted_before_any_call() -> None:
    """The target's and the routes' hosts answer keep-alives from the start; a host of
    no setting does not (tests/test_uac.py has the endpoint's side)."""
    from twisted.internet.task import Clock

    from huifang.service import build_dialer

    settings = Settings.model_validate({"trunk": {
        "target": "sip:{number}@10.9.8.7:5060", "proxy": "[2001:db8::1]:5060",
        "routes": {"0731": "sip:{number}@10.9.8.8:5080"}, "accept_from": ["10.9.8.9"]}})
    dialer = build_dialer(settings, Clock())
    assert dialer.endpoint.trusted == {"10.9.8.7", "10.9.8.8", "10.9.8.9", "2001:db8::1"}


def test_a_live_call_decides_as_recognize_does() -> None:
    """The policy and the rival margin of [recognition] reach the call, not defaults."""
    from ivr.intents import Intent
    from ivr.pool import RecognitionPool
    from tests.test_pool import RecorderEngine

    settings = Settings.model_validate({"recognition": {"hedge": "unsatisfied",
                                                        "accept": 0.7},
                                        "campaign": {"no_input_s": 3.0}})
    pool = RecognitionPool(RecorderEngine(rival_margin=0.2), workers=1)  # type: ignore[arg-type]
    session = session_settings(settings, pool)
    pool.shutdown()
    assert (session.policy.hedge, session.margin, session.accept, session.no_input_s) == (
        Intent.UNSATISFIED, 0.2, 0.7, 3.0)
    assert session_settings(settings, None).margin == SessionSettings().margin


def test_recognition_processes_are_what_the_service_decodes_on(tmp_path: Path) -> None:
    """`[recognition] processes = N` gives N worker processes holding the configured
    engine; a model that cannot load stops the service before any call, in words."""
    from twisted.internet.testing import MemoryReactorClock

    from tests.speech import MODEL

    need(MODEL.exists(), f"the shared Mandarin model is missing at {MODEL}")
    settings = Settings.model_validate({"recognition": {"model": str(MODEL),
                                                        "processes": 2}})
    workers = Workers(MemoryReactorClock(), single_writer=True)
    try:
        pool = load_recognition(settings, workers)
        try:
            assert isinstance(pool, ProcessRecognitionPool) and len(pool.pids()) == 2
            assert pool.engine_name == "pocketsphinx" and pool.rival_margin is not None
        finally:
            pool.shutdown()
        missing = Settings.model_validate({"recognition": {
            "model": str(tmp_path / "no-model"), "processes": 1}})
        with pytest.raises(RecognitionUnavailable, match="no-model"):
            load_recognition(missing, workers)
    finally:
        workers.stop()
