"""Prompts rendered for real by espeak-ng, checked by ear's proxy: PocketSphinx."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pytest

from prompts.audio import RATE, dbfs, read_wav, write_wav
from prompts.cache import PromptCache
from prompts.catalog import PromptError, load_catalog
from prompts.render import PromptRenderer
from prompts.tts import EspeakWorker, TtsError, TtsUnavailable, Voice, engine_version
from tests.conftest import need
from tests.speech import MODEL, SentenceRecogniser


def hang(conn: Connection, nice: int = 0) -> None:  # a TTS engine that never answers
    conn.recv()
    threading.Event().wait()  # blocks for ever


def die(conn: Connection, nice: int = 0) -> None:  # a TTS engine that crashes at once
    conn.recv()
    os._exit(3)


@pytest.fixture(scope="module")
def worker() -> EspeakWorker:
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    w = EspeakWorker(timeout_s=30)
    yield w  # type: ignore[misc]
    w.close()


@pytest.fixture
def renderer(worker: EspeakWorker, tmp_path: Path) -> PromptRenderer:
    return PromptRenderer(load_catalog(), PromptCache(tmp_path / "cache"), worker, Voice(),
                          hotline="12345政务服务便民热线", city="示例市",
                          overrides=tmp_path / "recorded")


def test_fixed_prompts_are_telephone_audio(renderer: PromptRenderer) -> None:
    rendered = renderer.render_fixed()
    assert len(rendered) == 17  # the prompts without ticket fields, confirmations among them
    for prompt in rendered:
        pcm, info = read_wav(prompt.audio.wav)
        syllables = sum(1 for ch in prompt.text if "\u4e00" <= ch <= "\u9fff")
        assert (info.rate, info.channels, info.sample_width) == (RATE, 1, 2)
        assert 0.15 * syllables < info.seconds < 0.45 * syllables, prompt.prompt_id
        assert info.clipped_fraction == 0 and np.max(np.abs(pcm.astype(int))) < 32000
        assert abs(dbfs(pcm) - (-20)) < 1.5
        assert prompt.audio.seconds == pytest.approx(len(pcm) / RATE)
    assert {p.source for p in renderer.render_fixed()} == {"cache"}


def test_question_prompts_come_back_as_the_right_sentence(renderer: PromptRenderer) -> None:
    need(MODEL.exists(), f"shared Mandarin model missing at {MODEL}")
    rendered = {p.prompt_id: p for p in renderer.render_fixed()}
    recogniser = SentenceRecogniser({pid: p.text for pid, p in rendered.items()})
    for pid, prompt in rendered.items():
        best, heard, similarity = recogniser.recognise(renderer.cache.load(prompt.audio))
        assert (best, similarity) == (pid, 1.0), f"{pid}: heard {heard!r}"


def test_per_ticket_greeting(renderer: PromptRenderer) -> None:
    fields = renderer.ticket_fields(
        received_at=datetime(2026, 11, 3, 10), today=date(2026, 11, 22), category=None,
        summary="小区加装电梯进度缓慢，施工队长期不来，业主意见很大")  # cut at a clause
    first = renderer.render("greeting", fields)
    assert "您在十一月三日反映的关于小区加装电梯进度缓慢，施工队长期不来的问题" in first.text
    assert first.source == "tts" and renderer.render("greeting", fields).source == "cache"
    other = renderer.render("greeting", {**fields, "date": "昨天"})
    assert other.audio.key != first.audio.key


def test_missing_field_names_the_prompt(renderer: PromptRenderer) -> None:
    with pytest.raises(PromptError, match=r"prompt greeting: field \{date\}"):
        renderer.render("greeting", {"summary": "路灯"})


def test_recorded_override_replaces_tts_and_bad_ones_name_the_prompt(
        renderer: PromptRenderer, tmp_path: Path) -> None:
    folder = tmp_path / "recorded"
    folder.mkdir()
    t = np.arange(44100) / 44100
    voice = (8000 * np.sin(2 * np.pi * 300 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.int16)
    write_wav(folder / "thanks.wav", voice, 44100)
    thanks = renderer.render("thanks")
    assert thanks.source == "recording" and abs(thanks.audio.seconds - 1.0) < 0.15
    (folder / "wrong_person.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(PromptError, match=r"prompt wrong_person: recording .* not a PCM WAV"):
        renderer.render("wrong_person")
    write_wav(folder / "call_later.wav", np.full(8000, 32767, dtype=np.int16), 8000)
    with pytest.raises(PromptError, match=r"prompt call_later: .*clipped"):
        renderer.render("call_later")
    write_wav(folder / "ask_reason.wav", voice[:2000], 44100)
    with pytest.raises(PromptError, match=r"prompt ask_reason: .*s long"):
        renderer.render("ask_reason")


def test_hung_engine_is_an_error_and_the_worker_is_replaced(tmp_path: Path) -> None:
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    hung = EspeakWorker(timeout_s=2, target=hang)
    started = time.monotonic()
    with pytest.raises(TtsError, match="did not answer within 2 s"):
        hung.render("你好", Voice())
    assert time.monotonic() - started < 10
    with pytest.raises(TtsError):  # the replaced engine is as broken: fails again, not stuck
        hung.render("你好", Voice())
    hung.close()
    crashing = EspeakWorker(timeout_s=5, target=die)
    with pytest.raises(TtsError, match="crashed"):
        crashing.render("你好", Voice())
    crashing.close()


def test_missing_espeak_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(TtsUnavailable, match="apt-get install espeak-ng"):
        engine_version()


def test_concurrent_writes_of_one_key_do_not_collide(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path)
    pcm = (np.sin(np.arange(8000) / 5) * 8000).astype(np.int16)
    errors: list[BaseException] = []

    def put() -> None:
        try:
            for _ in range(20):
                cache.put("ab" + "0" * 62, pcm)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    cached = cache.get("ab" + "0" * 62)
    assert cached is not None and np.array_equal(cache.load(cached), pcm)
    assert not list(tmp_path.rglob(".tmp-*"))
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [cached.wav.name]
    assert cached.seconds == 1.0


def test_prompts_commands(tmp_path: Path) -> None:
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    env = {**os.environ, "HUIFANG_DB": f"sqlite:///{tmp_path / 'h.db'}"}
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "huifang", "prompts", *args], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300, check=False)
    assert run("check").returncode == 0
    rendered = run("render")
    assert rendered.returncode == 0, rendered.stderr
    assert "ask_satisfied" in rendered.stdout and (tmp_path / "var/prompts").exists()
    said = run("say", "您的工单已办结，满意请按1。", "--out", "x.wav")
    assert said.returncode == 0, said.stderr
    _, info = read_wav(tmp_path / "x.wav")
    assert info.rate == 8000 and info.seconds > 1
    empty = run("say", "（）", "--out", "y.wav")
    assert empty.returncode == 1 and "nothing to say" in empty.stderr
    (tmp_path / "huifang.toml").write_text("[prompts.texts]\nthanks = '谢谢{name}'\n",
                                           encoding="utf-8")
    bad = run("check")
    assert bad.returncode == 1 and "thanks: unknown field {name}" in bad.stdout


def test_render_many_reports_each_failure_and_keeps_the_rest(tmp_path: Path) -> None:
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    from prompts.batch import render_many

    def make() -> PromptRenderer:
        return PromptRenderer(load_catalog(), PromptCache(tmp_path), EspeakWorker(nice=5),
                              Voice(), hotline="12345热线", city="示例市")

    good = {"date": "昨天", "summary": "路灯不亮", "unit": "", "count": "一", "ordinal": "一"}
    jobs = [(f"j{i}", "greeting", {**good, "summary": f"路灯不亮第{i}盏"}) for i in range(6)]
    jobs.append(("bad", "greeting", {"summary": "路灯"}))  # no date
    result = render_many(make, jobs, workers=2)
    assert sorted(result.rendered) == [f"j{i}" for i in range(6)]
    assert list(result.failed) == ["bad"] and "field {date}" in result.failed["bad"]
    assert len({r.audio.key for r in result.rendered.values()}) == 6


def test_one_worker_shared_by_threads_renders_every_text() -> None:
    """The service renders prompts on a pool of several threads that share one worker:
    each text comes back as itself, none times out or gets another's audio."""
    need(shutil.which("espeak-ng") is not None, "espeak-ng not installed")
    worker = EspeakWorker(timeout_s=20)
    texts = ["一", "好的", "请问您满意吗", "请问您反映的问题解决了吗"]
    results: dict[str, float] = {}
    errors: list[BaseException] = []

    def render(text: str) -> None:
        try:
            samples, rate = worker.render(text, Voice("sit/cmn-latn-pinyin", 175, 50))
            results[text] = len(samples) / rate
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=render, args=(t,)) for t in texts * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    worker.close()
    assert not errors
    assert set(results) == set(texts)
    durations = [results[t] for t in texts]
    assert durations == sorted(durations)  # longer texts, longer audio: each got its own
