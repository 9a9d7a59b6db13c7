"""The reasons on the console over HTTP (`huifang console` in its own process): the call
page shows the transcript, its status and category beside the reason's audio; the queue a
snippet; 原因检索 finds transcripts by their words; numbers are masked and cannot be
searched for; a viewer sees no words; a failure is said in words."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from sqlalchemy import update

from store import reasons
from store.campaign_models import CallAttempt
from store.db import make_engine, upgrade
from store.enums import ReasonStatus
from store.reasons import ReasonResult
from tests.console_support import NOW, PASSWORDS, Client, ConsoleProcess, Seeded, add_users, seed

SAID = "说好上门一直没人来，打我电话13812345678也没人接，等了好几天了"


@dataclass
class Env:
    url: str
    seeded: Seeded
    console: ConsoleProcess
    attempt: int

    def client(self, user: str) -> Client:
        c = Client(self.console.port)
        assert c.login(user, PASSWORDS[user]).status == 303
        return c

    def set(self, result: ReasonResult) -> None:
        engine = make_engine(self.url)
        with engine.begin() as conn:
            conn.execute(update(CallAttempt).where(CallAttempt.id == self.attempt).values(
                reason_status=None, reason_tries=0, reason_transcribed_at=None))
        (todo,) = reasons.take(engine, NOW, limit=1, max_tries=3, retry_after=NOW - NOW)
        assert reasons.save_result(engine, todo, result, NOW)
        engine.dispose()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    directory = tmp_path_factory.mktemp("reasons-console")
    url = f"sqlite:///{directory / 'huifang.db'}"
    engine = make_engine(url)
    upgrade(engine)
    seeded = seed(engine, directory, directory / "recordings")
    (todo,) = reasons.take(engine, NOW, limit=1, max_tries=3, retry_after=NOW - NOW)
    assert reasons.save_result(engine, todo, ReasonResult(
        ReasonStatus.DONE, text=SAID, category="上门", engine="whisper whisper-base"), NOW)
    engine.dispose()
    config = directory / "huifang.toml"
    config.write_text(f'[campaign]\nrecordings_dir = "{directory / "recordings"}"\n',
                      encoding="utf-8")
    add_users(url, directory)
    console = ConsoleProcess(url, directory, config)
    yield Env(url, seeded, console, todo.attempt_id)
    console.stop()


def test_the_call_page_shows_the_transcript_beside_the_audio(env: Env) -> None:
    page = env.client("zhijian").get(f"/calls/{env.seeded.negative}")
    assert page.status == 200
    text = page.text
    block = text[text.index(f'id="reason-{env.attempt}"'):]
    block = block[:block.index("</div>")]
    assert "不满意原因</b>（1.5–4.0 秒）" in block
    assert "已转写" in block and "上门" in block
    assert "说好上门一直没人来，打我电话138****5678也没人接，等了好几天了" in block
    assert "13812345678" not in text  # masked, wherever it is
    assert "whisper whisper-base" in block and "以录音为准" in block
    assert text.index("/recordings/") < text.index(f'id="reason-{env.attempt}"')  # by the audio


def test_a_viewer_sees_the_status_and_category_not_the_words(env: Env) -> None:
    viewer = env.client("lingdao")
    text = viewer.get(f"/calls/{env.seeded.negative}").text
    assert "已转写" in text and "上门" in text and "原因原文仅质检员可见" in text
    assert "没人接" not in text
    assert "没人接" not in viewer.get("/queue").text
    assert viewer.get("/reasons").status == 403


def test_the_queue_shows_a_snippet(env: Env) -> None:
    text = env.client("zhijian").get("/queue").text
    assert "原因：[上门] 说好上门一直没人来，打我电话138****5678也没人接，…" in text
    assert "13812345678" not in text


def test_reasons_are_searched_by_their_words_not_by_numbers(env: Env) -> None:
    c = env.client("zhijian")
    found = c.get("/reasons?q=" + quote("没人来"))
    assert found.status == 200 and "共 1 条" in found.text
    assert f"/calls/{env.seeded.negative}#attempt-{env.attempt}" in found.text
    assert "Q010" in found.text
    assert "共 0 条" in c.get("/reasons?q=" + quote("态度")).text
    assert "共 1 条" in c.get("/reasons?category=" + quote("上门")).text
    assert "共 0 条" in c.get("/reasons?status=failed").text
    refused = c.get("/reasons?q=5678")
    assert refused.status == 400 and "不能按数字查询" in refused.text
    assert "共 1 条" in refused.text  # the digits were not searched: everything listed
    hostile = c.get("/reasons?q=" + quote("%' OR 1=1 --<script>"))
    assert hostile.status == 400  # it has digits
    hostile = c.get("/reasons?q=" + quote("%' OR x=x --<script>"))
    assert hostile.status == 200 and "共 0 条" in hostile.text
    assert "&lt;script&gt;" in hostile.text and "--<script>" not in hostile.text
    long = c.get("/reasons?q=" + quote("没" * 80))
    assert long.status == 200 and "最多 50 个字" in long.text


def test_a_failure_and_an_unheard_reason_are_said_in_words(env: Env) -> None:
    c = env.client("zhijian")
    try:
        env.set(ReasonResult(ReasonStatus.FAILED, error="录音文件已损坏：缺少格式或数据段",
                             engine="whisper whisper-base"))
        text = c.get(f"/calls/{env.seeded.negative}").text
        assert "转写失败：录音文件已损坏：缺少格式或数据段" in text
        assert "已尝试 1 次" in text
        assert "原因：转写失败：录音文件已损坏" in c.get("/queue").text
        env.set(ReasonResult(ReasonStatus.EMPTY, error="原因录音中没有声音", engine="whisper"))
        assert "未听清：原因录音中没有声音" in c.get(f"/calls/{env.seeded.negative}").text
    finally:
        env.set(ReasonResult(ReasonStatus.DONE, text=SAID, category="上门",
                             engine="whisper whisper-base"))
