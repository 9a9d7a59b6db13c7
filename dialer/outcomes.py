"""What happened to a call, from its final SIP response or the lack of one, and what an
unanswered call's attempt is stored as."""

from __future__ import annotations

import enum

from store.enums import AttemptOutcome


class Outcome(enum.StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"  # 486, 600
    NO_ANSWER = "no_answer"  # ring timeout -> CANCEL -> 487; 408, 480
    REJECTED = "rejected"  # 603
    INVALID_NUMBER = "invalid_number"  # 404, 484, 604
    CONGESTION = "congestion"  # 503, 500 (retriable)
    AUTH_FAILURE = "auth_failure"  # 401/407 we could not answer
    TRANSPORT_FAILURE = "transport_failure"  # nothing could be sent
    TIMEOUT = "timeout"  # no response at all (timer B)
    CANCELLED = "cancelled"  # we gave up first (service stopping)
    FAILED = "failed"  # any other final response


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.ANSWERED
    return {486: Outcome.BUSY, 600: Outcome.BUSY, 487: Outcome.NO_ANSWER,
            408: Outcome.NO_ANSWER, 480: Outcome.NO_ANSWER, 603: Outcome.REJECTED,
            404: Outcome.INVALID_NUMBER, 484: Outcome.INVALID_NUMBER,
            604: Outcome.INVALID_NUMBER, 503: Outcome.CONGESTION, 500: Outcome.CONGESTION,
            401: Outcome.AUTH_FAILURE, 407: Outcome.AUTH_FAILURE}.get(status, Outcome.FAILED)


# An unanswered call's attempt outcome. ANSWERED has none: an answered call's outcome
# is what the call flow and the answers came to.
UNANSWERED: dict[Outcome, AttemptOutcome] = {
    Outcome.BUSY: AttemptOutcome.BUSY,
    Outcome.NO_ANSWER: AttemptOutcome.NO_ANSWER,
    Outcome.REJECTED: AttemptOutcome.REJECTED,
    Outcome.INVALID_NUMBER: AttemptOutcome.INVALID_NUMBER,
    Outcome.CONGESTION: AttemptOutcome.CONGESTION,
    Outcome.AUTH_FAILURE: AttemptOutcome.AUTH_FAILURE,
    Outcome.TRANSPORT_FAILURE: AttemptOutcome.TRANSPORT_FAILURE,
    Outcome.TIMEOUT: AttemptOutcome.TIMEOUT,
    Outcome.CANCELLED: AttemptOutcome.CANCELLED,
    Outcome.FAILED: AttemptOutcome.FAILED,
}


def unanswered_outcome(outcome: Outcome) -> AttemptOutcome:
    """The attempt outcome of a call that ended with this SIP outcome, unanswered."""
    try:
        return UNANSWERED[outcome]
    except KeyError:
        raise ValueError(f"an {outcome} call's attempt outcome comes from the call flow"
                         ) from None
