"""One outcome type: every value an attempt is stored with, its Chinese label, and the
review kind it sends a callback to review with, by an explicit table."""

from __future__ import annotations

import pytest

from huifang.web.labels import label
from store.enums import (
    ATTEMPT_OUTCOME_LABELS,
    REVIEW_KIND_LABELS,
    AttemptOutcome,
    ReviewKind,
    review_kind_of,
)

STORED = {"completed", "busy", "no_answer", "rejected", "invalid_number", "congestion",
          "auth_failure", "transport_failure", "timeout", "cancelled", "failed",
          "announcement", "call_later", "media_failure", "hung_up_early", "interrupted",
          "unclear", "wrong_person"}


def test_the_values_are_the_strings_stored_today() -> None:
    assert {o.value for o in AttemptOutcome} == STORED  # no data migration


def test_every_outcome_has_its_chinese_label_and_the_console_shows_it() -> None:
    assert set(ATTEMPT_OUTCOME_LABELS) == set(AttemptOutcome)
    for outcome, text in ATTEMPT_OUTCOME_LABELS.items():
        assert label(outcome) == text == label(outcome.value)
    assert label(AttemptOutcome.BUSY) == "占线" and label("in_progress") == "通话中"


@pytest.mark.parametrize(("outcome", "kind"), [
    (AttemptOutcome.UNCLEAR, ReviewKind.UNCLEAR),
    (AttemptOutcome.WRONG_PERSON, ReviewKind.WRONG_PERSON),
    (AttemptOutcome.ANNOUNCEMENT, ReviewKind.ANNOUNCEMENT),
    (AttemptOutcome.INVALID_NUMBER, ReviewKind.INVALID_NUMBER),
    (AttemptOutcome.MEDIA_FAILURE, ReviewKind.MEDIA_FAILURE),
    (AttemptOutcome.BUSY, ReviewKind.UNREACHABLE),
    (AttemptOutcome.NO_ANSWER, ReviewKind.UNREACHABLE),
    (AttemptOutcome.COMPLETED, ReviewKind.UNREACHABLE),
    (None, ReviewKind.UNREACHABLE)])
def test_review_kinds_by_an_explicit_table(outcome: AttemptOutcome | None,
                                           kind: ReviewKind) -> None:
    assert review_kind_of(outcome) is kind


def test_every_review_kind_but_two_comes_from_an_outcome() -> None:
    """NEGATIVE comes from the answers and UNREACHABLE from running out of attempts;
    each other kind has exactly one outcome."""
    named = {review_kind_of(o) for o in AttemptOutcome} - {ReviewKind.UNREACHABLE}
    assert named == set(REVIEW_KIND_LABELS) - {ReviewKind.UNREACHABLE, ReviewKind.NEGATIVE}
