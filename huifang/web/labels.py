"""The Chinese words the console shows for the codes and the English texts the store
keeps: one table for every page, export and message. The store writes codes (`yes`,
`no_answer`, `correct_answer`) and short English notes of the machine (`completed: not
called again`, `no input`); nothing English reaches a page or an export of the console
but through here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from store.bulletins import KIND_LABELS, MAIL_LABELS, STATE_LABELS
from store.enums import (
    ATTEMPT_OUTCOME_LABELS,
    CALLBACK_STATUS_LABELS,
    RESOLVED_LABELS,
    SATISFACTION_LABELS,
)

OUTCOMES = {
    **{str(k): v for k, v in ATTEMPT_OUTCOME_LABELS.items()},
    # not attempt outcomes, but shown beside them: a SIP call's end, a call still running
    "answered": "已接通", "in_progress": "通话中", "finished": "已结束",
}
INTENTS = {
    "resolved": "已解决", "unresolved": "未解决", "satisfied": "满意",
    "basic_satisfied": "基本满意", "unsatisfied": "不满意", "wrong_person": "非本人",
    "call_later": "稍后再打", "repeat": "要求重复", "not_sure": "说不好", "unclear": "不清楚",
}
SOURCES = {"speech": "语音", "keys": "按键", "speech, same breath": "语音（一并回答）",
           "speech, confirmed": "语音（复述确认）",
           "none": "无", "auto": "智能回访", "agent": "人工回访", "supervisor": "质检修正",
           # what was heard during a question, taken as the answer or not
           "heard:speech": "语音（听到）", "heard:key": "按键（按下）"}
TICKET_STATUSES = {"received": "已受理", "dispatched": "已派单", "signed": "已签收",
                   "closed": "已办结", "reopened": "退回重办"}
# a ticket's history: what happened (store.enums.EventKind)
EVENTS = {"imported": "导入", "received": "受理", "dispatched": "派单", "signed": "签收",
          "closed": "办结", "reopened": "退回重办", "reassigned": "改派", "updated": "信息更新",
          "evaluated": "回访评价", "excluded": "剔除"}
ACTIONS = {
    "correct_answer": "修正答复", "confirm_answer": "确认答复", "schedule_call": "安排呼叫",
    "exclude": "剔除工单", "reopen": "退回重办", "do_not_call": "加入免打扰",
    "do_not_call_remove": "移出免打扰", "reveal_phone": "查看号码",
    "campaign_pause": "暂停回访", "campaign_resume": "恢复回访", "user_add": "新建账号",
    "user_passwd": "修改密码", "user_disable": "停用账号", "user_enable": "启用账号",
    "user_role": "修改角色",
    "search_phone": "按号码查询",
    "token_add": "新建接口令牌", "token_revoke": "吊销接口令牌",
    "spot_check": "抽检",
}
QUESTIONS = {"resolved": "问题一：是否解决", "satisfied": "问题二：是否满意", "reason": "原因"}
# the fields of an audit entry's before and after
FIELDS = {"resolved": "解决情况", "satisfaction": "满意度", "source": "来源",
          "evaluated_by": "评价人", "status": "状态", "due_at": "呼叫时间",
          "deadline_at": "截止时间", "excluded": "剔除", "do_not_call": "免打扰",
          "paused": "暂停回访", "hits": "查到工单", "role": "角色", "disabled": "停用",
          "display_name": "姓名", "revoked": "已吊销",
          # a spot check's (抽检) entry, and a correction that came from one
          "machine_resolved": "智能回访：解决情况", "machine_satisfaction": "智能回访：满意度",
          "agreed_resolved": "解决情况一致", "agreed_satisfaction": "满意度一致",
          "from": "来自", "spot_check": "抽检编号", "checked_by": "抽检人",
          "checked_at": "抽检时间"}
ALL: dict[str, str] = {
    **{str(k): v for k, v in CALLBACK_STATUS_LABELS.items()},
    **{str(k): v for k, v in RESOLVED_LABELS.items()},
    **{str(k): v for k, v in SATISFACTION_LABELS.items()},
    **TICKET_STATUSES, **SOURCES, **INTENTS, **OUTCOMES, **ACTIONS,
}
# bulletins (报告页): kinds, states, mail, and the files' formats
BULLETIN_KINDS = {str(k): v for k, v in KIND_LABELS.items()}
BULLETIN_STATES = {str(k): v for k, v in STATE_LABELS.items()}
BULLETIN_MAIL = {str(k): v for k, v in MAIL_LABELS.items()}
FILE_FORMATS = {"xlsx": "Excel 表格", "pdf": "PDF 报告", "json": "JSON 数据", "html": "网页版"}
# the machine's own name as an actor (store.attempts.ACTOR), and the other non-people
ACTORS = {"huifang": "智能回访", "anonymous": "未登录"}
# what the machine wrote as it went: a turn's text, a callback's note
PHRASES = {
    "no input": "没有听到回答", "no match": "未能理解回答",
    "number on the do-not-call list": "号码在免打扰名单中",
    "ticket excluded": "工单已剔除", "ticket excluded (剔除)": "工单已剔除",
    "ticket reopened": "工单已退回重办",
    "closure reopened before the callback": "回访前工单已退回重办",
    "closure already evaluated": "该次办结已有回访结果",
    "deadline passed without a callback": "截止前未能回访",
    "no calling window before the deadline: to review": "截止前没有可呼叫的时段，转人工复核",
    "answers saved before the interruption": "中断前的答复已保存",
    "the dialer stopped during the call; closed on recovery": "通话中外呼进程停止，恢复时结束",
    "reopen time unknown": "退回时间不详",
}


def label(code: object) -> str:
    """The Chinese word for a code, or the code itself when there is none."""
    text = "" if code is None else str(code)
    return ALL.get(text, text)


def event(kind: object) -> str:
    text = "" if kind is None else str(kind)
    return EVENTS.get(text, label(text))


def actor(name: object) -> str:
    """Who did it, as a person reads it: the machine is 智能回访, the command line 命令行."""
    text = "" if name is None else str(name)
    if text.startswith("cli:"):
        return f"命令行（{text[4:]}）"
    return ACTORS.get(text, text)


def _why(text: str) -> str:
    """A cap's reason (store.caps.eligibility) in Chinese."""
    if m := re.fullmatch(r"(\d+) attempts made", text):
        return f"已呼叫 {m[1]} 次"
    if m := re.fullmatch(r"(\d+) calls to this number today", text):
        return f"今天已呼叫该号码 {m[1]} 次"
    return label(text)


