"""Writing small import files for tests."""

from __future__ import annotations

import csv
from pathlib import Path

UNITS = [
    ["单位名称", "上级单位", "考核分组", "单位类型"],
    ["东湖区", "", "区县", "区县"],
    ["东湖区青石街道", "东湖区", "街道乡镇", "街道"],
    ["东湖区青石街道幸福里社区", "东湖区青石街道", "", "社区"],
    ["示例市水务局", "", "市直部门", "部门"],
]
TICKET_HEADER = ["工单编号", "承办单位", "诉求类型", "来源渠道", "诉求分类", "诉求内容",
                 "来电号码", "来电人", "受理时间", "派单时间", "签收时间", "办结时间",
                 "办理时限", "退回时间", "办理结果"]


def ticket(no: str, *, unit: str = "东湖区青石街道", phone: str = "13812345678",
           received: str = "2026-11-02 09:10:00", dispatched: str = "2026-11-02 09:30:00",
           signed: str = "2026-11-02 14:00:00", closed: str = "2026-11-05 16:00:00",
           reopened: str = "", kind: str = "投诉", summary: str = "小区加装电梯") -> list[str]:
    return [no, unit, kind, "电话", "城乡建设/住房保障/加装电梯", summary, phone, "王先生",
            received, dispatched, signed, closed, "2026-11-09 09:10:00", reopened, "已处理"]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path
