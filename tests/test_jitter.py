"""The jitter buffer on crafted packet sequences (pure: no sockets, no clock): media that
changes under the call (a new SSRC, timestamps jumping back or forward, a sequence
jump, a talkspurt's marker), loss, reordering, stragglers and a flood."""

from __future__ import annotations

import numpy as np

from dialer.jitter import FRAME_BYTES, MAX_FRAMES, JitterBuffer

Packet = tuple[int, int, int, bool, int]  # ssrc, sequence, timestamp, marker, frame id


LEVEL = 16384


def frame(n: int) -> bytes:
    """A 20 ms frame that says which one it is (n < 2000) by its level."""
    return np.full(160, LEVEL + 8 * n, dtype="<i2").tobytes()


def ident(pcm: bytes | None) -> int | None:
    """The id of a frame: None for silence, -n for frame n concealed (6 dB down each
    time it is repeated)."""
    if pcm is None:
        return None
    value, k = int(np.frombuffer(pcm, "<i2")[0]), 0
    while value << k < LEVEL:
        k += 1
    return (value << k) // 8 - LEVEL // 8 if k == 0 else -((value << k) // 8 - LEVEL // 8)


def stream(ssrc: int, seq: int, ts: int, ids: range, marker_first: bool = False
           ) -> list[Packet]:
    return [(ssrc, (seq + i) % 65536, (ts + 160 * i) % 2**32, marker_first and i == 0, n)
            for i, n in enumerate(ids)]


def run(packets: list[Packet | None], extra_ticks: int = 4,
        buffer: JitterBuffer | None = None) -> tuple[list[int | None], JitterBuffer]:
    """One packet arrives per 20 ms tick (None: nothing that tick), then one frame is
    taken, as the media clock does."""
    buffer = buffer or JitterBuffer()
    out: list[int | None] = []
    for packet in [*packets, *[None] * extra_ticks]:
        if packet is not None:
            ssrc, seq, ts, marker, n = packet
            buffer.push_packet(ssrc, seq, ts, marker, frame(n))
        out.append(ident(buffer.pop()))
    return out, buffer


def heard(out: list[int | None]) -> list[int]:
    return [n for n in out if n is not None and n > 0]


def concealed(out: list[int | None]) -> int:
    """Frames concealed before the last real one (the stream's end fades out too)."""
    last = max(i for i, n in enumerate(out) if n is not None and n > 0)
    return sum(1 for n in out[:last] if n is not None and n < 0)


def test_a_new_ssrc_whose_timestamps_jump_backwards_is_heard() -> None:
    """The issue's call: a tone under SSRC A, then speech under SSRC B whose timestamps
    are far behind A's. Before the fix every frame of B was 'late' and dropped."""
    tone = stream(0xA, 1000, 3_000_000, range(1, 51))
    speech = stream(0xB, 20, 5_000, range(101, 201))
    out, buffer = run([*tone, *speech])
    assert heard(out) == [*range(1, 51), *range(101, 201)]
    s = buffer.stats
    assert (s.new_ssrcs, s.reorigins, s.late, concealed(out)) == (1, 1, 0, 0)
    assert s.delivered == 150


def test_a_new_ssrc_jumping_forwards_plays_at_once() -> None:
    tone = stream(0xA, 1000, 5_000, range(1, 51))
    speech = stream(0xB, 7, 3_000_000_000, range(101, 151))
    out, _ = run([*tone, *speech])
    assert heard(out) == [*range(1, 51), *range(101, 151)]
    first = out.index(101)
    assert out[first - 1] == 50  # no wait, no concealment across the jump
    assert concealed(out) == 0


def test_same_ssrc_timestamps_jumping_back_with_the_sequence_going_on() -> None:
    """A re-INVITE or a transfer keeps the SSRC and the sequence, not the timestamps."""
    before = stream(7, 500, 1_000_000, range(1, 31))
    after = stream(7, 530, 1_000_000 - 160 * 400, range(31, 81))  # 8 s back
    out, buffer = run([*before, *after])
    assert heard(out) == list(range(1, 81))
    assert buffer.stats.reorigins == 1 and buffer.stats.new_ssrcs == 0
    assert buffer.stats.late == 0


def test_a_small_backward_step_in_sequence_is_still_a_new_origin() -> None:
    """120 ms back is under the jump threshold, but the sequence numbers say the packet
    is the next one: it plays next, nothing is dropped as 'late'."""
    before = stream(7, 500, 1_000_000, range(1, 31))
    after = stream(7, 530, 1_000_000 + 160 * 30 - 960, range(31, 61))
    out, buffer = run([*before, *after])
    assert heard(out) == list(range(1, 61)) and buffer.stats.late == 0


