"""`huifang run` as operators run it, in its own process, under faults: kill -9 in the
middle of a campaign, two processes on one PostgreSQL database, the database restarting,
the trunk going away and coming back. Each time: nothing lost, nobody called twice at
once, and every callback settled. The citizen simulator runs in the test's reactor."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from huifang.demo.simulator import Citizen, CitizenSimulator, Turn
from store.campaign_models import CallAttempt, Callback, CallTurn
from store.db import make_engine
from store.enums import AttemptStatus, Resolved, Satisfaction
from store.models import Evaluation
from tests.campaign_support import wait_until
from tests.conftest import need
from tests.files import TICKET_HEADER, ticket, write_csv
from tests.peers import free_udp_port, on_reactor, reactor
from tests.pgserver import PostgresServer
from tests.speech import MODEL
from tests.test_callsession import PROMPTS, key
from tests.test_store_contract import imp, load_units

HUIFANG = Path(sys.executable).parent / "huifang"
CLOSED = "2026-11-18 16:00:00"


def keys_citizen() -> Citizen:
    return Citizen(turns=(Turn("silence"), key("1"), key("1")))  # about 12 s a call


@contextmanager
def simulator(citizens: dict[str, Citizen]) -> Iterator[tuple[CitizenSimulator, int]]:
    sim = CitizenSimulator(reactor, citizens)
    port = on_reactor(lambda: reactor.listenUDP(0, sim, interface="127.0.0.1"))
    try:
        yield sim, port.getHost().port
    finally:
        on_reactor(port.stopListening)


def config(tmp_path: Path, url: str, sip_port: int, node: str, extra: str = "",
           rtp_low: int | None = None) -> Path:
    low = free_udp_port(60) if rtp_low is None else rtp_low
    texts = "\n".join(f'{pid} = "{text}"' for pid, text in PROMPTS.items()
                      if pid not in ("greeting", "ticket_intro"))
    path = tmp_path / f"{node}.toml"
    path.write_text(f'''
[database]
url = "{url}"
[trunk]
bind = "127.0.0.1"
sip_port = 0
rtp_ports = "{low}-{low + 58}"
target = "sip:{{number}}@127.0.0.1:{sip_port}"
max_channels = 3
calls_per_second = 10
ring_timeout_s = 5
[campaign]
windows = ["00:00-24:00"]
skip_holidays = false
within_days = 30
tick_s = 0.5
lease_s = 10
no_input_s = 2
http = "127.0.0.1:{free_tcp_port()}"
recordings_dir = "{tmp_path / 'recordings'}"
{extra}
[console]
bind = "127.0.0.1:{free_tcp_port()}"
[recognition]
model = "{MODEL}"
workers = 1
[prompts]
cache_dir = "{tmp_path.parent / 'prompt-cache'}"
rate = 200
[prompts.texts]
greeting = "您好，这里是热线回访，关于{{summary}}。"
ticket_intro = "第{{ordinal}}件。"
{texts}
[logging]
level = "INFO"
''', encoding="utf-8")
    return path


def free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_run(cfg: Path, node: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    log = (tmp_path / f"{node}.log").open("ab")
    return subprocess.Popen([str(HUIFANG), "--config", str(cfg), "run", "--node", node],
                            stdout=log, stderr=subprocess.STDOUT)


def stop_run(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # graceful: calls in progress finish
    return process.wait(120)


def load(engine: Engine, tmp_path: Path, phones: list[str]) -> None:
    load_units(engine, tmp_path)
    rows = [ticket(f"T{i}", phone=p, closed=CLOSED) for i, p in enumerate(phones)]
    imp(engine, "tickets", write_csv(tmp_path / "t.csv", [TICKET_HEADER, *rows]))


def count(engine: Engine, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(CallAttempt).where(*where))
                   .scalar_one())


def settled(engine: Engine, tickets: int) -> bool:
    with engine.connect() as conn:
        answered = conn.execute(select(func.count()).select_from(Evaluation).where(
            Evaluation.resolved == Resolved.YES,
            Evaluation.satisfaction == Satisfaction.SATISFIED)).scalar_one()
    return int(answered) == tickets and count(
        engine, CallAttempt.status == AttemptStatus.IN_PROGRESS) == 0


def answered_mid_call(engine: Engine) -> bool:
    """A call in progress has had an answer saved; its next question is still to come."""
    with engine.connect() as conn:
        return conn.execute(select(CallTurn.id).join(
            CallAttempt, CallAttempt.id == CallTurn.attempt_id).where(
            CallAttempt.status == AttemptStatus.IN_PROGRESS,
            CallTurn.source.not_like("heard:%"))).first() is not None


def waiting_for_the_database(log: Path) -> bool:
    """The service's log says an answer is waiting for the database (it is tried again
    with backoff) and the outage has outlasted a heartbeat."""
    text = log.read_text(encoding="utf-8", errors="replace")
    return ("the database is unavailable" in text and "save_answer again" in text
            and "heartbeat failed" in text)


def one_success_each(engine: Engine) -> None:
    """Every callback was answered by exactly one finished call."""
    with engine.connect() as conn:
        rows = conn.execute(select(CallAttempt.callback_id, func.count()).where(
            CallAttempt.outcome == "completed").group_by(CallAttempt.callback_id)).all()
        callbacks = conn.execute(select(func.count()).select_from(Callback)).scalar_one()
    assert len(rows) == callbacks and {n for _, n in rows} == {1}


def needs_tools() -> None:
    need(HUIFANG.exists(), f"{HUIFANG} missing: the package is not installed in the venv")
    need(MODEL.exists(), f"the shared Mandarin model is missing at {MODEL}")


@pytest.mark.timeout(300)
def test_kill_9_mid_campaign_then_restart(tmp_path: Path) -> None:
    needs_tools()
    url = f"sqlite:///{tmp_path / 'huifang.db'}"
    engine = make_engine(url)
    from store.db import upgrade
    upgrade(engine)
    phones = [f"1380000{i:04d}" for i in range(1, 7)]
    load(engine, tmp_path, phones)
    with simulator({p: keys_citizen() for p in phones}) as (sim, port):
        cfg = config(tmp_path, url, port, "n1")
        first = start_run(cfg, "n1", tmp_path)
        wait_until(lambda: count(engine, CallAttempt.status == AttemptStatus.IN_PROGRESS) >= 2
                   and any(len(s) for s in sim.spans.values()), 90, "calls in progress")
        wait_until(lambda: answered_mid_call(engine), 60,
                   "into the calls: some answers are saved, some not yet")
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        killed = count(engine, CallAttempt.status == AttemptStatus.IN_PROGRESS)
        assert killed >= 1
        with engine.connect() as conn:
            saved_before = conn.execute(select(Evaluation.ticket_id, Evaluation.resolved)
                                        ).all()
        second = start_run(cfg, "n1", tmp_path)  # the same node: its claims recover at once
        try:
            wait_until(lambda: settled(engine, len(phones)), 180, "every ticket answered")
        finally:
            assert stop_run(second) == 0
        assert sim.overlapping() == []  # nobody was in two of our calls at once
    assert count(engine, CallAttempt.status == AttemptStatus.INTERRUPTED) == killed
    with engine.connect() as conn:
        kept = dict(conn.execute(select(Evaluation.ticket_id, Evaluation.resolved)).all())
    for ticket_id, resolved in saved_before:  # nothing said before the crash was lost
        assert kept[ticket_id] in (resolved, Resolved.YES)
    one_success_each(engine)


@pytest.mark.timeout(300)
@pytest.mark.postgres
def test_two_processes_on_one_postgres_database(tmp_path: Path, pg_server: PostgresServer
                                                 ) -> None:
    needs_tools()
    url = pg_server.create_database("two_nodes", template="huifang_template")
    engine = make_engine(url)
    phones = [f"1390000{i:04d}" for i in range(1, 13)]
    load(engine, tmp_path, phones)
    with simulator({p: keys_citizen() for p in phones}) as (sim, port):
        low = free_udp_port(120)  # two live nodes of one host may not share RTP ports
        runs = [start_run(config(tmp_path, url, port, node, rtp_low=low + 60 * i), node,
                          tmp_path) for i, node in enumerate(("n1", "n2"))]
        try:
            wait_until(lambda: settled(engine, len(phones)), 200, "every ticket answered")
        finally:
            codes = [stop_run(r) for r in runs]
        assert codes == [0, 0]
        assert sim.overlapping() == []
    with engine.connect() as conn:
        nodes = dict(conn.execute(select(CallAttempt.node, func.count())
                                  .group_by(CallAttempt.node)).all())
    assert set(nodes) == {"n1", "n2"}  # both worked
    one_success_each(engine)  # and no closure was dialled twice


@pytest.mark.timeout(300)
@pytest.mark.postgres
def test_the_database_restarting_mid_campaign(tmp_path: Path, pg_server: PostgresServer
                                              ) -> None:
    needs_tools()
    url = pg_server.create_database("restarting", template="huifang_template")
    engine = make_engine(url)
    phones = [f"1370000{i:04d}" for i in range(1, 7)]
    load(engine, tmp_path, phones)
    with simulator({p: keys_citizen() for p in phones}) as (sim, port):
        run = start_run(config(tmp_path, url, port, "n1"), "n1", tmp_path)
        try:
            wait_until(lambda: count(engine, CallAttempt.status == AttemptStatus.IN_PROGRESS)
                       >= 2, 90, "calls in progress")
            engine.dispose()
            pg_server.stop_fast()
            log = tmp_path / "n1.log"
            wait_until(lambda: waiting_for_the_database(log), 90,
                       "an answer heard during the outage waits for the database, and a "
                       "heartbeat failed")
            pg_server.start()
            wait_until(lambda: settled(engine, len(phones)), 180, "every ticket answered")
        finally:
            assert stop_run(run) == 0
        assert sim.overlapping() == []
    one_success_each(engine)
    assert "database is unavailable" in (tmp_path / "n1.log").read_text()


@pytest.mark.timeout(300)
def test_the_trunk_going_away_and_coming_back(tmp_path: Path) -> None:
    needs_tools()
    url = f"sqlite:///{tmp_path / 'huifang.db'}"
    engine = make_engine(url)
    from store.db import upgrade
    upgrade(engine)
    phones = [f"1360000{i:04d}" for i in range(1, 4)]
    load(engine, tmp_path, phones)
    sim = CitizenSimulator(reactor, {p: keys_citizen() for p in phones})
    port = free_udp_port()
    # the trunk is not there yet; a trunk failure is tried again 6 s later, and holds new
    # calls back for 2 s
    cfg = config(tmp_path, url, port, "n1",
                 "retry_minutes = { timeout = 0.1 }\ntrunk_backoff_s = 2")
    run = start_run(cfg, "n1", tmp_path)
    try:
        wait_until(lambda: count(engine, CallAttempt.outcome == "timeout") >= 1, 120,
                   "a call timed out against the missing trunk")
        listening = on_reactor(lambda: reactor.listenUDP(port, sim, interface="127.0.0.1"))
        wait_until(lambda: settled(engine, len(phones)), 200, "every ticket answered")
        on_reactor(listening.stopListening)
    finally:
        assert stop_run(run) == 0
    with engine.connect() as conn:
        attempts = conn.execute(select(Callback.attempts)).scalars().all()
        reviews = conn.execute(select(func.count()).where(Callback.status == "review")
                               ).scalar_one()
    assert attempts == [1, 1, 1]  # the trunk's failures did not use up citizens' attempts
    assert reviews == 0


def test_health_and_metrics_endpoint(tmp_path: Path) -> None:
    needs_tools()
    url = f"sqlite:///{tmp_path / 'huifang.db'}"
    engine = make_engine(url)
    from store.db import upgrade
    upgrade(engine)
    cfg = config(tmp_path, url, free_udp_port(), "n1")
    address = next(line.split('"')[1] for line in cfg.read_text().splitlines()
                   if line.startswith("http ="))
    run = start_run(cfg, "n1", tmp_path)
    try:
        def up() -> bool:
            try:
                with urllib.request.urlopen(f"http://{address}/health", timeout=2) as r:
                    return bool(json.load(r)["status"] == "running")
            except OSError:
                return False
        wait_until(up, 60, "health answers")
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as r:
            text = r.read().decode()
        assert "huifang_calls_in_progress 0.0" in text
        assert "huifang_channels 3.0" in text
        # a damaged datagram at the SIP port is counted, not logged line by line
        started = (tmp_path / "n1.log").read_text(encoding="utf-8", errors="replace")
        sip_port = int(started.split(", SIP 127.0.0.1:")[1].split(",")[0])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"INVITE nonsense\r\n\r\n", ("127.0.0.1", sip_port))

        def dropped() -> bool:
            with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as r:
                return 'huifang_sip_dropped_total{reason="damaged"} 1.0' in r.read().decode()
        wait_until(dropped, 30, "the damaged datagram counted")
        # the supervisors' console is served by the same process
        lines = cfg.read_text().splitlines()
        console = lines[lines.index("[console]") + 1].split('"')[1]
        with urllib.request.urlopen(f"http://{console}/login", timeout=5) as r:
            assert r.status == 200 and "登录" in r.read().decode()
    finally:
        assert stop_run(run) == 0
    assert os.path.exists(tmp_path / "n1.log")
