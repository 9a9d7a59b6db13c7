"""A call's RTCP figures (packets lost, jitter, round trip) are stored with its attempt
and read back for the console's call page, on SQLite and PostgreSQL; an attempt without
them (RTCP off, a call never answered, rows from before migration 0006) reads as none."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from store.attempts import AttemptEnd, CallQuality, finish_attempt, start_attempts
from store.callbacks import claim, plan_callbacks
from store.campaign_models import CallAttempt
from store.enums import AttemptOutcome
from store.review import call_detail
from tests.files import ticket
from tests.test_campaign_store import CAPS, CLOSED, LEASE, NOW, decided, due_next_morning, load


def test_call_quality_round_trip(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, [ticket("A", phone="13800000001", closed=CLOSED),
                            ticket("B", phone="13800000002", closed=CLOSED)])
    plan_callbacks(engine, NOW, due_next_morning, within_days=7)
    groups = claim(engine, "n1", NOW, limit=5, lease=LEASE, caps=CAPS)
    measured, unmeasured = (start_attempts(engine, g, f"call-{i}", "n1", NOW)[0]
                            for i, g in enumerate(groups))
    quality = CallQuality(packets_lost=17, jitter_ms=3.25, rtt_ms=41.5)
    finish_attempt(engine, measured, AttemptEnd(AttemptOutcome.COMPLETED, 200, "OK",
                                                answered_after_s=2.0, quality=quality),
                   NOW, decided(why="answered"))
    finish_attempt(engine, unmeasured, AttemptEnd(AttemptOutcome.BUSY, 486, "Busy Here"),
                   NOW, decided(at=NOW, why="busy"))
    with engine.connect() as conn:
        rows = {r[0]: tuple(r[1:]) for r in conn.execute(select(
            CallAttempt.id, CallAttempt.packets_lost, CallAttempt.jitter_ms,
            CallAttempt.rtt_ms))}
    assert rows == {measured: (17, 3.25, 41.5), unmeasured: (None, None, None)}
    shown: dict[int, CallQuality | None] = {}
    for group in groups:
        detail = call_detail(engine, group[0].callback_id)
        assert detail is not None
        shown.update({a.id: a.quality for a in detail.attempts})
    assert shown == {measured: quality, unmeasured: None}
