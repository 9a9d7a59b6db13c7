from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from huifang.config import ConfigError, effective, load_settings
from store.enums import AttemptOutcome


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, {})
    assert settings.database.url == "sqlite:///huifang.db"
    assert settings.imports.batch_size == 5000


def test_env_overrides_database_and_secrets_are_masked(tmp_path: Path) -> None:
    path = tmp_path / "h.toml"
    path.write_text('[database]\nurl = "sqlite:///x.db"\n', encoding="utf-8")
    settings = load_settings(str(path), {"HUIFANG_DB": "postgresql://u:s3cret@db/h"})
    assert settings.database.url == "postgresql://u:s3cret@db/h"
    assert "s3cret" not in str(effective(settings))


@pytest.mark.parametrize(("text", "message"), [
    ("[database]\nurll = 'x'\n", "unknown key 'database.urll'"),
    ("colour = 'red'\n", "unknown key 'colour'"),
    ("[import]\nbatch_size = 0\n", "bad value for 'import.batch_size'"),
    ("[database]\nurl = 'mysql://x'\n", "bad value for 'database.url'"),
    ("[phone]\ndefault_area_code = '731'\n", "bad value for 'phone.default_area_code'"),
    ("[logging]\nlevel = 'LOUD'\n", "bad value for 'logging.level'"),
    ("[recognition]\nengine = 'kaldi'\n", "bad value for 'recognition.engine'"),
    ("[recognition]\nhedge = 'satisfied'\n", "bad value for 'recognition.hedge'"),
    ("[recognition]\naccept = 0\n", "bad value for 'recognition.accept'"),
    ("[database\n", "not valid TOML"),
])
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "h.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_settings(str(path), {})


@pytest.mark.parametrize("key", ["no-answer", "completed", "interrupted"])
def test_a_retry_delay_for_an_outcome_never_retried_is_refused(tmp_path: Path, key: str
                                                               ) -> None:
    """A typo (no-answer for no_answer), or an outcome that is not called again, would
    be ignored in silence: the error names the key and lists the accepted ones."""
    path = tmp_path / "h.toml"
    path.write_text(f'[campaign]\nretry_minutes = {{ "{key}" = 30 }}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(str(path), {})
    message = str(error.value)
    assert "bad value for 'campaign.retry_minutes'" in message and repr(key) in message
    assert "busy, no_answer, rejected" in message and "completed" not in message.split(
        "use one of")[1]


def test_retry_delays_are_keyed_by_outcome(tmp_path: Path) -> None:
    path = tmp_path / "h.toml"
    path.write_text("[campaign]\nretry_minutes = { no_answer = 180, call_later = 60 }\n",
                    encoding="utf-8")
    minutes = load_settings(str(path), {}).campaign.retry_minutes
    assert minutes == {AttemptOutcome.NO_ANSWER: 180, AttemptOutcome.CALL_LATER: 60}
    assert all(type(key) is AttemptOutcome for key in minutes)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(str(tmp_path / "nope.toml"), {})


def test_example_file_is_valid() -> None:
    example = Path(__file__).parent.parent / "huifang" / "huifang.example.toml"
    settings = load_settings(str(example), {})
    assert settings.hotline == "12345政务服务便民热线"
    assert settings.recognition == type(settings.recognition)()  # the example shows defaults


def test_config_check_command(tmp_path: Path) -> None:
    path = tmp_path / "h.toml"
    path.write_text("[database]\nurl = 'postgresql://u:pw@127.0.0.1/h'\n", encoding="utf-8")
    ok = subprocess.run([sys.executable, "-m", "huifang", "--config", str(path), "config",
                         "check"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "postgresql://u:***@127.0.0.1/h" in ok.stdout and "pw@" not in ok.stdout
    path.write_text("[database]\nport = 5\n", encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "huifang", "--config", str(path), "config",
                          "check"], capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "unknown key 'database.port'" in bad.stderr


def test_example_file_shows_the_campaign_defaults() -> None:
    example = Path(__file__).parent.parent / "huifang" / "huifang.example.toml"
    settings = load_settings(str(example), {})
    assert settings.campaign == type(settings.campaign)()
    assert settings.trunk == type(settings.trunk)()
