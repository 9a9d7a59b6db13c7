"""Two live dialer processes of one host never share RTP ports: the one that would start
on ports another live one holds refuses, with the other's name, pid and range; of two
registered at once the later gives way; dead processes and other hosts do not count."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from twisted.python.failure import Failure

from dialer.processes import start_of, this_process
from dialer.recovery import PortsShared, check_media_ports
from store.campaign import Process, node_seen
from store.campaign_models import DialerNode
from store.db import make_engine, upgrade
from store.dialogs import sharing_ports
from tests.campaign_support import NOW, Clock, start_campaign, wait_until
from tests.peers import free_udp_port
from tests.test_service import config, start_run

ME = Process("h1", os.getpid(), start_of(os.getpid()), (30000, 30099))


def nodes(engine: Engine) -> dict[str, tuple[str, int | None, int | None]]:
    with engine.connect() as conn:
        return {r.node: (r.state, r.rtp_low, r.rtp_high) for r in conn.execute(
            select(DialerNode.node, DialerNode.state, DialerNode.rtp_low, DialerNode.rtp_high))}


def test_only_live_overlapping_processes_of_this_host_are_found(engine: Engine) -> None:
    at = datetime(2026, 12, 3, 9, 0)
    node_seen(engine, "below", at, 0, started=True,
              process=Process("h1", 11, "a", (29000, 29999)))  # ends one port under ours
    node_seen(engine, "inside", at, 0, started=True,
              process=Process("h1", 12, "b", (30050, 30060)))
    node_seen(engine, "across", at, 0, started=True,
              process=Process("h1", 13, "c", (30099, 30200)))  # shares only our last port
    node_seen(engine, "dead", at, 0, started=True,
              process=Process("h1", 14, "d", (30000, 30099)))
    node_seen(engine, "elsewhere", at, 0, started=True,
              process=Process("h2", 15, "e", (30000, 30099)))
    node_seen(engine, "old-version", at, 0, started=True, process=Process("h1", 16, "f"))
    node_seen(engine, "stopped", at, 0, started=True,
              process=Process("h1", 17, "g", (30000, 30099)))
    node_seen(engine, "stopped", at, 0, "stopped")
    assert nodes(engine)["inside"] == ("running", 30050, 30060)
    found = sharing_ports(engine, "h1", "me", ME.pid, 30000, 30099, lambda pid, _: pid != 14)
    assert [(h.node, h.pid, h.low, h.high) for h in found] == [  # oldest, then by name
        ("across", 13, 30099, 30200), ("inside", 12, 30050, 30060)]
    check_media_ports(engine, "me", ME)  # by /proc, pids 11-17 are not those processes
    node_seen(engine, "live", at, 0, started=True,
              process=Process("h1", ME.pid, ME.start, (30090, 30109)))
    with pytest.raises(PortsShared) as refused:
        check_media_ports(engine, "me", ME)
    assert str(refused.value).startswith(
        "trunk.rtp_ports 30000-30099 of node me overlap those of a dialer running on this "
        f"host: node live (pid {ME.pid}) 30090-30109.")


def test_of_two_registered_at_once_both_give_way(engine: Engine) -> None:
    """Registration order is not commit order: each that sees the other refuses, the
    safe failure; a paused node still holds its ports; another live process under this
    very name holds them too."""
    at = datetime(2026, 12, 3, 9, 0)
    other = Process("h1", ME.pid + 1, ME.start, ME.media_ports)  # pretend another process
    def alive(pid: int, start: str | None) -> bool:
        return pid in (ME.pid, other.pid)
    node_seen(engine, "a-node", at, 0, started=True, process=ME)
    node_seen(engine, "b-node", at, 0, started=True, process=other)
    assert [h.node for h in sharing_ports(engine, "h1", "a-node", ME.pid, 30000, 30099,
                                          alive)] == ["b-node"]
    assert [h.node for h in sharing_ports(engine, "h1", "b-node", other.pid, 30000, 30099,
                                          alive)] == ["a-node"]
    node_seen(engine, "c-node", at, 0, started=True, process=ME)  # alive by /proc too
    with pytest.raises(PortsShared, match="node c-node"):
        check_media_ports(engine, "a-node", ME, at)
    assert nodes(engine)["a-node"][0] == "stopped"  # marked before it gave way
    node_seen(engine, "b-node", at, 0, "paused")
    assert [h.node for h in sharing_ports(engine, "h1", "a-node", ME.pid, 30000, 30099,
                                          alive)] == ["b-node", "c-node"]  # paused: still holds
    node_seen(engine, "same", at, 0, started=True, process=other)
    assert "same" in [h.node for h in sharing_ports(engine, "h1", "same", ME.pid, 30000,
                                                    30099, alive)]  # the name's other process


def test_a_campaign_on_ports_a_live_one_holds_does_not_start(sqlite_engine: Engine,
                                                             tmp_path: Path) -> None:
    low = free_udp_port(60)
    low += low % 2
    first = start_campaign(sqlite_engine, {}, tmp_path / "first", Clock(NOW),
                           rtp_ports=(low, low + 18), node="first")
    second = third = None
    try:
        wait_until(lambda: bool(first.started), 30, "the first campaign started")
        assert first.started == [None]
        second = start_campaign(sqlite_engine, {}, tmp_path / "second", Clock(NOW),
                                rtp_ports=(low + 18, low + 36), node="second")
        wait_until(lambda: bool(second.started), 30, "the second campaign gave up")
        failure = second.started[0]
        assert isinstance(failure, Failure) and failure.check(PortsShared)
        assert f"node first (pid {os.getpid()}) {low}-{low + 18}" in str(failure.value)
        assert not second.campaign.loops  # no job runs: it calls nobody
        third = start_campaign(sqlite_engine, {}, tmp_path / "third", Clock(NOW),
                               rtp_ports=(low + 20, low + 38), node="third")
        wait_until(lambda: bool(third.started), 30, "the third campaign started")
        assert third.started == [None]
        assert nodes(sqlite_engine) == {"first": ("running", low, low + 18),
                                        "third": ("running", low + 20, low + 38)}
    finally:
        for running in (first, second, third):
            if running is not None:
                running.stop()


def test_huifang_run_on_a_live_nodes_ports_exits_with_the_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'huifang.db'}"
    cfg = config(tmp_path, url, 9, "second")
    low, high = (int(p) for p in cfg.read_text().split('rtp_ports = "')[1].split('"')[0]
                 .split("-"))
    engine = make_engine(url)
    upgrade(engine)
    here = replace(this_process(), media_ports=(high, high + 10))  # this test: alive
    node_seen(engine, "first", NOW, 0, started=True, process=here)
    process = start_run(cfg, "second", tmp_path)
    assert process.wait(120) == 1
    log = " ".join((tmp_path / "second.log").read_text(encoding="utf-8").split())  # wrapped
    assert f"trunk.rtp_ports {low}-{high} of node second overlap" in log
    assert f"node first (pid {os.getpid()}) {high}-{high + 10}" in log
    assert nodes(engine) == {"first": ("running", high, high + 10)}  # it never registered
    engine.dispose()
