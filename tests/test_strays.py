"""A dead call's RTP port (dialer/strays.py) with a fake clock and a memory reactor: held
while its media keeps coming, handed out once it is quiet, and the SSRCs that came while
held refused there afterwards, by the media session of the next call on that port."""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock

from dialer.media import PortRange
from dialer.strays import BAN_S, HOLD_MAX_S, QUIET_S, UNANSWERED_HOLD_S, HeldPort
from tests.test_media_latching import NAT, SDP, answered, feed, rtp

PORT = 41000
DEAD = 0x51A1E


class Listener:
    def __init__(self, reactor: Reactor, port: int) -> None:
        self.reactor, self.port = reactor, port

    def getHost(self) -> IPv4Address:
        return IPv4Address("UDP", "127.0.0.1", self.port)

    def stopListening(self) -> None:
        self.reactor.bound.discard(self.port)


class Reactor:
    """listenUDP as the kernel does it: a port held by one listener refuses another."""

    def __init__(self) -> None:
        self.bound: set[int] = set()

    def listenUDP(self, port: int, protocol: Any, interface: str = "") -> Listener:
        if port in self.bound:
            raise OSError(98, "Address already in use")
        self.bound.add(port)
        return Listener(self, port)


def held(clock: Clock) -> tuple[HeldPort, PortRange, Reactor]:
    ports, reactor = PortRange(PORT, PORT + 3), Reactor()
    return HeldPort(reactor, clock, ports, PORT, "127.0.0.1", "dead-call"), ports, reactor


def free_ports(ports: PortRange, reactor: Reactor, now: float) -> set[int]:
    got = set()
    for _ in range(4):
        listener = ports.listen(reactor, object(), "127.0.0.1", now)  # type: ignore[arg-type]
        if listener is not None:
            got.add(listener.getHost().port)
            listener.stopListening()
    return got


def test_a_quiet_port_is_free_again_once_its_dialog_ended() -> None:
    clock = Clock()
    port, ports, reactor = held(clock)
    port.stray.datagramReceived(rtp(1, ssrc=DEAD), NAT)  # the dead call's last packet
    assert free_ports(ports, reactor, clock.seconds()) == {PORT + 2}
    clock.advance(60)  # the BYE's answer is slow: still held, however long
    assert free_ports(ports, reactor, clock.seconds()) == {PORT + 2}
    port.ended(unanswered=False)
    clock.advance(QUIET_S)
    assert port.released and free_ports(ports, reactor, clock.seconds()) == {PORT, PORT + 2}
    # it went quiet: nothing refused (a callee replaying one SSRC in every call may be
    # the next honest one on this port)
    assert ports.refused_on(PORT, clock.seconds()) == frozenset()


def test_media_that_keeps_coming_keeps_the_port_held_up_to_the_limit() -> None:
    clock = Clock()
    port, ports, _ = held(clock)
    port.ended(unanswered=False)
    sequence = 0
    while not port.released:
        sequence += 1
        port.stray.datagramReceived(rtp(sequence, ssrc=DEAD), NAT)
        port.stray.datagramReceived(b"\x80\xc8" + bytes(26), NAT)  # RTCP: no SSRC noted
        clock.advance(1.0)
    assert clock.seconds() == HOLD_MAX_S  # held while the stream went on, to the limit
    # given back while the stream goes on: its SSRC refused there
    assert ports.refused_on(PORT, clock.seconds()) == {DEAD}
    assert ports.refused_on(PORT + 2, clock.seconds()) == frozenset()
    assert ports.refused_on(PORT, clock.seconds() + BAN_S) == frozenset()  # not for ever


def test_after_an_unanswered_bye_the_port_is_held_longer() -> None:
    clock = Clock()
    port, _, _ = held(clock)
    port.ended(unanswered=True)
    clock.pump([QUIET_S] * int(UNANSWERED_HOLD_S / QUIET_S - 1))
    assert not port.released
    clock.pump([QUIET_S] * 2)
    assert port.released


def test_a_port_another_process_has_is_held_without_watching() -> None:
    clock = Clock()
    ports, reactor = PortRange(PORT, PORT + 3), Reactor()
    reactor.bound.add(PORT)
    port = HeldPort(reactor, clock, ports, PORT, "127.0.0.1", "dead-call")
    port.ended(unanswered=False)
    clock.pump([QUIET_S] * int(UNANSWERED_HOLD_S / QUIET_S - 1))
    assert not port.released and PORT in ports.held


def test_a_refused_ssrc_is_neither_heard_nor_latched_to() -> None:
    media, _, clock = answered()
    media.refused_ssrcs = frozenset({DEAD})
    feed(media, clock, [(rtp(100 + i, ssrc=DEAD), NAT) for i in range(20)])
    assert media.remote == SDP and media.stats.latched == 0 and media.stats.delivered == 0
    feed(media, clock, [(rtp(300 + i, ssrc=DEAD), SDP) for i in range(5)])  # its address
    assert media.stats.dropped_stale == 5 and media.stats.received == 0
    feed(media, clock, [(rtp(500 + i, ssrc=7), SDP) for i in range(20)])  # the new callee
    assert media.stats.received == 20 and media.stats.delivered >= 15
