"""A reason in words for real: a stereo recording as the dialer writes it (our prompt on
the right, a real Mandarin clip as the citizen on the left, the prompt going on under the
citizen), `huifang reasons transcribe` cutting the citizen's slice and transcribing it
with the packaged Whisper base model in its own process, then `huifang reasons
categorize` after the table changed. One Whisper decode; the model loads once."""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update

from huifang.speech import read_8k
from store.campaign_models import CallAttempt
from store.db import make_engine, upgrade
from tests.console_support import huifang, seed
from tests.reason_support import reason_attempt, stereo_wav, tone

pytestmark = pytest.mark.whisper
REAL = Path(__file__).resolve().parents[2] / "shared" / "speech" / "real"
CLIP, SAID = "firered_BAC009S0764W0121.wav", "甚至出现交易几乎停滞的情况"  # transcripts.tsv


def test_a_reason_is_transcribed_from_the_citizens_channel_then_sorted_again(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'huifang.db'}"
    engine = make_engine(url)
    upgrade(engine)
    seed(engine, tmp_path, tmp_path / "recordings")
    citizen = np.frombuffer(read_8k(REAL / CLIP), "<i2")
    left = np.concatenate([np.zeros(12000, "<i2"), citizen, np.zeros(4000, "<i2")])
    right = np.concatenate([tone(1.5, 440, 5000), tone(len(left) / 8000 - 1.5, 440, 1500)])
    recording = stereo_wav(tmp_path / "recordings" / "2026-11-28" / "call.wav", left, right)
    with engine.begin() as conn:  # the seed's 不满意 call: its reason in this recording
        conn.execute(update(CallAttempt).where(CallAttempt.call_id == "call-q010").values(
            recording=str(recording), reason_from_s=1.4, reason_to_s=len(left) / 8000))
    gone = reason_attempt(engine, "Q001", tmp_path / "recordings" / "gone.wav", (1.0, 4.0),
                          call_id="call-gone")
    config = tmp_path / "huifang.toml"
    config.write_text(f'[campaign]\nrecordings_dir = "{tmp_path / "recordings"}"\n'
                      f'[recognition]\nwhisper_cache = "{tmp_path / "whisper-base"}"\n',
                      encoding="utf-8")

    out = huifang("reasons", "transcribe", "--limit", "5", url=url, cwd=tmp_path,
                  config=config).stdout
    assert "转写 transcribed 2: 已转写 1，转写失败 1" in out, out
    assert f"attempt {gone} (call call-gone): 转写失败：录音文件不存在：gone.wav" in out
    with engine.connect() as conn:
        status, text, category, engine_name, tries = conn.execute(select(
            CallAttempt.reason_status, CallAttempt.reason_text, CallAttempt.reason_category,
            CallAttempt.reason_engine, CallAttempt.reason_tries)
            .where(CallAttempt.call_id == "call-q010")).one()
    assert (str(status), category, engine_name, tries) == ("done", "未分类",
                                                           "whisper whisper-base", 1)
    assert text is not None
    similar = difflib.SequenceMatcher(None, text, SAID).ratio()
    assert similar >= 0.7, text  # Whisper base wrote 甚至出现交易几乎停止的情况
    assert "甚至" in text and "情况" in text and "情況" not in text  # simplified (OpenCC)

    config.write_text(config.read_text(encoding="utf-8") + '[reasons.categories]\n'
                      '"市场" = ["交易", "市场"]\n"上门" = ["没人来"]\n', encoding="utf-8")
    out = huifang("reasons", "categorize", url=url, cwd=tmp_path, config=config).stdout
    assert "已重新分类 1 条原因，其中 1 条类别改变" in out and "市场 1" in out, out
    with engine.connect() as conn:
        assert conn.execute(select(CallAttempt.reason_category).where(
            CallAttempt.call_id == "call-q010")).scalar_one() == "市场"
    out = huifang("reasons", "transcribe", url=url, cwd=tmp_path, config=config).stdout
    assert "现在没有可转写的原因" in out and "1 条转写失败的原因将在重试间隔（30 分钟）后再试" \
        in out, out
    out = huifang("reasons", "transcribe", "--again", url=url, cwd=tmp_path,
                  config=config).stdout
    assert "1 条转写失败的原因将重新尝试" in out and "转写失败 1" in out, out
    with engine.connect() as conn:
        assert conn.execute(select(CallAttempt.reason_tries).where(
            CallAttempt.id == gone)).scalar_one() == 1
    engine.dispose()