def test_a_forward_jump_under_the_same_ssrc_is_not_concealed_for_seconds() -> None:
    before = stream(7, 500, 1_000_000, range(1, 31))
    after = stream(7, 530, 1_000_000 + 160 * 30 + 8000 * 10, range(31, 61))  # 10 s on
    out, _ = run([*before, *after])
    assert heard(out) == list(range(1, 61))
    assert out[out.index(31) - 1] == 30 and concealed(out) == 0


def test_a_sequence_and_timestamp_restart_under_the_same_ssrc() -> None:
    before = stream(7, 60_000, 4_000_000_000, range(1, 31))
    after = stream(7, 12, 77, range(31, 61))
    out, _ = run([*before, *after])
    assert heard(out) == list(range(1, 61))


def test_sequence_and_timestamp_wrapping_is_one_stream() -> None:
    packets = stream(9, 65_530, 2**32 - 160 * 5, range(1, 41))
    out, buffer = run(packets)
    assert heard(out) == list(range(1, 41)) and buffer.stats.reorigins == 0


def test_a_lost_frame_is_concealed_not_a_hole() -> None:
    packets: list[Packet | None] = list(stream(3, 10, 160_000, range(1, 41)))
    packets[20] = None  # frame 21 lost
    out, buffer = run(packets)
    assert heard(out) == [n for n in range(1, 41) if n != 21]
    where = out.index(22)
    assert out[where - 2] == 20
    assert out[where - 1] == -20  # frame 20 repeated 6 dB down
    assert concealed(out) == 1 and buffer.stats.late == 0


def test_reordered_packets_play_in_order() -> None:
    packets = stream(3, 10, 160_000, range(1, 41))
    for i in (5, 17, 30):  # swap neighbours
        packets[i], packets[i + 1] = packets[i + 1], packets[i]
    out, buffer = run(list(packets))
    assert heard(out) == list(range(1, 41))
    assert concealed(out) == 0 and buffer.stats.late == 0


def test_a_frame_too_late_is_dropped_and_counted() -> None:
    packets: list[Packet | None] = list(stream(3, 10, 160_000, range(1, 41)))
    late = packets[10]
    packets[10] = None
    packets.insert(20, late)  # ten frames late: it was concealed long ago
    out, buffer = run(packets)
    assert heard(out) == [n for n in range(1, 41) if n != 11]
    assert buffer.stats.late == 1 and concealed(out) == 1


def test_the_marker_of_a_talkspurt_ends_a_silence_without_concealment() -> None:
    """Silence suppression: the sender stops for 100 ms, then sends the next talkspurt
    with the marker bit and the timestamp moved on by the silence."""
    first = stream(5, 100, 0, range(1, 21))
    second = stream(5, 120, 160 * 25, range(21, 41), marker_first=True)
    out, buffer = run([*first, None, None, None, None, None, *second])
    assert heard(out) == list(range(1, 41))
    assert buffer.stats.reorigins == 1
    # silence while the sender is silent (not concealment), and no more than that
    assert out[out.index(20) + 1:out.index(21)] == [None] * 5


def test_a_straggler_of_the_old_ssrc_does_not_switch_back() -> None:
    tone = stream(0xA, 1000, 3_000_000, range(1, 31))
    speech = stream(0xB, 20, 5_000, range(101, 141))
    straggler = (0xA, 1030, 3_000_000 + 160 * 30, False, 31)
    out, buffer = run([*tone, *speech[:3], straggler, *speech[3:]])
    assert heard(out) == [*range(1, 31), *range(101, 141)]
    assert buffer.stats.new_ssrcs == 1 and buffer.stats.late == 1


def test_a_ssrc_can_come_back_later() -> None:
    """彩铃 to callee and back (a transfer to the first party): both are heard."""
    a = stream(0xA, 1, 1000, range(1, 31))
    b = stream(0xB, 1, 1000, range(31, 61))
    a2 = stream(0xA, 31, 1000 + 160 * 30, range(61, 91))
    out, buffer = run([*a, *b, *a2])
    assert heard(out) == list(range(1, 91)) and buffer.stats.new_ssrcs == 2


def test_a_flood_cannot_grow_the_buffer() -> None:
    buffer = JitterBuffer()
    for i in range(1000):
        buffer.push_packet(1, i, i * 160, False, frame(1))
    assert len(buffer._frames) == MAX_FRAMES and buffer.stats.late == 1000 - MAX_FRAMES


def test_packets_of_40_ms_fill_two_frames() -> None:
    buffer = JitterBuffer()
    out = []
    for i in range(10):
        buffer.push_packet(1, i, i * 320, False, frame(2 * i + 1) + frame(2 * i + 2))
        out += [ident(buffer.pop()), ident(buffer.pop())]
    out += [ident(buffer.pop()) for _ in range(3)]
    assert heard(out) == list(range(1, 21))
    assert len(frame(1)) == FRAME_BYTES
