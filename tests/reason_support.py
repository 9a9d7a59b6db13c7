"""Reasons for the tests: attempts with a recorded reason written through the campaign's
store functions, stereo recordings as the dialer writes them, and fake engines that run
in the real engine child (picklable factories: the child imports this module)."""

from __future__ import annotations

import os
import threading
import wave
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, insert, select

from ivr.recognition import Opinion
from store.attempts import AttemptEnd, finish_attempt, start_attempts
from store.callbacks import Claimed
from store.campaign_models import Callback
from store.caps import Decision
from store.enums import AttemptOutcome, CallbackStatus
from store.models import Closure, Ticket
from tests.console_support import NOW

RATE = 8000


def stereo_wav(path: Path, left: np.ndarray, right: np.ndarray | None = None) -> Path:
    """A 16-bit 8 kHz stereo WAV: the citizen left, our prompts right (padded with
    silence to the left's length)."""
    right = np.zeros_like(left) if right is None else \
        np.pad(right, (0, max(0, len(left) - len(right))))[:len(left)]
    both = np.stack([left.astype("<i2"), right.astype("<i2")], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(both.tobytes())
    return path


def tone(seconds: float, hz: float = 300.0, level: int = 6000) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * hz * t)).astype("<i2")


def reason_attempt(engine: Engine, ticket_no: str, recording: Path | None,
                   span: tuple[float, float] | None, *, call_id: str = "",
                   at: datetime = NOW) -> int:
    """A completed attempt of a new callback of the ticket's closure, with its reason."""
    with engine.begin() as conn:
        closure_id, ticket_id, phone = conn.execute(
            select(Closure.id, Ticket.id, Ticket.phone)
            .join(Ticket, Ticket.id == Closure.ticket_id)
            .where(Ticket.ticket_no == ticket_no).order_by(Closure.seq.desc()).limit(1)).one()
        existing = conn.execute(select(Callback.id).where(
            Callback.closure_id == closure_id)).scalar()
        if existing is None:
            existing = conn.execute(insert(Callback).values(
                closure_id=closure_id, ticket_id=ticket_id, phone=phone,
                status=CallbackStatus.CLAIMED, due_at=at, deadline_at=at + timedelta(days=7),
                attempts=0, created_at=at, updated_at=at).returning(Callback.id)).scalar_one()
    claimed = Claimed(int(existing), int(closure_id), int(ticket_id), str(phone), 0, at,
                      at + timedelta(days=7))
    (attempt,) = start_attempts(engine, [claimed], call_id or f"call-{ticket_no}", "test", at)
    finish_attempt(engine, attempt, AttemptEnd(
        AttemptOutcome.COMPLETED, 200, "OK", recording=str(recording) if recording else None,
        reason_span=span, answered_after_s=0), at,
        lambda _: Decision(None, False, "completed"))
    return attempt


# -- fake engines, made in the engine's child process --------------------------------------
class _Says:
    def __init__(self, text: str) -> None:
        self.text = text

    def __call__(self, pcm: bytes) -> Opinion:
        return Opinion(f"{self.text}（{len(pcm) // 2} 个样本）", -0.2, 0.01, 1.0,
                       len(pcm) / 2 / RATE, 0.0)


def says(text: str = "没人来处理") -> _Says:
    return _Says(text)


def says_factory() -> _Says:
    return says()


class _Hangs:
    def __call__(self, pcm: bytes) -> Opinion:
        threading.Event().wait()  # forever: a hung engine
        raise AssertionError("unreachable")


def hangs_factory() -> _Hangs:
    return _Hangs()


class _Raises:
    def __call__(self, pcm: bytes) -> Opinion:
        raise RuntimeError("CUDA 不可用：模型损坏")


def raises_factory() -> _Raises:
    return _Raises()


class _Dies:
    def __call__(self, pcm: bytes) -> Opinion:
        os._exit(3)


def dies_factory() -> _Dies:
    return _Dies()


def broken_factory() -> _Says:
    raise OSError("model.bin: 文件已损坏")
