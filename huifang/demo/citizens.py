"""The demo's campaign: fresh closures for the citizen simulator's numbers, the real
service (scheduler, dialer, recognition, store) calling them on loopback, live progress,
and what came of it.

The citizens answer like people do: spoken answers in several TTS voices, keys,
silence, a reason, busy, no answer, a carrier announcement, a wrong person, a hang-up
half-way. Each number has one such persona, so the outcomes can be checked by eye.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine, func, select

from huifang.demo.simulator import Behaviour, Citizen, CitizenSimulator, Turn
from huifang.evaluation.callers import espeak_variants, split_of, voices_for
from prompts.audio import to_telephone
from prompts.cache import PromptCache, cache_key
from prompts.tts import EspeakWorker, TtsError, Voice
from store.campaign_models import CallAttempt, Callback
from store.enums import AttemptStatus, CallbackStatus, Resolved, Satisfaction

# The citizens speak in the held-out espeak-ng variants of the development corpus
# (huifang.evaluation.callers), never in a voice anything was tuned on: not the prompts'
# +f3, nor the catalogue corpus's +f3/+f4/+m3, nor +f2 which the demo used to pick because
# the shared model heard it right. So the demo shows the share a real campaign would settle.
TUNED = ("f2", "f3", "f4", "m3")
FALLBACK = (Voice("sit/cmn-latn-pinyin+f3", 170, 50),)  # espeak-ng lists no variants
ANNOUNCEMENT = Voice("sit/cmn-latn-pinyin+f3", 160, 55)
SUMMARIES = [("小区路灯不亮", "城乡建设/市政设施/路灯"), ("楼上漏水", "城乡建设/物业管理/房屋维修"),
             ("噪音扰民", "生态环境/噪声污染/施工噪声"), ("公交站台破损", "交通运输/公共交通/站台"),
             ("孩子入学学位", "教育/入学/学位"), ("垃圾清运不及时", "城市管理/环境卫生/垃圾清运")]


class Speech:
    """Citizens' words, rendered once per voice through the prompt cache."""

    def __init__(self, worker: EspeakWorker, cache: PromptCache) -> None:
        self.worker, self.cache = worker, cache

    def __call__(self, text: str, voice: Voice) -> bytes:
        key = cache_key("citizen", voice.name, voice.rate, voice.pitch, text)
        cached = self.cache.get(key)
        if cached is None:
            samples, rate = self.worker.render(text, voice)
            cached = self.cache.put(key, to_telephone(samples, rate))
        pcm = np.asarray(self.cache.load(cached)).astype("<i2")
        pad = np.zeros(1600, "<i2")  # 0.2 s either side, as a person breathes
        return bytes(np.concatenate([pad, pcm, pad]).tobytes())


@dataclass(frozen=True)
class Persona:
    name: str  # Chinese, for the demo's table
    weight: int
    make: Callable[[Speech, Voice], Citizen]
    # what the script has the citizen answer (is it resolved, are they satisfied): what
    # a supervisor listening to the call would hear; None where no answer is given
    truth: tuple[Resolved, Satisfaction] | None = None


def _say(speech: Speech, voice: Voice, text: str) -> Turn:
    return Turn("say", speech(text, voice), label=text)


PERSONAS = (
    Persona("满意(说)", 12, lambda s, v: Citizen(turns=(_say(s, v, "已经解决了"),
                                                      _say(s, v, "基本满意"))),
            (Resolved.YES, Satisfaction.BASIC)),
    Persona("按键", 7, lambda s, v: Citizen(turns=(Turn("key", digit="1"),
                                                 Turn("key", digit="1"))),
            (Resolved.YES, Satisfaction.SATISFIED)),
    Persona("抢答", 3, lambda s, v: Citizen(
        turns=(_say(s, v, "已经解决了"), _say(s, v, "基本满意")), barge_in_after_s=1.5),
        (Resolved.YES, Satisfaction.BASIC)),
    Persona("不满意+原因", 6, lambda s, v: Citizen(turns=(
        _say(s, v, "还没有解决"), _say(s, v, "非常不满意"), _say(s, v, "物业一直没有来维修"))),
        (Resolved.NO, Satisfaction.UNSATISFIED)),
    Persona("沉默后按键", 3, lambda s, v: Citizen(turns=(
        Turn("silence"), Turn("key", digit="1"), Turn("key", digit="3"),
        Turn("silence"))), (Resolved.YES, Satisfaction.UNSATISFIED)),
    Persona("占线", 4, lambda s, v: Citizen(Behaviour.BUSY)),
    Persona("无人接听", 3, lambda s, v: Citizen(Behaviour.NO_ANSWER)),
    Persona("关机提示音", 3, lambda s, v: Citizen(
        Behaviour.ANNOUNCEMENT, announcement=s("您拨打的电话已关机", ANNOUNCEMENT))),
    Persona("打错了", 2, lambda s, v: Citizen(turns=(_say(s, v, "不是我"),))),
    Persona("中途挂机", 3, lambda s, v: Citizen(turns=(Turn("key", digit="1"),
                                                    Turn("hangup")))),
    Persona("一直沉默", 2, lambda s, v: Citizen(turns=(Turn("silence"),) * 6)),
)


@dataclass(frozen=True)
class DemoCitizens:
    by_number: dict[str, Citizen]  # dialled number -> behaviour
    persona: dict[str, str]  # dialled number -> persona name
    tickets_csv: Path
    tickets: int


