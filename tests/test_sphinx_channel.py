"""A reused decoder does not hear a call through the last call's channel.

PocketSphinx's live cepstral mean normalisation carries each utterance's mean into the
next. Decoders go back to a free list when a call ends, so before each call started from
the model's own mean a clean 已经解决了 after five silent calls was heard as 没 (not
resolved: the opposite answer), and after five calls of noise as nothing. The campaign
test under a reactor stall failed in the full suite this way, on the suite's shared pool.
"""

from __future__ import annotations

import numpy as np
import pytest

from ivr.intents import Question
from ivr.recognition import grammar_for
from ivr.sphinx import SphinxEngine
from tests.conftest import need
from tests.speech import MODEL, espeak

VOICE = "sit/cmn-latn-pinyin+f3"
RNG = np.random.default_rng(7)
CHANNELS = {
    "silence": bytes(16000),
    "white noise": RNG.normal(0, 3000, 16000).astype("<i2").tobytes(),
    "a 1 kHz tone": (8000 * np.sin(np.arange(24000) * 2 * np.pi * 1000 / 8000))
    .astype("<i2").tobytes(),
}


def heard(engine: SphinxEngine, pcm: bytes) -> str:
    recogniser = engine.recogniser(grammar_for(Question.RESOLVED))
    try:
        for i in range(0, len(pcm), 320):
            recogniser.feed(pcm[i:i + 320])
        return recogniser.finish().heard
    finally:
        recogniser.close()


@pytest.mark.parametrize("before", sorted(CHANNELS))
def test_an_answer_is_heard_alike_whatever_calls_came_before(before: str) -> None:
    need(MODEL.exists(), f"the shared Mandarin model is missing at {MODEL}")
    engine = SphinxEngine(MODEL)
    answer = espeak("已经解决了", VOICE, speed=170, pad_s=0.1)
    assert heard(engine, answer) == "已经解决了"
    for _ in range(5):
        heard(engine, CHANNELS[before])  # calls on the same decoder, from the free list
    assert len(engine._free) == 1  # one decoder, reused all along
    assert heard(engine, answer) == "已经解决了"


def test_within_one_call_the_decoder_keeps_adapting() -> None:
    """The reset is per call, not per utterance: a call's later answers start from what
    its own earlier ones taught the decoder about the line."""
    need(MODEL.exists(), f"the shared Mandarin model is missing at {MODEL}")
    engine = SphinxEngine(MODEL)
    recogniser = engine.recogniser(grammar_for(Question.RESOLVED))
    slot = recogniser.slot
    assert slot is not None
    try:
        start = slot.ps.get_cmn()
        recogniser.feed(espeak("已经解决了", VOICE, speed=170, pad_s=0.1))
        recogniser.finish()
        recogniser.reset(grammar_for(Question.RESOLVED))  # asked again, the same words
        assert recogniser.slot is slot and slot.ps.get_cmn() != start
    finally:
        recogniser.close()
    assert slot.ps.get_cmn() != slot.cepstral_mean  # kept on the free list as it was...
    engine.recogniser(grammar_for(Question.RESOLVED)).close()
    assert slot.ps.get_cmn() == slot.cepstral_mean  # ...and the next call starts afresh
