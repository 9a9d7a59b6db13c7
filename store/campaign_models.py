"""Tables of the callback campaign: due callbacks, call attempts, what was heard in each
turn, the do-not-call list, the campaign switch and the dialer processes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Dialect, Float, ForeignKey, Index, Integer, String, Text, TypeDecorator, text
from sqlalchemy.orm import Mapped, mapped_column

from store.enums import AttemptOutcome, AttemptStatus, CallbackStatus, ReasonStatus, ReviewKind
from store.models import Base, LocalDateTime, _enum


class OutcomeColumn(TypeDecorator[AttemptOutcome]):
    """An attempt's outcome: VARCHAR(40) in the database (a new member needs no migration),
    an `AttemptOutcome` in Python. What is written is typed as one (mypy checks it); a
    filter's text is compared as it is, so a value no outcome has matches nothing."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> AttemptOutcome | None:
        if value is None:
            return None
        try:
            return AttemptOutcome(value)
        except ValueError:  # a member a newer node wrote: shown as it is, not a crash
            return value  # type: ignore[no-any-return]

IN_QUEUE_SQL = text("review_kind IS NOT NULL AND reviewed_at IS NULL")
RECORDING_KEPT_SQL = text("recording IS NOT NULL AND recording_deleted_at IS NULL")
REASON_TODO_SQL = text("reason_from_s IS NOT NULL AND (reason_status IS NULL"
                       " OR reason_status IN ('pending', 'failed'))")


class Callback(Base):
    """回访任务: one per closure that is to be called back."""

    __tablename__ = "callbacks"
    id: Mapped[int] = mapped_column(primary_key=True)
    closure_id: Mapped[int] = mapped_column(
        ForeignKey("closures.id", ondelete="CASCADE"), unique=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[CallbackStatus] = mapped_column(_enum(CallbackStatus))
    due_at: Mapped[datetime] = mapped_column(LocalDateTime)
    deadline_at: Mapped[datetime] = mapped_column(LocalDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    last_outcome: Mapped[AttemptOutcome | None] = mapped_column(OutcomeColumn)
    note: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(LocalDateTime)
    created_at: Mapped[datetime] = mapped_column(LocalDateTime)
    updated_at: Mapped[datetime] = mapped_column(LocalDateTime)
    # why it is in the supervisors' review queue (set when it enters, kept afterwards),
    # and who settled it; the queue is review_kind set and reviewed_at not
    review_kind: Mapped[ReviewKind | None] = mapped_column(_enum(ReviewKind))
    reviewed_at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        Index("ix_callbacks_status_due", "status", "due_at"),
        # the queue alone, however many callbacks history holds: by age, and by kind
        Index("ix_callbacks_queue", "updated_at", "id", sqlite_where=IN_QUEUE_SQL,
              postgresql_where=IN_QUEUE_SQL),
        Index("ix_callbacks_queue_kind", "review_kind", "updated_at", "id",
              sqlite_where=IN_QUEUE_SQL, postgresql_where=IN_QUEUE_SQL),
    )


class CallAttempt(Base):
    """One call placed for one callback. A call covering several of a citizen's tickets
    has one attempt per callback, sharing the SIP Call-ID."""

    __tablename__ = "call_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    callback_id: Mapped[int] = mapped_column(
        ForeignKey("callbacks.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(String(100), index=True)
    node: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20))
    status: Mapped[AttemptStatus] = mapped_column(_enum(AttemptStatus))
    started_at: Mapped[datetime] = mapped_column(LocalDateTime, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    outcome: Mapped[AttemptOutcome | None] = mapped_column(OutcomeColumn)
    sip_code: Mapped[int | None] = mapped_column(Integer)
    sip_reason: Mapped[str | None] = mapped_column(String(200))
    # the call's RTCP figures (RFC 3550) of the citizen's audio: packets lost, interarrival
    # jitter, and the round trip from the trunk's reports; None: not measured
    packets_lost: Mapped[int | None] = mapped_column(Integer)
    jitter_ms: Mapped[float | None] = mapped_column(Float)
    rtt_ms: Mapped[float | None] = mapped_column(Float)
    heard: Mapped[str | None] = mapped_column(Text)  # carrier announcement, wrong person ...
    recording: Mapped[str | None] = mapped_column(Text)
    # when the retention job deleted the recording's file (campaign.recordings_keep_days);
    # the path stays, so the console can say so instead of offering a broken player
    recording_deleted_at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    reason_from_s: Mapped[float | None] = mapped_column(Float)
    reason_to_s: Mapped[float | None] = mapped_column(Float)
    reason_text: Mapped[str | None] = mapped_column(Text)
    # the reason in words (store/reasons.py): how transcribing it went (a ReasonStatus,
    # None: no reason slice), the error in words, tries so far, when the last try ended,
    # the engine and model that heard it, and the category its words fall in
    reason_status: Mapped[ReasonStatus | None] = mapped_column(_enum(ReasonStatus))
    reason_error: Mapped[str | None] = mapped_column(Text)
    reason_tries: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    reason_transcribed_at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    reason_engine: Mapped[str | None] = mapped_column(String(100))
    reason_category: Mapped[str | None] = mapped_column(String(24))
    next_at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    decision: Mapped[str | None] = mapped_column(Text)
    # what would end the call's dialog if the process died with it up (JSON written by
    # the dialer as the dialog changes: the INVITE, tags, route set, remote target, CSeq,
    # RTP port); the last one stays after the call
    dialog: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # the reasons still to be transcribed, however many attempts history holds
        Index("ix_call_attempts_reason_todo", "id", sqlite_where=REASON_TODO_SQL,
              postgresql_where=REASON_TODO_SQL),
        # recordings whose files are still kept: what the retention job looks through
        Index("ix_call_attempts_recordings_kept", "started_at", "id",
              sqlite_where=RECORDING_KEPT_SQL, postgresql_where=RECORDING_KEPT_SQL),
    )


