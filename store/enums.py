"""Enumerations of the store, with the Chinese labels that hotline exports use."""

from __future__ import annotations

import enum


class UnitKind(enum.StrEnum):
    DISTRICT = "district"  # 区县
    STREET = "street"  # 街道/乡镇
    COMMUNITY = "community"  # 社区/村
    BUREAU = "bureau"  # 市直部门
    OTHER = "other"


class TicketType(enum.StrEnum):
    COMPLAINT = "complaint"  # 投诉
    CONSULTATION = "consultation"  # 咨询
    HELP = "help"  # 求助
    REPORT = "report"  # 举报
    SUGGESTION = "suggestion"  # 建议
    OTHER = "other"  # 其他


class TicketStatus(enum.StrEnum):
    RECEIVED = "received"  # 已受理
    DISPATCHED = "dispatched"  # 已派单
    SIGNED = "signed"  # 已签收
    CLOSED = "closed"  # 已办结
    REOPENED = "reopened"  # 退回重办


class EventKind(enum.StrEnum):
    """What the store saw happen. A ticket's first sighting is one IMPORTED event: the
    lifecycle it already had is in its columns and closures, not repeated as events."""

    IMPORTED = "imported"
    RECEIVED = "received"
    DISPATCHED = "dispatched"
    SIGNED = "signed"
    CLOSED = "closed"
    REOPENED = "reopened"
    REASSIGNED = "reassigned"
    UPDATED = "updated"
    EVALUATED = "evaluated"
    EXCLUDED = "excluded"


class Resolved(enum.StrEnum):
    YES = "yes"  # 已解决
    NO = "no"  # 未解决
    UNKNOWN = "unknown"


class Satisfaction(enum.StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASIC = "basic"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意
    UNKNOWN = "unknown"


class EvaluationSource(enum.StrEnum):
    AGENT = "agent"  # 人工回访
    AUTO = "auto"  # 智能回访 (this service)
    SUPERVISOR = "supervisor"  # 质检修正


class PhoneKind(enum.StrEnum):
    MOBILE = "mobile"
    FIXED = "fixed"


TICKET_TYPE_LABELS: dict[TicketType, str] = {
    TicketType.COMPLAINT: "投诉",
    TicketType.CONSULTATION: "咨询",
    TicketType.HELP: "求助",
    TicketType.REPORT: "举报",
    TicketType.SUGGESTION: "建议",
    TicketType.OTHER: "其他",
}

RESOLVED_LABELS: dict[Resolved, str] = {
    Resolved.YES: "已解决",
    Resolved.NO: "未解决",
    Resolved.UNKNOWN: "未知",
}

SATISFACTION_LABELS: dict[Satisfaction, str] = {
    Satisfaction.SATISFIED: "满意",
    Satisfaction.BASIC: "基本满意",
    Satisfaction.UNSATISFIED: "不满意",
    Satisfaction.UNKNOWN: "未知",
}

SOURCE_LABELS: dict[EvaluationSource, str] = {
    EvaluationSource.AGENT: "人工回访",
    EvaluationSource.AUTO: "智能回访",
    EvaluationSource.SUPERVISOR: "质检修正",
}


class CallbackStatus(enum.StrEnum):
    """A closure's callback (回访任务) on its way through the campaign."""

    PENDING = "pending"  # due at `due_at`, waiting for a dialer
    CLAIMED = "claimed"  # a dialer holds it until `lease_until`
    DONE = "done"  # called back: the answers (or an outcome of its own) are stored
    REVIEW = "review"  # the machine could not settle it: supervisors' queue
    CANCELLED = "cancelled"  # excluded, do-not-call, evaluated elsewhere, or reopened


class AttemptStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"  # the dialer died or stopped mid-call: closed on restart


CALLBACK_STATUS_LABELS: dict[CallbackStatus, str] = {
    CallbackStatus.PENDING: "待呼叫",
    CallbackStatus.CLAIMED: "呼叫中",
    CallbackStatus.DONE: "已回访",
    CallbackStatus.REVIEW: "待复核",
    CallbackStatus.CANCELLED: "已取消",
}


class Role(enum.StrEnum):
    """Console roles: each can do what the ones after it can, and more."""

    ADMIN = "admin"  # accounts, API tokens, the campaign switch
    SUPERVISOR = "supervisor"  # 质检: review, corrections, unmasking
    VIEWER = "viewer"  # 领导: reads, changes nothing


ROLE_LABELS: dict[Role, str] = {Role.ADMIN: "管理员", Role.SUPERVISOR: "质检员",
                                Role.VIEWER: "查看者"}


class ReviewKind(enum.StrEnum):
    """Why a callback is in the supervisors' review queue (复核队列)."""

    UNREACHABLE = "unreachable"  # 多次未接通: out of attempts, or of windows before the deadline
    UNCLEAR = "unclear"  # 答复不清
    NEGATIVE = "negative"  # 不满意/未解决 with a recorded reason
    WRONG_PERSON = "wrong_person"  # 非本人
    ANNOUNCEMENT = "announcement"  # 运营商提示音
    INVALID_NUMBER = "invalid_number"  # 空号/号码无效
    MEDIA_FAILURE = "media_failure"  # 通话媒体故障


def review_kind_of(outcome: str | None) -> ReviewKind:
    """The kind of a callback sent to review after an attempt with this outcome."""
    try:
        kind = ReviewKind(outcome or "")
    except ValueError:
        return ReviewKind.UNREACHABLE
    return ReviewKind.UNREACHABLE if kind is ReviewKind.NEGATIVE else kind


REVIEW_KIND_LABELS: dict[ReviewKind, str] = {
    ReviewKind.UNREACHABLE: "多次未接通",
    ReviewKind.UNCLEAR: "答复不清",
    ReviewKind.NEGATIVE: "不满意/未解决（有录音原因）",
    ReviewKind.WRONG_PERSON: "非本人",
    ReviewKind.ANNOUNCEMENT: "运营商提示音",
    ReviewKind.INVALID_NUMBER: "空号/号码无效",
    ReviewKind.MEDIA_FAILURE: "通话媒体故障",
}