def citizen_voices() -> list[Voice]:
    """The held-out variants, each at the rate and pitch the corpus gives it."""
    try:
        variants = espeak_variants()
    except TtsError:
        return list(FALLBACK)
    held_out = [v for v in variants if split_of(v) == "heldout" and v not in TUNED]
    return [voices_for("demo", "heldout", [v], 1)[0] for v in held_out] or list(FALLBACK)


def make_citizens(folder: Path, speech: Speech, units: list[str], callbacks: int,
                  now: datetime, seed: int, voices: list[Voice] | None = None
                  ) -> DemoCitizens:
    """Personas for about `callbacks` closures (some citizens with two tickets, called
    once for both), and the tickets as an export, closed yesterday."""
    voices = voices if voices is not None else citizen_voices()
    rng = random.Random(seed)
    weights = [p.weight for p in PERSONAS]
    by_number: dict[str, Citizen] = {}
    persona: dict[str, str] = {}
    rows: list[list[str]] = []
    yesterday = (now - timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    n = 0
    while len(rows) < callbacks:
        n += 1
        number = f"1450009{n:04d}"
        chosen = rng.choices(PERSONAS, weights)[0]
        citizen = chosen.make(speech, rng.choice(voices))
        tickets = 2 if rng.random() < 0.1 else 1
        if tickets == 2 and citizen.turns and citizen.turns[-1].kind != "hangup":
            citizen = replace(citizen, turns=citizen.turns * 2)  # the same for both tickets
        by_number[number] = citizen
        persona[number] = chosen.name
        for _ in range(tickets):
            summary, category = rng.choice(SUMMARIES)
            received = yesterday - timedelta(days=rng.randint(2, 6), minutes=rng.randint(0, 600))
            closed = yesterday + timedelta(minutes=rng.randint(0, 480))
            rows.append([f"HF{now:%Y%m%d}{len(rows) + 1:04d}", rng.choice(units), "投诉", "电话",
                         category, summary, number, "市民", f"{received:%Y-%m-%d %H:%M:%S}",
                         f"{received + timedelta(minutes=20):%Y-%m-%d %H:%M:%S}",
                         f"{received + timedelta(hours=3):%Y-%m-%d %H:%M:%S}",
                         f"{closed:%Y-%m-%d %H:%M:%S}",
                         f"{received + timedelta(days=7):%Y-%m-%d %H:%M:%S}", "", "已办结"])
    path = folder / "callbacks-tickets.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["工单编号", "承办单位", "诉求类型", "来源渠道", "诉求分类", "诉求内容",
                         "来电号码", "来电人", "受理时间", "派单时间", "签收时间", "办结时间",
                         "办理时限", "退回时间", "办理结果"])
        writer.writerows(rows)
    return DemoCitizens(by_number, persona, path, len(rows))


def progress_of(engine: Engine) -> tuple[int, int, Counter[str]]:
    """(callbacks, callbacks with a finished first attempt, finished attempts by outcome)."""
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(Callback)).scalar_one())
        touched = int(conn.execute(select(func.count()).where(
            Callback.status != CallbackStatus.CLAIMED,
            Callback.attempts > 0)).scalar_one())
        outcomes = Counter({str(o): int(n) for o, n in conn.execute(
            select(CallAttempt.outcome, func.count()).where(
                CallAttempt.status == AttemptStatus.FINISHED).group_by(CallAttempt.outcome)
        ).all()})
    return total, touched, outcomes


def settled(engine: Engine, now: datetime) -> bool:
    """Nothing is due now and nothing is being called."""
    with engine.connect() as conn:
        busy = conn.execute(select(func.count()).where(
            (Callback.status == CallbackStatus.CLAIMED)
            | ((Callback.status == CallbackStatus.PENDING) & (Callback.due_at <= now)))
        ).scalar_one()
    return int(busy) == 0


def settled_by_the_machine(engine: Engine) -> tuple[int, int]:
    """(answered calls settled with both answers, answered calls): a carrier announcement
    is not an answered call."""
    with engine.connect() as conn:
        rows = conn.execute(select(CallAttempt.outcome).where(
            CallAttempt.status == AttemptStatus.FINISHED, CallAttempt.answered_at.is_not(None),
            CallAttempt.outcome.not_in(("announcement", "invalid_number")))).scalars().all()
    return sum(1 for o in rows if str(o) == "completed"), len(rows)


def live_progress(console: Console) -> Progress:
    return Progress(TextColumn("回访中 calling"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.description}"), TimeElapsedColumn(), console=console)


def outcome_table(engine: Engine, citizens: DemoCitizens) -> Table:
    """Per persona: what the campaign recorded for its numbers."""
    with engine.connect() as conn:
        rows = conn.execute(select(CallAttempt.phone, CallAttempt.outcome).where(
            CallAttempt.status == AttemptStatus.FINISHED).order_by(CallAttempt.id)).all()
    seen: dict[str, Counter[str]] = {}
    for phone, outcome in rows:
        name = citizens.persona.get(phone.removeprefix("+86"), "?")
        seen.setdefault(name, Counter())[str(outcome)] += 1
    table = Table(title="回访结果 outcomes by citizen persona")
    table.add_column("市民类型 persona")
    table.add_column("结果 outcome (tickets)")
    for persona in PERSONAS:
        if persona.name in seen:
            table.add_row(persona.name, ", ".join(f"{k} ×{v}" for k, v in
                                                  seen[persona.name].most_common()))
    return table


def simulator(reactor: Any, citizens: DemoCitizens) -> tuple[CitizenSimulator, Any]:
    uas = CitizenSimulator(reactor, citizens.by_number)
    return uas, reactor.listenUDP(0, uas, interface="127.0.0.1")
