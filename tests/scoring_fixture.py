"""A small hotline whose October 2026 figures are worked out by hand (see test_scoring).

Units: group 区县: 甲区 (with child 甲区一街道, no group), 乙区, 庚区; group 部门: 丙局, 丁局.
Calendar facts used (chinese-calendar): 2026-10-01..07 are days off, 10-08 (Thu) and
10-10 (Sat, make-up day) are working days; 10-12 is a Monday.
"""

from __future__ import annotations

from pathlib import Path

from tests.files import write_csv

UNITS = [["单位名称", "上级单位", "考核分组"], ["甲区", "", "区县"], ["甲区一街道", "甲区", ""],
         ["乙区", "", "区县"], ["庚区", "", "区县"], ["丙局", "", "部门"], ["丁局", "", "部门"]]
HEADER = ["工单编号", "承办单位", "诉求类型", "诉求分类", "来电号码", "受理时间", "派单时间",
          "签收时间", "办结时间", "办理时限", "退回时间"]
EVAL_HEADER = ["工单编号", "回访时间", "是否解决", "满意度"]

# The standard ticket: received Mon 10-12 09:00, dispatched 10:00, signed 15:00 (limit:
# end of 10-13), closed 10-14 10:00, deadline given 10-19 09:00, called back 10-15 10:00.
STD = ("2026-10-12 09:00", "2026-10-12 10:00", "2026-10-12 15:00", "2026-10-14 10:00",
       "2026-10-19 09:00")
OTHER, LIFT, NOISE, REFUND = "其他/咨询", "城建/电梯", "环保/噪音", "市场/退费"


def row(no: str, unit: str, times: tuple[str, ...] = STD, category: str = OTHER,
        reopened: str = "") -> list[str]:
    received, dispatched, signed, closed, deadline = times
    return [no, unit, "投诉", category, f"139{int(no[1:]):08d}", received, dispatched, signed,
            closed, deadline, reopened]


TICKETS = [
    HEADER,
    # 甲区 and its child: all signed and closed in time.
    row("A1", "甲区"), row("A2", "甲区"), row("A3", "甲区一街道"), row("A4", "甲区", category=LIFT),
    # Dispatched on the National Day holiday: signing limit is the end of 10-08, not 10-02.
    # No deadline given: 5 working days after 10-01 is 10-13 (10-08, 09, 10, 12, 13);
    # counting Mon-Fri only it would be 10-08, and the 10-12 closure would be late.
    row("A5", "甲区", ("2026-10-01 09:00", "2026-10-01 10:00", "2026-10-08 09:00",
                       "2026-10-12 10:00", "")),
    # Previous period (September) only.
    row("A9", "甲区", ("2026-09-25 09:00", "2026-09-25 10:00", "2026-09-25 15:00",
                       "2026-09-28 10:00", "2026-10-09 09:00")),
    row("B1", "乙区"), row("B2", "乙区"), row("B3", "乙区"), row("B4", "乙区", category=LIFT),
    # Reopened: first closed 10-14, re-closed 10-20 (tickets-2); late against 10-19 09:00.
    row("B5", "乙区", category=NOISE),
    row("G1", "庚区"), row("G2", "庚区", category=LIFT), row("G3", "庚区"),
    # Signed 10-14: after the end of 10-13, late.
    row("G4", "庚区", ("2026-10-12 09:00", "2026-10-12 10:00", "2026-10-14 09:00",
                       "2026-10-15 10:00", "2026-10-19 09:00"), category=NOISE),
    # Never signed, never closed; its limit (end of 10-21) has passed by 11-20.
    row("G5", "庚区", ("2026-10-20 09:00", "2026-10-20 10:00", "", "", "")),
    row("C1", "丙局"), row("C2", "丙局"), row("C3", "丙局"), row("C4", "丙局"),
    row("C5", "丙局"),  # excluded (剔除)
    row("C6", "丙局"),  # closed, never called back
    row("D1", "丁局"), row("D2", "丁局", category=REFUND),
    # Dispatched and signed in October, closed in November.
    row("D3", "丁局", ("2026-10-30 09:00", "2026-10-30 10:00", "2026-10-30 11:00",
                       "2026-11-03 10:00", "2026-11-06 09:00")),
    # Dispatched on 11-20 and not signed: not yet due on 11-20.
    row("D4", "丁局", ("2026-11-20 08:00", "2026-11-20 09:00", "", "", "")),
]
REOPENED = [HEADER, row("B5", "乙区", ("2026-10-12 09:00", "2026-10-12 10:00",
                                      "2026-10-12 15:00", "2026-10-20 10:00",
                                      "2026-10-19 09:00"),
                        category=NOISE, reopened="2026-10-16 09:00")]
STD_CALL = "2026-10-15 10:00"
EVALUATIONS = [
    EVAL_HEADER,
    ["A1", STD_CALL, "已解决", "满意"], ["A2", STD_CALL, "已解决", "满意"],
    ["A3", STD_CALL, "已解决", "基本满意"], ["A4", STD_CALL, "未解决", "不满意"],
    ["A5", "2026-10-13 10:00", "已解决", "满意"], ["A9", "2026-09-29 10:00", "已解决", "满意"],
    ["B1", STD_CALL, "已解决", "满意"], ["B2", STD_CALL, "已解决", "满意"],
    ["B3", STD_CALL, "已解决", "满意"], ["B4", STD_CALL, "已解决", "不满意"],
    ["B5", STD_CALL, "未解决", "不满意"],  # of the first closure: superseded
    ["B5", "2026-10-21 10:00", "未解决", "满意"],  # of the re-closure: this one counts
    ["G1", STD_CALL, "已解决", "满意"], ["G2", STD_CALL, "未解决", "不满意"],
    ["G3", STD_CALL, "已解决", "基本满意"], ["G4", "2026-10-16 10:00", "未解决", "基本满意"],
    ["C1", STD_CALL, "已解决", "满意"], ["C2", STD_CALL, "已解决", "满意"],
    ["C3", STD_CALL, "已解决", "满意"], ["C4", STD_CALL, "已解决", "基本满意"],
    ["C5", STD_CALL, "未解决", "不满意"],
    ["D1", STD_CALL, "已解决", "满意"], ["D2", STD_CALL, "未解决", "不满意"],
]
EXCLUSIONS = [["工单编号", "剔除原因", "审批人"], ["C5", "不合理诉求", "质检科-周平"]]


def write_fixture(directory: Path) -> list[tuple[str, Path]]:
    # Evaluations of the first closure must be imported before the re-closure arrives.
    first_evals = [r for r in EVALUATIONS if r[1] != "2026-10-21 10:00"]
    return [
        ("units", write_csv(directory / "units.csv", UNITS)),
        ("tickets", write_csv(directory / "t1.csv", TICKETS)),
        ("evaluations", write_csv(directory / "e1.csv", first_evals)),
        ("tickets", write_csv(directory / "t2.csv", REOPENED)),
        ("evaluations", write_csv(directory / "e2.csv", [EVAL_HEADER, EVALUATIONS[12]])),
        ("exclusions", write_csv(directory / "x.csv", EXCLUSIONS)),
    ]