def phrase(text: object) -> str:
    """A note the machine wrote (a decision after an attempt, a callback's note, a turn's
    `no input`) in Chinese; text it does not know is shown as it is (a person's words)."""
    value = "" if text is None else str(text)
    if value in PHRASES:
        return PHRASES[value]
    if m := re.fullmatch(r"([a-z_]+): not called again", value):
        return f"{label(m[1])}：不再呼叫"
    if m := re.fullmatch(r"([a-z_]+): again at (\d{4}-\d\d-\d\d \d\d:\d\d)", value):
        return f"{label(m[1])}：{m[2]} 再次呼叫"
    if m := re.fullmatch(r"(.+): unreachable, to review", value):
        return f"{_why(m[1])}，仍未接通，转人工复核"
    if m := re.fullmatch(r"scheduled by (.+)", value):
        return f"由 {actor(m[1])} 安排重新呼叫"
    if m := re.fullmatch(r"智能回访 attempt (\d+)", value):
        return f"智能回访（第 {m[1]} 号呼叫）"
    if m := re.fullmatch(r"attempt (\d+)", value):
        return f"第 {m[1]} 号呼叫"
    if m := re.fullmatch(r"(质检修正 )?([a-z_]+)/([a-z_]+)(?: \(([a-z]+)\))?(?:: (.*))?",
                         value, re.S):
        said = f"{label(m[2])}／{label(m[3])}"
        source = f"（{label(m[4])}）" if m[4] else ""
        return f"{m[1] or ''}{said}{source}{'：' + m[5] if m[5] else ''}"
    if m := re.fullmatch(r"(.*)\(attempt (\d+)\)", value, re.S):
        return f"{m[1]}（第 {m[2]} 号呼叫）"
    return value


def _value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if value is None:
        return "—"
    if name == "evaluated_by":
        return actor(value)
    if name == "hits":
        return f"{value} 张"
    return label(value)


def change(values: Mapping[str, Any] | None) -> str:
    """An audit entry's before or after as a person reads it:
    `解决情况：已解决；满意度：不满意；来源：智能回访`."""
    if not values:
        return ""
    return "；".join(f"{FIELDS.get(k, k)}：{_value(k, v)}" for k, v in values.items())


# the store's refusals (ValueError texts) as the page says them
_REFUSALS: list[tuple[str, str]] = [
    (r"a call for this callback is in progress.*", "该回访正在通话中，请等通话结束后再处理。"),
    (r"this callback is already waiting for a call", "该回访已在等待呼叫，无需重新安排。"),
    (r"a new call cannot be scheduled in the past", "不能安排在已过去的时间。"),
    (r"there is no complete answer to confirm.*",
     "没有完整的机器答复可确认（解决情况或满意度未知），请改用“修正答复”。"),
    (r"ticket (.+) is already excluded: (.*)", r"工单 \1 已被剔除（原因：\2）。"),
    (r"ticket (.+) is not closed \(status (.+)\)", r"工单 \1 当前不是已办结状态，不能退回重办。"),
    (r"callback \d+ does not exist", "没有这条回访任务。"),
    (r"ticket (.+) does not exist", r"没有工单 \1。"),
    (r".*needs a reason|.*reason is required", "请填写原因。"),
]


def refusal(message: str) -> str:
    """Why the store refused a change, in Chinese (a message already in Chinese, from the
    console itself, is kept)."""
    for pattern, text in _REFUSALS:
        if re.fullmatch(pattern, message, re.S):
            return re.sub(pattern, text, message, flags=re.S)
    if re.search(r"[\u4e00-\u9fff]", message):
        return message
    return "无法完成该操作，请刷新页面后重试。"


# the green banner after an action: a code in `?ok=`, never text from the URL
OK_MESSAGES = {
    "correct": "已修正答复", "confirm": "已确认答复", "schedule": "已安排重新呼叫",
    "exclude": "已剔除工单", "reopen": "已退回重办", "dnc": "已加入免打扰名单",
    "dnc_listed": "该号码已在免打扰名单中", "dnc_removed": "已从免打扰名单移除该号码",
    "paused": "已暂停回访", "resumed": "已恢复回访", "queue_done": "复核队列已全部处理完",
    "spot_agreed": "已保存抽检：与智能回访的答复一致",
    "spot_checked": "已保存抽检",
    "spot_corrected": "已保存抽检：与智能回访的答复不一致，已按人工复听修正答复",
}


def ok_banner(code: str, at: str = "") -> str:
    """The banner for `?ok=code` (a scheduled call also names its time, read as a
    time and written anew); empty for any code not in the table."""
    text = OK_MESSAGES.get(code, "")
    if code == "schedule" and at:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            return text
        return f"已安排 {when:%Y-%m-%d %H:%M} 重新呼叫"
    return text