class CallTurn(Base):
    """One question's answer as it was taken: what was heard, keys, the intent."""

    __tablename__ = "call_turns"
    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("call_attempts.id", ondelete="CASCADE"), index=True)
    question: Mapped[str] = mapped_column(String(24))
    intent: Mapped[str] = mapped_column(String(24))
    confidence: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(40))
    heard: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(LocalDateTime)
    # a heard turn's audio in the recording, seconds from its start (None: a key, a saved
    # answer's own row, or a call from before these were kept)
    from_s: Mapped[float | None] = mapped_column(Float)
    to_s: Mapped[float | None] = mapped_column(Float)


class DoNotCall(Base):
    """免打扰: numbers that are never called."""

    __tablename__ = "do_not_call"
    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(LocalDateTime)


class CampaignState(Base):
    """The campaign switch, shared by every dialer process (one row per campaign)."""

    __tablename__ = "campaign_state"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    paused: Mapped[bool] = mapped_column(default=False)
    changed_by: Mapped[str | None] = mapped_column(String(100))
    changed_at: Mapped[datetime | None] = mapped_column(LocalDateTime)
    run_now_at: Mapped[datetime | None] = mapped_column(LocalDateTime)


class DialerNode(Base):
    """A running `huifang run` process and when it was last seen."""

    __tablename__ = "dialer_nodes"
    node: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(LocalDateTime)
    seen_at: Mapped[datetime] = mapped_column(LocalDateTime)
    calls_in_progress: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(String(24), default="running")
    # which process it is, so that a process started again on the same host knows a
    # dead one whatever its name: host, pid and the pid's start time (pids are reused)
    host: Mapped[str | None] = mapped_column(String(100))
    pid: Mapped[int | None] = mapped_column(Integer)
    process_start: Mapped[str | None] = mapped_column(String(40))
    # its RTP ports (inclusive): no two live processes of one host may share any
    rtp_low: Mapped[int | None] = mapped_column(Integer)
    rtp_high: Mapped[int | None] = mapped_column(Integer)
