"""The [scoring] section validates straight into ScoringRules: same keys, same bounds, same
messages as when it was a model of its own."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from huifang.config import ConfigError, effective, load_settings
from scoring.rules import ScoringRules


def settings_from(tmp_path: Path, text: str) -> ScoringRules:
    path = tmp_path / "h.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(str(path), {}).scoring.root


def test_defaults_are_the_rules_defaults(tmp_path: Path) -> None:
    assert settings_from(tmp_path, "") == ScoringRules()
    example = Path(__file__).parent.parent / "huifang" / "huifang.example.toml"
    assert load_settings(str(example), {}).scoring.root == ScoringRules()


def test_every_rule_is_a_setting(tmp_path: Path) -> None:
    rules = settings_from(tmp_path, "[scoring]\nmin_sample = 3\nbasic_weight = 0.5\n"
                                    "weight_response = 0.2\nweight_resolution = 0.4\n"
                                    "weight_satisfaction = 0.4\n")
    assert rules == ScoringRules(min_sample=3, basic_weight=0.5, weight_response=0.2,
                                 weight_resolution=0.4, weight_satisfaction=0.4)
    dumped = effective(load_settings(None, {}))["scoring"]
    assert list(dumped) == [f.name for f in dataclasses.fields(ScoringRules)]


@pytest.mark.parametrize(("text", "message"), [
    ("[scoring]\nmin_sampel = 3\n", "unknown key 'scoring.min_sampel'"),
    ("[scoring]\nmin_sample = -1\n",
     "bad value for 'scoring.min_sample': Input should be greater than or equal to 0"),
    ("[scoring]\ntrend_periods = 37\n", "bad value for 'scoring.trend_periods'"),
    ("[scoring]\nbasic_weight = 1.5\n", "bad value for 'scoring.basic_weight'"),
    ("[scoring]\nscore_one_negative = 'half'\n", "bad value for 'scoring.score_one_negative'"),
    ("[scoring]\nweight_response = 0.2\n",
     "bad value for 'scoring': Value error, weight_response + weight_resolution + "
     "weight_satisfaction must be 1, not 1.1"),
])
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from(tmp_path, text)
    assert message in str(info.value)


def test_rules_built_in_code_are_checked_too() -> None:
    with pytest.raises(ValueError, match=r"must be 1, not 1\.1"):
        ScoringRules(weight_response=0.2)
