"""A synthetic hotline for demos, tests and benchmarks (`huifang sample`).

Writes, in the shape of real exports (Chinese headers):
  units.csv        the units in three ranking groups (区县, 街道乡镇, 市直部门) plus communities
  tickets-1.csv    the tickets as first closed
  tickets-2.csv    a later export: reopened tickets (退回重办) and their re-closures
  evaluations.csv  callback results of human agents (人工回访)
  exclusions.csv   tickets excluded from the rates (剔除), with reason and approver
Import them in that order. Everything streams, so a million tickets need little memory.

Phone numbers: mainland China reserves no fictional number range (there is no
counterpart of 555-01xx), so mobiles come from the 145 block (data-only SIMs) and fixed
lines from one exchange of area code 0731. They pass validation; the demo only ever
dials a loopback callee, never a real network.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from store.tablefiles import TableWriter
from store.workdays import add_workdays

DISTRICTS = ["东湖区", "西岭区", "南塘区", "北山区", "开元区", "临江县"]
STREET_NAMES = ["青石", "柳岸", "新桥", "枫林", "月湖", "白沙", "金盆", "望江", "桃源", "松雅",
                "梅溪", "观澜"]
COMMUNITY_NAMES = ["幸福里", "和平", "朝阳", "锦绣", "春华", "秀峰"]
BUREAUS = ["住房和城乡建设局", "城市管理综合执法局", "生态环境局", "人力资源和社会保障局",
           "市场监督管理局", "交通运输局", "教育局", "卫生健康委员会", "水务局",
           "自然资源和规划局", "医疗保障局", "公安局交通警察支队"]
GROUPS = {"district": "区县", "street": "街道乡镇", "bureau": "市直部门"}

TOPICS: list[tuple[str, list[str]]] = [
    ("城乡建设/住房保障/加装电梯", ["小区加装电梯", "老旧小区加装电梯进度"]),
    ("城乡建设/物业管理/物业服务", ["物业不作为", "物业乱收费", "小区垃圾无人清理"]),
    ("城市管理/市容环境/占道经营", ["占道经营", "夜市摊贩占用人行道"]),
    ("城市管理/市政设施/路灯", ["路灯不亮", "小区门口路灯损坏"]),
    ("城市管理/市政设施/道路", ["道路破损", "人行道地砖松动"]),
    ("生态环境/噪声污染/施工噪音", ["夜间施工噪音扰民", "工地凌晨施工"]),
    ("生态环境/大气污染/油烟", ["餐馆油烟扰民", "烧烤油烟"]),
    ("劳动保障/工资待遇/拖欠工资", ["拖欠农民工工资", "公司拖欠工资"]),
    ("市场监管/消费维权/预付卡", ["健身房预付卡退费", "培训机构跑路退费"]),
    ("交通运输/公共交通/公交线路", ["公交班次太少", "建议增设公交站点"]),
    ("教育/入学/学位", ["孩子入学学位咨询", "学区划分咨询"]),
    ("水电气/供水/停水", ["小区停水", "自来水水质发黄"]),
    ("水电气/供暖/供暖不热", ["暖气不热", "供暖温度不达标"]),
    ("医疗保障/医保/报销", ["医保异地报销咨询", "门诊报销比例咨询"]),
    ("自然资源/违法建设/违建", ["楼顶违章搭建", "小区违建"]),
]
TYPES = [("投诉", 35), ("求助", 30), ("咨询", 20), ("举报", 8), ("建议", 7)]
CHANNELS = [("电话", 70), ("网站", 10), ("微信", 10), ("APP", 6), ("信件", 4)]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
AGENTS = ["回访员-张敏", "回访员-李静", "回访员-王磊", "回访员-陈晨", "回访员-刘洋"]
EXCLUSION_REASONS = ["诉求人提出不合理诉求，经审核剔除", "重复工单", "非本市管辖范围",
                     "诉求人恶意投诉", "号码错误无法联系诉求人"]

UNIT_HEADERS = ["单位名称", "上级单位", "考核分组", "单位类型"]
TICKET_HEADERS = ["工单编号", "承办单位", "诉求类型", "来源渠道", "诉求分类", "诉求内容",
                  "来电号码", "来电人", "受理时间", "派单时间", "签收时间", "办结时间",
                  "办理时限", "退回时间", "办理结果"]
EVALUATION_HEADERS = ["工单编号", "回访时间", "是否解决", "满意度", "回访方式", "回访人"]
EXCLUSION_HEADERS = ["工单编号", "剔除原因", "审批人", "审批时间"]


@dataclass(frozen=True)
class SampleUnit:
    name: str
    parent: str | None
    group: str | None
    kind: str
    quality: float  # latent: how well the unit resolves and satisfies


@dataclass
class SampleSummary:
    directory: Path
    units: int = 0
    tickets: int = 0
    reopened: int = 0
    evaluations: int = 0
    exclusions: int = 0

    def files(self, fmt: str = "csv") -> list[tuple[str, Path]]:
        d = self.directory
        return [("units", d / f"units.{fmt}"), ("tickets", d / f"tickets-1.{fmt}"),
                ("tickets", d / f"tickets-2.{fmt}"), ("evaluations", d / f"evaluations.{fmt}"),
                ("exclusions", d / f"exclusions.{fmt}")]


def make_units(rng: random.Random) -> list[SampleUnit]:
    units = []
    for district in DISTRICTS:
        units.append(SampleUnit(district, None, GROUPS["district"], "区县",
                                rng.uniform(0.72, 0.97)))
        for street in rng.sample(STREET_NAMES, 3):
            street_name = f"{district}{street}街道"
            units.append(SampleUnit(street_name, district, GROUPS["street"], "街道",
                                    rng.uniform(0.65, 0.98)))
            for community in rng.sample(COMMUNITY_NAMES, 2):
                units.append(SampleUnit(f"{street_name}{community}社区", street_name, None,
                                        "社区", rng.uniform(0.7, 0.97)))
    units.extend(SampleUnit(f"示例市{name}", None, GROUPS["bureau"], "部门",
                            rng.uniform(0.68, 0.97)) for name in BUREAUS)
    return units


def _weighted(options: list[tuple[str, int]]) -> tuple[list[str], list[int]]:
    return [o for o, _ in options], [w for _, w in options]


class _Generator:
    def __init__(self, rng: random.Random, units: list[SampleUnit], tickets: int,
                 end: datetime, months: int) -> None:
        self.rng, self.units, self.n = rng, units, tickets
        self.end, self.start = end, end - timedelta(days=30 * months)
        weights = {"区县": 15, "街道": 50, "社区": 5, "部门": 30}
        self.unit_weights = [weights[u.kind] for u in units]
        self.types = _weighted(TYPES)
        self.channels = _weighted(CHANNELS)
        self.callers = max(1, int(tickets * 0.75))  # about a quarter of tickets are repeats

    def phone(self) -> str:
        # A skewed draw from the caller pool gives repeat callers.
        caller = int(self.callers * self.rng.random() ** 1.6)
        if caller % 10 == 0:
            return f"0731-8{caller % 10_000_000:07d}"
        return f"145{caller % 100_000_000:08d}"

    def moment(self, base: datetime, low_minutes: float, high_minutes: float) -> datetime:
        value = base + timedelta(minutes=self.rng.uniform(low_minutes, high_minutes))
        return value.replace(microsecond=0)

    def office(self, base: datetime, low_minutes: float, high_minutes: float) -> datetime:
        """A moment after `base`, moved into office hours (08:30-18:00) if it falls outside."""
        value = self.moment(base, low_minutes, high_minutes)
        if value.hour < 8 or (value.hour == 8 and value.minute < 30):
            value = value.replace(hour=8, minute=30 + value.minute % 30)
        elif value.hour >= 18:
            value = (value + timedelta(days=1)).replace(hour=8 + value.minute % 9)
        return value

    def calling_window(self, base: datetime, days: int) -> datetime:
        """A callback time 1..days days after `base`, inside 09:00-12:00 or 14:00-20:30."""
        day = base.date() + timedelta(days=self.rng.randint(1, days))
        minute = self.rng.randint(0, 180 + 390 - 1)
        start = 9 * 60 if minute < 180 else 14 * 60 - 180
        total = start + minute
        return datetime(day.year, day.month, day.day, total // 60, total % 60,
                        self.rng.randint(0, 59))

    def tickets(self) -> Iterator[tuple[list[object], list[object] | None, list[list[object]],
                                        list[object] | None]]:
        rng, span = self.rng, (self.end - self.start).total_seconds()
        for seq in range(1, self.n + 1):
            unit = rng.choices(self.units, self.unit_weights)[0]
            received = self.start + timedelta(seconds=span * seq / (self.n + 1))
            received = received.replace(hour=rng.randint(8, 21), minute=rng.randint(0, 59),
                                        second=rng.randint(0, 59), microsecond=0)
            category, summaries = rng.choice(TOPICS)
            dispatched = self.moment(received, 5, 90)
            signed = None if rng.random() < 0.02 else self.office(dispatched, 10, 40 * 60)
            if dispatched > self.end:
                dispatched = None  # type: ignore[assignment]
            if signed is not None and signed > self.end:
                signed = None
            closed = None
            if signed is not None and rng.random() < 0.93:
                closed = self.office(signed, 60, 60 * 24 * rng.choice([1, 2, 3, 5, 8]))
                if closed > self.end:
                    closed = None
            name = rng.choice(SURNAMES) + rng.choice(["先生", "女士"])
            row: list[object] = [
                f"GD{received:%Y%m%d}{seq:07d}", unit.name,
                rng.choices(*self.types)[0], rng.choices(*self.channels)[0], category,
                f"{rng.choice(summaries)}，请尽快处理。", self.phone(), name, received,
                dispatched, signed, closed, add_workdays(received, 5), None,
                "已联系诉求人并处理完毕。" if closed else None]
            evaluations: list[list[object]] = []
            update: list[object] | None = None
            if closed is not None:
                first = self.evaluation(row, unit, closed)
                if first is not None:
                    evaluations.append(first)
                    negative = first[2] == "未解决" or first[3] == "不满意"
                    if negative and rng.random() < 0.45:
                        update, second = self.reopen(row, unit, first[1])  # type: ignore[arg-type]
                        if second is not None:
                            evaluations.append(second)
            exclusion = None
            if rng.random() < 0.01:
                approved = min(self.office(received, 60 * 24, 60 * 24 * 5), self.end)
                exclusion = [row[0], rng.choice(EXCLUSION_REASONS), "质检科-周平", approved]
            yield row, update, evaluations, exclusion

    def evaluation(self, row: list[object], unit: SampleUnit, closed: datetime
                   ) -> list[object] | None:
        rng = self.rng
        evaluated = self.calling_window(closed, 3)
        if evaluated > self.end or rng.random() < 0.12:
            return None  # not yet called back, or never reached
        resolved = rng.random() < unit.quality
        draw = rng.random()
        if resolved:
            satisfaction = "满意" if draw < 0.86 else "基本满意" if draw < 0.97 else "不满意"
        else:
            satisfaction = "不满意" if draw < 0.6 else "基本满意" if draw < 0.85 else "满意"
        if rng.random() < 0.01:
            satisfaction = "未知"
        return [row[0], evaluated, "已解决" if resolved else "未解决", satisfaction, "人工回访",
                rng.choice(AGENTS)]

    def reopen(self, row: list[object], unit: SampleUnit, evaluated: datetime
               ) -> tuple[list[object] | None, list[object] | None]:
        reopened = self.office(evaluated, 30, 60 * 24)
        if reopened > self.end:
            return None, None
        update = list(row)
        update[13] = reopened
        update[11] = None
        closed = self.office(reopened, 60 * 6, 60 * 24 * 6)
        second = None
        if closed <= self.end and self.rng.random() < 0.85:
            update[11] = closed
            update[14] = "重新办理，已答复诉求人。"
            second = self.evaluation(update, unit, closed)
        return update, second


def generate(directory: Path, *, tickets: int = 2000, seed: int = 12345,
             end: datetime | None = None, months: int = 3, fmt: str = "csv",
             encoding: str = "utf-8-sig") -> SampleSummary:
    """Write a synthetic hotline into `directory`; the same seed and end give the same files."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    end = (end or datetime.now()).replace(microsecond=0)
    units = make_units(rng)
    summary = SampleSummary(directory, units=len(units))
    paths = [p for _, p in summary.files(fmt)]
    with TableWriter(paths[0], UNIT_HEADERS, encoding=encoding) as out:
        for unit in units:
            out.write([unit.name, unit.parent, unit.group, unit.kind])
    generator = _Generator(rng, units, tickets, end, months)
    with TableWriter(paths[1], TICKET_HEADERS, encoding=encoding) as first, \
            TableWriter(paths[2], TICKET_HEADERS, encoding=encoding) as second, \
            TableWriter(paths[3], EVALUATION_HEADERS, encoding=encoding) as evaluations, \
            TableWriter(paths[4], EXCLUSION_HEADERS, encoding=encoding) as exclusions:
        for row, update, evals, exclusion in generator.tickets():
            first.write(row)
            summary.tickets += 1
            if update is not None:
                second.write(update)
                summary.reopened += 1
            for evaluation in evals:
                evaluations.write(evaluation)
                summary.evaluations += 1
            if exclusion is not None:
                exclusions.write(exclusion)
                summary.exclusions += 1
    return summary
