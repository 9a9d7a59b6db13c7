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


class AttemptOutcome(enum.StrEnum):
    """What one attempt came to, as `call_attempts.outcome` and `callbacks.last_outcome`
    keep it. The values are the stored strings: a new member needs no migration."""

    COMPLETED = "completed"  # both answers of the ticket taken (or marked unclear)
    UNCLEAR = "unclear"  # a question could not be settled
    WRONG_PERSON = "wrong_person"
    CALL_LATER = "call_later"  # the citizen asked to be called later
    HUNG_UP_EARLY = "hung_up_early"
    MEDIA_FAILURE = "media_failure"  # answered, but no audio came or went
    ANNOUNCEMENT = "announcement"  # a carrier announcement (关机, 停机 ...)
    INVALID_NUMBER = "invalid_number"  # 空号, or SIP 404/484/604
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    CONGESTION = "congestion"
    AUTH_FAILURE = "auth_failure"  # the trunk refused our credentials
    TRANSPORT_FAILURE = "transport_failure"  # the trunk could not be reached
    TIMEOUT = "timeout"  # the trunk never answered the INVITE
    CANCELLED = "cancelled"  # we gave up first (the service was stopping)
    FAILED = "failed"  # any other failure
    INTERRUPTED = "interrupted"  # the dialer stopped during the call: closed on recovery


ATTEMPT_OUTCOME_LABELS: dict[AttemptOutcome, str] = {
    AttemptOutcome.COMPLETED: "回访完成",
    AttemptOutcome.UNCLEAR: "答复不清",
    AttemptOutcome.WRONG_PERSON: "非本人",
    AttemptOutcome.CALL_LATER: "稍后再打",
    AttemptOutcome.HUNG_UP_EARLY: "中途挂断",
    AttemptOutcome.MEDIA_FAILURE: "媒体故障",
    AttemptOutcome.ANNOUNCEMENT: "运营商提示音",
    AttemptOutcome.INVALID_NUMBER: "空号/号码无效",
    AttemptOutcome.BUSY: "占线",
    AttemptOutcome.NO_ANSWER: "无人接听",
    AttemptOutcome.REJECTED: "拒接",
    AttemptOutcome.CONGESTION: "线路拥塞",
    AttemptOutcome.AUTH_FAILURE: "中继认证失败",
    AttemptOutcome.TRANSPORT_FAILURE: "中继不可达",
    AttemptOutcome.TIMEOUT: "中继无响应",
    AttemptOutcome.CANCELLED: "已取消",
    AttemptOutcome.FAILED: "呼叫失败",
    AttemptOutcome.INTERRUPTED: "呼叫中断",
}

# A callback sent to review after its last attempt: the outcomes that say why on their
# own; any other (busy, no answer ... out of attempts or of windows) is unreachable.
REVIEW_KINDS: dict[AttemptOutcome, ReviewKind] = {
    AttemptOutcome.UNCLEAR: ReviewKind.UNCLEAR,
    AttemptOutcome.WRONG_PERSON: ReviewKind.WRONG_PERSON,
    AttemptOutcome.ANNOUNCEMENT: ReviewKind.ANNOUNCEMENT,
    AttemptOutcome.INVALID_NUMBER: ReviewKind.INVALID_NUMBER,
    AttemptOutcome.MEDIA_FAILURE: ReviewKind.MEDIA_FAILURE,
}


def review_kind_of(outcome: AttemptOutcome | None) -> ReviewKind:
    """The kind of a callback sent to review after an attempt with this outcome."""
    if outcome is None:
        return ReviewKind.UNREACHABLE
    return REVIEW_KINDS.get(outcome, ReviewKind.UNREACHABLE)


REVIEW_KIND_LABELS: dict[ReviewKind, str] = {
    ReviewKind.UNREACHABLE: "多次未接通",
    ReviewKind.UNCLEAR: "答复不清",
    ReviewKind.NEGATIVE: "不满意/未解决（有录音原因）",
    ReviewKind.WRONG_PERSON: "非本人",
    ReviewKind.ANNOUNCEMENT: "运营商提示音",
    ReviewKind.INVALID_NUMBER: "空号/号码无效",
    ReviewKind.MEDIA_FAILURE: "通话媒体故障",
}


class ReasonStatus(enum.StrEnum):
    """How transcribing a citizen's reason for dissatisfaction went."""

    PENDING = "pending"  # 待转写
    DONE = "done"  # 已转写
    EMPTY = "empty"  # 未听清: the engine heard no words
    FAILED = "failed"  # 转写失败: recording missing/corrupt, engine error or timeout
