"""Answers in one real speaker's recorded syllables (huifang.evaluation.human): the tone
sandhi a speaker applies, and phrases put together from the shared voice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from huifang.evaluation.human import HumanVoice, HumanVoiceError, say, toned_syllables, voices
from tests.conftest import need

SYLLABLES = Path(__file__).resolve().parents[2] / "shared" / "voices" / "ekho-2024" / "syllables"


@pytest.mark.parametrize(("text", "expected"), [
    ("不满意", ["bu4", "man3", "yi4"]),  # 不 before a 3rd tone stays 4th
    ("不对", ["bu2", "dui4"]),  # ... before a 4th it is said 2nd
    ("一般吧", ["yi4", "ban1", "ba5"]),
    ("一样", ["yi2", "yang4"]),
    ("很满意", ["hen2", "man3", "yi4"]),  # 3-3 -> 2-3
    ("还没有解决", ["hai2", "mei2", "you2", "jie3", "jue2"]),
    ("解决了，不太满意", ["jie3", "jue2", "le5", ",", "bu2", "tai4", "man3", "yi4"]),
])
def test_tone_sandhi(text: str, expected: list[str]) -> None:
    assert toned_syllables(text) == expected


def test_voices_are_distinct_and_stable() -> None:
    four = voices(4)
    assert len({v.name for v in four}) == 4 and four == voices(4)
    assert all(0.88 <= v.speed <= 1.16 and 0 <= v.gap_s <= 0.06 for v in four)


def test_a_phrase_in_the_recorded_voice() -> None:
    need(SYLLABLES.is_dir(), f"the shared recorded voice is missing at {SYLLABLES}")
    slow, fast = say("还没有解决", HumanVoice("a", 0.9), SYLLABLES), \
        say("还没有解决", HumanVoice("b", 1.1), SYLLABLES)
    assert 0.6 < len(slow) / 16000 < 3.0 and len(fast) < len(slow)
    assert 0.7 < float(np.max(np.abs(slow))) <= 0.8 + 1e-9
    assert say("嗯满意", HumanVoice("c"), SYLLABLES).size  # 嗯 (n2) said as en
    with pytest.raises(HumanVoiceError, match="nothing to say"):
        say("，。", HumanVoice("d"), SYLLABLES)


def test_a_syllable_the_voice_lacks_is_named(tmp_path: Path) -> None:
    with pytest.raises(HumanVoiceError, match="no syllable man3"):
        say("满", HumanVoice("e"), tmp_path)
