"""huifang.toml: one file, validated strictly, with environment overrides for secrets.

Lookup order for the file: `--config PATH`, then `HUIFANG_CONFIG`, then `./huifang.toml`
if it exists; with none of them the built-in defaults apply. `HUIFANG_DB` overrides
`database.url`.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from store.db import masked_url

DEFAULT_DB_URL = "sqlite:///huifang.db"


class ConfigError(ValueError):
    """The configuration is wrong; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = DEFAULT_DB_URL
    busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value


class PhoneSettings(_Section):
    default_area_code: str = Field(default="", pattern=r"^(0\d{2,3})?$")


class ImportSettings(_Section):
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    rejects_suffix: str = Field(default=".rejects.csv", min_length=1)
    max_errors_shown: int = Field(default=20, ge=0)


class ScoringSettings(_Section):
    """Mirrors scoring.rules.ScoringRules; every report prints the values used."""

    response_limit_workdays: int = Field(default=1, ge=0, le=30)
    closure_limit_workdays: int = Field(default=5, ge=0, le=90)
    basic_weight: float = Field(default=1.0, ge=0, le=1)
    weight_response: float = Field(default=0.10, ge=0, le=1)
    weight_resolution: float = Field(default=0.45, ge=0, le=1)
    weight_satisfaction: float = Field(default=0.45, ge=0, le=1)
    score_both_positive: float = 1.0
    score_one_negative: float = -0.5
    score_both_negative: float = -1.0
    min_sample: int = Field(default=10, ge=0)
    yellow_satisfaction_below: float = Field(default=0.85, ge=0, le=1)
    trend_periods: int = Field(default=6, ge=1, le=36)

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> ScoringSettings:
        total = self.weight_response + self.weight_resolution + self.weight_satisfaction
        if abs(total - 1) > 1e-9:
            raise ValueError(f"weight_response + weight_resolution + weight_satisfaction must "
                             f"be 1, not {total:g}")
        return self


class PromptSettings(_Section):
    voice: str = "sit/cmn-latn-pinyin+f3"
    rate: int = Field(default=175, ge=80, le=400)  # 3.6 syllables/s with pauses; see README
    pitch: int = Field(default=50, ge=0, le=99)
    timeout_s: float = Field(default=20.0, gt=0, le=300)
    cache_dir: str = "var/prompts"
    overrides_dir: str = ""  # WAV files named <prompt id>.wav replace the TTS
    max_seconds: float = Field(default=20.0, gt=0)
    summary_max_chars: int = Field(default=20, ge=4, le=200)
    texts: dict[str, str] = Field(default_factory=dict)  # prompt id -> replacement text


class RecognitionSettings(_Section):
    engine: Literal["pocketsphinx", "vosk"] = "pocketsphinx"
    model: str = "../shared/models/pocketsphinx-zh-8k/model"  # the engine's model directory
    workers: int = Field(default=2, ge=1, le=64)  # decoding threads shared by all calls
    accept: float = Field(default=0.5, gt=0, le=1)  # below: ask once more, then unclear
    min_coverage: float | None = Field(default=None, ge=0, le=1)  # None: engine default
    rival_margin: float | None = Field(default=None, ge=0)  # None: engine default
    vosk_min_score: float = Field(default=50.0, ge=0)
    transcribe_reasons: bool = True  # when the engine has a free-form model
    hedge: Literal["basic_satisfied", "unsatisfied"] = "basic_satisfied"  # 还行 一般 凑合
    partly_resolved: Literal["resolved", "unresolved"] = "unresolved"  # 解决了一部分
    basically_resolved: Literal["resolved", "unresolved"] = "resolved"  # 基本解决


class TrunkSettings(_Section):
    """The hotline's SIP trunk (the password comes from $HUIFANG_SIP_PASSWORD)."""

    proxy: str = ""  # outbound proxy host:port; empty: the call's own host
    username: str = ""  # digest username for 401/407; empty: the trunk trusts our IP
    bind: str = "127.0.0.1"  # local address for SIP and RTP
    sip_port: int = Field(default=5060, ge=0, le=65535)
    rtp_ports: str = Field(default="20000-20999", pattern=r"^\d{1,5}-\d{1,5}$")
    max_channels: int = Field(default=30, ge=1, le=2000)
    calls_per_second: float = Field(default=5.0, gt=0, le=500)
    ring_timeout_s: float = Field(default=30.0, gt=0, le=300)
    # where a citizen's number is dialled: {number} is the national number (13812345678)
    target: str = Field(default="sip:{number}@127.0.0.1:5080", pattern=r"^sips?:.*\{number\}")
    dial_prefix: str = Field(default="", pattern=r"^[0-9*#]*$")  # e.g. 0 for an outside line
    registrar: str = Field(default="", pattern=r"^([^:]+:\d{1,5})?$")  # host:port; empty: none
    aor: str = ""  # address of record to register; empty: sip:<username>@<registrar host>
    register_expires_s: int = Field(default=300, ge=60, le=86400)


