"""再次处理 (issue 17), on SQLite and PostgreSQL: the rule that a settled item takes no
action without saying so is checked in the same transaction as the change, so that two
supervisors acting on one item at once cannot both pass it and the later silently
overwrite the earlier; a 再次处理 over a settlement made after the page was read is
refused as well."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from store import corrections, review
from store.campaign_models import Callback
from store.console_models import AuditEntry
from store.enums import Resolved, Satisfaction
from store.models import Evaluation
from tests.console_support import NOW, Seeded, seed

A = corrections.Who("zhijian", "录音复听：已解决", NOW + timedelta(hours=1), "127.0.0.1")
B = corrections.Who("admin", "同事复听：未解决", NOW + timedelta(hours=1, minutes=1),
                    "127.0.0.2")


@pytest.fixture
def seeded(engine: Engine, tmp_path: Path) -> Seeded:
    return seed(engine, tmp_path, tmp_path / "rec")


def _audit(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            select(AuditEntry.action, AuditEntry.actor, AuditEntry.reason)
            .order_by(AuditEntry.id))]


def _answer(engine: Engine, callback_id: int) -> tuple[str, str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(select(Evaluation.resolved, Evaluation.satisfaction,
                                  Evaluation.evaluated_by)
                           .join(Callback, Callback.closure_id == Evaluation.closure_id)
                           .where(Callback.id == callback_id)).one()
    return str(row[0]), str(row[1]), row[2]


def test_a_check_made_before_the_write_is_stale_and_the_write_refuses(
        engine: Engine, seeded: Seeded) -> None:
    item = seeded.negative
    guard = corrections.Unsettled(item)
    # what the console read when supervisor A pressed the button: nobody had settled it
    assert review.reviewed(engine, item) is None
    # meanwhile B settles it
    corrections.correct_answer(engine, item, Resolved.NO, Satisfaction.UNSATISFIED, B,
                               guard=guard)
    before = _audit(engine)
    # A's write, on the stale check: every settling action is refused, nothing changes
    changes = {
        "correct": lambda: corrections.correct_answer(engine, item, Resolved.YES,
                                                      Satisfaction.SATISFIED, A, guard=guard),
        "confirm": lambda: corrections.confirm_answer(engine, item, A, guard=guard),
        "schedule": lambda: corrections.schedule_call(engine, item, A.now + timedelta(days=1),
                                                      A, guard=guard),
        "exclude": lambda: corrections.exclude_ticket(engine, "Q010", A, guard=guard),
        "reopen": lambda: corrections.reopen_ticket(engine, "Q010", A, guard=guard),
        "dnc": lambda: corrections.do_not_call(engine, "Q010", A, "145****0010", guard=guard),
    }
    for name, change in changes.items():
        with pytest.raises(corrections.AlreadySettled) as refused:
            change()
        assert (refused.value.by, refused.value.at) == ("admin", B.now), name
    assert _audit(engine) == before
    assert _answer(engine, item) == ("no", "unsatisfied", "admin")
    assert review.reviewed(engine, item) == ("admin", B.now)


def test_again_overwrites_only_the_settlement_the_page_showed(engine: Engine,
                                                              seeded: Seeded) -> None:
    item = seeded.negative
    corrections.confirm_answer(engine, item, B, guard=corrections.Unsettled(item))
    seen = ("admin", B.now)  # what A's page showed
    later = corrections.Who("admin", "再听一遍：未解决", B.now + timedelta(minutes=5))
    corrections.correct_answer(engine, item, Resolved.NO, Satisfaction.UNSATISFIED, later,
                               guard=corrections.Unsettled(item, again=True, seen=seen))
    # A's 再次处理 was made over the page's settlement, which is no longer the last
    with pytest.raises(corrections.AlreadySettled) as refused:
        corrections.correct_answer(engine, item, Resolved.YES, Satisfaction.SATISFIED, A,
                                   guard=corrections.Unsettled(item, again=True, seen=seen))
    assert (refused.value.by, refused.value.at) == ("admin", later.now)
    # the console's clock has whole seconds: the same second by another person differs
    with pytest.raises(corrections.AlreadySettled):
        corrections.correct_answer(engine, item, Resolved.YES, Satisfaction.SATISFIED, A,
                                   guard=corrections.Unsettled(item, again=True,
                                                               seen=("zhijian", later.now)))
    assert _answer(engine, item) == ("no", "unsatisfied", "admin")
    # on the page as it is now, the 再次处理 goes through and the trail says over whom
    now = corrections.Who("zhijian", "录音复听：已解决", later.now + timedelta(minutes=1))
    corrections.correct_answer(engine, item, Resolved.YES, Satisfaction.SATISFIED, now,
                               guard=corrections.Unsettled(item, again=True,
                                                           seen=("admin", later.now)))
    assert _answer(engine, item) == ("yes", "satisfied", "zhijian")
    action, actor, reason = _audit(engine)[-1]
    assert (action, actor) == ("correct_answer", "zhijian")
    assert reason == (f"再次处理（此前由 admin 于 {later.now:%Y-%m-%d %H:%M} 处理）："
                      "录音复听：已解决")
    assert review.reviewed(engine, item) == ("zhijian", now.now)


def test_a_refused_do_not_call_leaves_the_list_as_it_was(engine: Engine,
                                                         seeded: Seeded) -> None:
    item = seeded.negative
    corrections.confirm_answer(engine, item, B, guard=corrections.Unsettled(item))
    with pytest.raises(corrections.AlreadySettled):
        corrections.do_not_call(engine, "Q010", A, "145****0010",
                                guard=corrections.Unsettled(item))
    # the entry made before the refusal went with its transaction: it can be added now
    assert corrections.do_not_call(engine, "Q010", B, "145****0010") is True


def test_supervisors_at_once_on_one_item_exactly_one_settles_it(engine: Engine,
                                                               seeded: Seeded) -> None:
    item, n = seeded.negative, 6
    start = threading.Barrier(n)
    outcomes: dict[int, str] = {}

    def supervisor(k: int) -> None:
        who = corrections.Who(f"zj{k}", f"第 {k} 位复听", NOW + timedelta(hours=1, seconds=k))
        answer = (Resolved.YES, Satisfaction.SATISFIED) if k % 2 else (
            Resolved.NO, Satisfaction.UNSATISFIED)
        start.wait()
        try:
            corrections.correct_answer(engine, item, *answer, who,
                                       guard=corrections.Unsettled(item))
            outcomes[k] = "done"
        except corrections.AlreadySettled as exc:
            outcomes[k] = f"refused:{exc.by}"

    threads = [threading.Thread(target=supervisor, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(outcomes) == n, outcomes  # none died of a lock or a deadlock
    done = [k for k, o in outcomes.items() if o == "done"]
    assert len(done) == 1, outcomes
    winner = f"zj{done[0]}"
    assert all(o == f"refused:{winner}" for k, o in outcomes.items() if k != done[0])
    with engine.connect() as conn:
        corrected = conn.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "correct_answer")).scalar_one()
    assert corrected == 1
    assert _answer(engine, item)[2] == winner
    settled = review.reviewed(engine, item)
    assert settled is not None and settled[0] == winner
