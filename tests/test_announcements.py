"""Carrier announcements: the text mapping, and PocketSphinx hearing them on telephone
audio while an answering person is not taken for one."""

from __future__ import annotations

import shutil

import pytest

from huifang.evaluation.channel import telephone
from huifang.speech import to_float_8k
from ivr.announcements import Announcement, announcement_grammar, classify
from ivr.sphinx import SphinxEngine
from prompts.tts import EspeakWorker, Voice
from tests.conftest import need
from tests.speech import MODEL

SPOKEN = {"您拨打的电话已关机": Announcement.SWITCHED_OFF,
          "您拨打的号码是空号": Announcement.NO_SUCH_NUMBER,
          "您拨打的电话已停机": Announcement.SUSPENDED,
          "您拨打的电话暂时无法接通": Announcement.UNREACHABLE,
          "您拨打的用户不在服务区": Announcement.OUT_OF_SERVICE_AREA}


@pytest.mark.parametrize(("text", "meaning"), [
    *SPOKEN.items(), ("对不起，您拨打的电话已关机。", Announcement.SWITCHED_OFF),
    ("您 拨打 的 号码 不存在", Announcement.NO_SUCH_NUMBER), ("喂，你好", None), ("", None),
    ("满意", None)])
def test_classify(text: str, meaning: Announcement | None) -> None:
    assert classify(text) is meaning


def test_every_grammar_phrase_classifies() -> None:
    assert all(classify(p) is not None for p in announcement_grammar().phrases)


def test_heard_on_telephone_audio() -> None:
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    need(MODEL.exists(), f"shared Mandarin model missing at {MODEL}")
    engine = SphinxEngine(MODEL)
    worker = EspeakWorker()
    try:
        clips = {t: worker.render(t, Voice()) for t in [*SPOKEN, "喂你好请问哪位"]}
    finally:
        worker.close()
    right = 0
    for text, (samples, rate) in clips.items():
        pcm = telephone(to_float_8k(samples, rate), 30, seed=1)
        r = engine.recogniser(announcement_grammar())
        r.feed(pcm)
        heard = classify(r.finish().text)
        r.close()
        if text in SPOKEN:
            right += heard is SPOKEN[text]
            assert heard in (SPOKEN[text], None), (text, heard)  # doubt, never another reason
        else:
            assert heard is None  # a person answering is not an announcement
    assert right >= 4
