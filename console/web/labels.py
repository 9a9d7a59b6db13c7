"""The Chinese words the console shows for the codes the store keeps."""

from __future__ import annotations

from store.enums import CALLBACK_STATUS_LABELS, RESOLVED_LABELS, SATISFACTION_LABELS

OUTCOMES = {
    "completed": "回访完成", "unclear": "答复不清", "wrong_person": "非本人",
    "call_later": "稍后再打", "hung_up_early": "中途挂断", "media_failure": "媒体故障",
    "answered": "已接通", "busy": "占线", "no_answer": "无人接听", "rejected": "拒接",
    "invalid_number": "空号/号码无效", "announcement": "运营商提示音", "congestion": "线路拥塞",
    "auth_failure": "中继认证失败", "transport_failure": "中继不可达", "timeout": "中继无响应",
    "cancelled": "已取消", "failed": "呼叫失败", "interrupted": "呼叫中断",
    "in_progress": "通话中",
}
INTENTS = {
    "resolved": "已解决", "unresolved": "未解决", "satisfied": "满意",
    "basic_satisfied": "基本满意", "unsatisfied": "不满意", "wrong_person": "非本人",
    "call_later": "稍后再打", "repeat": "要求重复", "not_sure": "说不好", "unclear": "不清楚",
}
SOURCES = {"speech": "语音", "keys": "按键", "speech, same breath": "语音（一并回答）",
           "none": "无", "auto": "智能回访", "agent": "人工回访", "supervisor": "质检修正",
           # what was heard during a question, taken as the answer or not
           "heard:speech": "语音（听到）", "heard:key": "按键（按下）"}
TICKET_STATUSES = {"received": "已受理", "dispatched": "已派单", "signed": "已签收",
                   "closed": "已办结", "reopened": "退回重办"}
ACTIONS = {
    "correct_answer": "修正答复", "confirm_answer": "确认答复", "schedule_call": "安排呼叫",
    "exclude": "剔除工单", "reopen": "退回重办", "do_not_call": "加入免打扰",
    "do_not_call_remove": "移出免打扰", "reveal_phone": "查看号码",
    "campaign_pause": "暂停回访", "campaign_resume": "恢复回访", "user_add": "新建账号",
    "user_passwd": "修改密码", "user_disable": "停用账号", "user_enable": "启用账号",
    "token_add": "新建接口令牌", "token_revoke": "吊销接口令牌",
}
ALL: dict[str, str] = {
    **{str(k): v for k, v in CALLBACK_STATUS_LABELS.items()},
    **{str(k): v for k, v in RESOLVED_LABELS.items()},
    **{str(k): v for k, v in SATISFACTION_LABELS.items()},
    **TICKET_STATUSES, **SOURCES, **INTENTS, **OUTCOMES, **ACTIONS,
}


def label(code: object) -> str:
    """The Chinese word for a code, or the code itself when there is none."""
    text = "" if code is None else str(code)
    return ALL.get(text, text)