_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-(([01]\d|2[0-3]):([0-5]\d)|24:00)$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CampaignSection(_Section):
    """When and how the callback campaign calls (`huifang run`)."""

    windows: list[str] = Field(default_factory=lambda: ["09:00-12:00", "14:00-20:30"])
    weekday_windows: dict[str, list[str]] = Field(default_factory=dict)  # "sat": [...]
    skip_holidays: bool = True  # statutory holidays (chinese-calendar): no calls
    delay_days: int = Field(default=1, ge=0, le=30)
    within_days: int = Field(default=7, ge=1, le=60)
    max_attempts: int = Field(default=3, ge=1, le=10)
    max_calls_per_number_per_day: int = Field(default=2, ge=1, le=10)
    retry_minutes: dict[str, float] = Field(default_factory=dict)  # outcome -> minutes
    reopen_on_negative: bool = False  # 退回重办 when the citizen says 未解决 or 不满意
    tick_s: float = Field(default=5.0, gt=0, le=300)
    lease_s: float = Field(default=300.0, ge=10, le=3600)
    recordings_dir: str = "var/recordings"
    http: str = Field(default="127.0.0.1:9345",  # health and metrics; empty: none
                      pattern=r"^([^:]+:\d{1,5})?$")
    node: str = ""  # this process's name in the store; empty: host name and pid
    no_input_s: float = Field(default=5.0, gt=0, le=30)

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        for window in value:
            if not _WINDOW.match(window) or window[:5] >= window[6:]:
                raise ValueError(f"window {window!r}: use HH:MM-HH:MM, start before end")
        return value

    @field_validator("weekday_windows")
    @classmethod
    def _weekdays(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, windows in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not one of {', '.join(WEEKDAYS)}")
            cls._windows(windows)
        return value


class ConsoleSection(_Section):
    """The supervisors' web console (`huifang console`, or inside `huifang run`)."""

    bind: str = Field(default="127.0.0.1:8345", pattern=r"^([^:]+:\d{1,5})?$")  # empty: off
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=12, ge=1, le=24 * 30)
    login_max_failures: int = Field(default=5, ge=1, le=100)  # per user and per address
    login_lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    secure_cookies: bool = False  # true behind HTTPS: cookies are sent over TLS only
    page_size: int = Field(default=50, ge=5, le=500)
    rankings_cache_s: int = Field(default=60, ge=0, le=3600)  # 0: computed every time


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(_Section):
    hotline: str = Field(default="12345政务服务便民热线", min_length=1)
    city: str = Field(default="示例市", min_length=1)
    database: DatabaseSettings = DatabaseSettings()
    phone: PhoneSettings = PhoneSettings()
    imports: ImportSettings = Field(default=ImportSettings(), alias="import")
    scoring: ScoringSettings = ScoringSettings()
    prompts: PromptSettings = PromptSettings()
    recognition: RecognitionSettings = RecognitionSettings()
    trunk: TrunkSettings = TrunkSettings()
    campaign: CampaignSection = CampaignSection()
    console: ConsoleSection = ConsoleSection()
    logging: LoggingSettings = LoggingSettings()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _error_text(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{key}'")
        else:
            lines.append(f"{source}: bad value for '{key}': {item['msg']}")
    return "\n".join(lines)


def config_path(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get("HUIFANG_CONFIG")
    if env:
        return Path(env)
    local = Path("huifang.toml")
    return local if local.exists() else None


def load_settings(explicit: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    path = config_path(explicit)
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text: {exc}") from exc
    if env.get("HUIFANG_DB"):
        data.setdefault("database", {})
        if not isinstance(data["database"], dict):
            raise ConfigError(f"{source}: 'database' must be a table")
        data["database"]["url"] = env["HUIFANG_DB"]
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_error_text(exc, source)) from exc


def effective(settings: Settings) -> dict[str, Any]:
    """The settings as a nested dict with secrets masked, for `huifang config check`."""
    data = settings.model_dump(by_alias=True)
    data["database"]["url"] = masked_url(settings.database.url)
    return data
