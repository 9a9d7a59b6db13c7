"""The demo's citizens speak in voices nothing was tuned on (issue 15 item 7)."""

from __future__ import annotations

import shutil

from huifang.demo.citizens import TUNED, citizen_voices
from huifang.evaluation.callers import split_of
from tests.conftest import need


def test_the_citizens_voices_are_held_out_variants() -> None:
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    voices = citizen_voices()
    variants = [v.name.partition("+")[2] for v in voices]
    assert len(voices) >= 10
    assert not set(variants) & set(TUNED)  # not the prompts', the corpus's, the old demo's
    assert all(split_of(v) == "heldout" for v in variants)
    assert all(130 <= v.rate <= 221 and 30 <= v.pitch <= 71 for v in voices)
