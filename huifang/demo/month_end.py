"""The demo's last step: the month's bulletin as leadership gets it, with the machine's
measured accuracy and the citizens' reasons in words.

Each part is the product's own path, run at once instead of on its schedule: the waiting
reasons are transcribed (`huifang reasons transcribe`), today's spot checks are drawn
(the daily draw of `huifang run`), and the 月报 of this month so far is made and listed
as the bulletin job makes it. Only the supervisor is simulated: the demo's 质检员 gives, for
each drawn call, the answers its simulated citizen was scripted to say, which is what a
person listening to the recording would hear. So the accuracy printed is the machine's
real agreement with what the citizens said."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.console import Console
from sqlalchemy import Engine, select

from huifang.bulletins import BulletinMaker
from huifang.config import Settings
from huifang.demo.citizens import PERSONAS, DemoCitizens
from huifang.reasons import run_batch, transcriber_from
from ivr.recognition import RecognitionError
from scoring.accuracy import sentence
from scoring.bulletins import Due
from scoring.export_json import reasons_table
from scoring.periods import parse_period
from scoring.reasons import UNHEARD, UNTRANSCRIBED
from scoring.report import Report
from store import reasons as reason_store
from store.bulletins import BulletinKind
from store.campaign_models import Callback
from store.corrections import Who
from store.review_labels import reviewed_turns
from store.spot_check_results import check
from store.spot_checks import SpotCheck, draw_day

log = logging.getLogger(__name__)

DEMO_CHECKER = "demo-checker"  # the simulated 质检员, in the audit log as such
TRUTH = {p.name: p.truth for p in PERSONAS}


def transcribe_reasons(engine: Engine, settings: Settings, now: Callable[[], datetime],
                       out: Console) -> int:
    """The reasons still waiting, transcribed now; how many were."""
    waiting = reason_store.backlog(engine, settings.reasons.max_tries)
    if not waiting or not settings.reasons.transcribe:
        return 0
    try:
        transcriber = transcriber_from(settings)
    except RecognitionError as exc:
        out.print(f"   转写引擎不可用 no transcription engine ({exc}): reasons stay audio",
                  highlight=False)
        return 0
    done = 0
    try:
        while batch := run_batch(engine, transcriber, settings, now, 5):
            done += len(batch)
    finally:
        transcriber.close()
    return done


def check_by_script(engine: Engine, settings: Settings, citizens: DemoCitizens,
                    now: datetime) -> tuple[int, int, int]:
    """Draw today's spot checks and check each blind with the citizen's scripted answers;
    (drawn today, checked, left for a person: calls whose citizen was scripted to give
    no answer, so a script cannot say what a listener would hear, and the machine's
    answer there is not counted either way)."""
    drawn = draw_day(engine, now.date(), settings.spot_checks.rules(), now)
    with engine.connect() as conn:
        todo = conn.execute(select(SpotCheck.id, Callback.phone)
                            .join(Callback, Callback.id == SpotCheck.callback_id)
                            .where(SpotCheck.checked_at.is_(None))).all()
    checked = left = 0
    for spot_id, phone in todo:
        truth = TRUTH.get(citizens.persona.get(str(phone).removeprefix("+86"), ""))
        if truth is None:
            left += 1
            continue
        check(engine, int(spot_id), *truth,
              Who(DEMO_CHECKER, "演示：按模拟市民的台词作答", now, None))
        checked += 1
    return drawn.drawn_now + drawn.drawn_before, checked, left


def monthly_bulletin(engine: Engine, settings: Settings, now: datetime
                     ) -> tuple[Report, list[str]]:
    """This month so far, made as the bulletin job makes the 月报 (listed in the console's
    报告 page); the report and the files written."""
    maker = BulletinMaker(engine, settings, lambda: now, node="demo")
    label = f"{now:%Y-%m}"
    held = maker.claim(Due(BulletinKind.MONTHLY, label, now))
    made = maker.make(held, now) if held is not None else None
    files = [f.name for f in made.files] if made is not None else []
    return maker.reports(BulletinKind.MONTHLY, parse_period(label)), files


def top_reasons(report: Report, limit: int = 5) -> list[tuple[str, int, str]]:
    """The month's reason categories over the whole hotline (units without a parent, so
    that no reason counts twice): category, count and one example."""
    tops = {u.info.name for u in report.units if u.parent is None}
    counts: Counter[str] = Counter()
    example: dict[str, str] = {}
    for row in reasons_table(report):
        if row["unit"] in tops and row["category"] not in (UNHEARD, UNTRANSCRIBED):
            counts[str(row["category"])] += int(row["count"])  # type: ignore[call-overload]
            said: Any = row["examples"]
            if said and str(row["category"]) not in example:
                example[str(row["category"])] = str(said[0])
    return [(c, n, example.get(c, "")) for c, n in counts.most_common(limit)]


def close_the_month(engine: Engine, settings: Settings, citizens: DemoCitizens,
                    now: Callable[[], datetime], out: Console) -> Report:
    out.print("8. 月报 the month's bulletin, as leadership gets it", highlight=False)
    transcribed = transcribe_reasons(engine, settings, now, out)
    out.print(f"   原因转写 reasons transcribed now: {transcribed}", highlight=False)
    drawn, checked, left = check_by_script(engine, settings, citizens, now())
    out.print(f"   抽检 spot checks drawn today: {drawn}; checked blind by the demo's 质检员 "
              f"(the answers each simulated citizen was scripted to give): {checked}"
              + (f"; {left} left on /spot-checks for a person (their citizen was scripted "
                 "to give no answer)" if left else ""), highlight=False)
    report, files = monthly_bulletin(engine, settings, now())
    out.print(f"   月报 {report.period.label}（本月至今 month to date）: "
              f"{', '.join(files) or '已存在 already made'} in {settings.bulletins.dir}",
              highlight=False)
    accuracy = sentence(report.machine_accuracy) if report.machine_accuracy else "本期未抽检。"
    out.print(f"   {accuracy}", highlight=False)
    out.print("   不满意原因 top reasons:", highlight=False)
    for category, count, example in top_reasons(report) or [("（本月没有）", 0, "")]:
        said = f"  例：「{example}」" if example else ""
        out.print(f"     {category} {count} 条{said}", highlight=False)
    labelled = reviewed_turns(engine)
    out.print(f"   复核样本 reviewed answers labelled for the recogniser: "
              f"{len(labelled.turns)}（measure them: huifang asr-eval --from-reviews; "
              "calibrate on them: huifang asr-tune --from-reviews）", highlight=False)
    return report
