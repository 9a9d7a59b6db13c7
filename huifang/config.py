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
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    field_validator,
    model_validator,
)

from dialer.defaults import DEFAULT_TARGET
from dialer.windows import RETRIED
from huifang.bulletin_settings import BulletinsSection
from huifang.spot_check_settings import SpotChecksSection
from scoring.reasons import DEFAULT_CATEGORIES, check_table
from scoring.rules import ScoringRules
from store.db import masked_url
from store.enums import AttemptOutcome
from store.workdays import Calendar, parse_days

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


class ScoringSettings(RootModel[ScoringRules]):
    """The `[scoring]` section: validates into scoring.rules.ScoringRules, whose fields carry
    the defaults and bounds (`.root` is the rules; every report prints the values used)."""

    model_config = ConfigDict(frozen=True)
    root: ScoringRules = ScoringRules()


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
    engine: Literal["pocketsphinx", "vosk", "whisper"] = "pocketsphinx"
    # an installed model's name (`huifang models list`) or the engine's model directory
    model: str = "pocketsphinx-zh-8k"
    models_dir: str = "var/models"  # where `huifang models install` puts models
    workers: int = Field(default=2, ge=1, le=64)  # decoding threads shared by all calls
    # recogniser worker processes (README "Decoding in worker processes"); None: one per
    # core; 0 (the default until the demo's exit with them is fixed): decode on `workers`
    # threads in the service's own process, which PocketSphinx holds to one core
    processes: int | None = Field(default=0, ge=0, le=64)
    process_timeout_s: float = Field(default=30.0, gt=0, le=600)  # no answer: worker hung
    accept: float = Field(default=0.5, gt=0, le=1)  # below: ask once more, then unclear
    # Rejection: None keeps the engine's default; `huifang asr-tune` prints calibrated values
    min_coverage: float | None = Field(default=None, ge=0, le=1)  # None: engine default
    min_coverage_non_answer: float | None = Field(default=None, ge=0, le=1)  # 啥意思 不知道
    min_voiced_s: float | None = Field(default=None, ge=0, le=5)  # less: nobody spoke
    rival_margin: float | None = Field(default=None, ge=0)  # None: engine default
    vad: Literal["silero", "webrtc"] | None = None  # voice detector for coverage
    vosk_min_score: float = Field(default=50.0, ge=0)
    hedge: Literal["basic_satisfied", "unsatisfied"] = "basic_satisfied"  # 还行 一般 凑合
    partly_resolved: Literal["resolved", "unresolved"] = "unresolved"  # 解决了一部分
    basically_resolved: Literal["resolved", "unresolved"] = "resolved"  # 基本解决
    # Whisper (README: "Second opinion"): asked where the grammar engine doubts, or the engine
    second_opinion: Literal["whisper", "off"] = "off"
    whisper_model: str = ""  # a CTranslate2 model directory; empty: the packaged base model
    whisper_cache: str = "var/models/whisper-base"  # where the packaged model is joined
    whisper_timeout_s: float = Field(default=10.0, gt=0, le=120)  # later: PocketSphinx decides
    whisper_threads: int = Field(default=1, ge=1, le=16)  # per transcription
    whisper_beam_size: int = Field(default=1, ge=1, le=10)
    # the combination's thresholds, chosen by `huifang asr-tune --second-opinion`
    second_doubt_below: float = Field(default=0.9, ge=0, le=1.01)
    second_agree_logprob: float = Field(default=-1.0, le=0)
    second_agree_no_speech: float = Field(default=0.8, ge=0, le=1)
    second_alone_logprob: float | None = Field(default=None, le=0)  # None: never alone
    second_alone_no_speech: float = Field(default=0.3, ge=0, le=1)
    second_veto: bool = True  # Whisper meaning the opposite makes a doubted answer unclear
    second_questions: tuple[Literal["resolved", "satisfied"], ...] = ("resolved", "satisfied")
    whisper_min_text_coverage: float = Field(default=0.5, ge=0, le=1)
    whisper_max_compression: float = Field(default=2.4, gt=0)
    # The read-back (README: "The confirmation turn"): a doubted answer whose words name one
    # answer is read back (您是说……，对吗？) before the key menu; a spoken 对 stores it
    confirm: bool = False  # off: in the human voice 不对 was heard as 对对 (README)
    confirm_min_coverage: float = Field(default=0.3, ge=0, le=1)  # of a rejected answer


_TARGET = re.compile(r"^sips?:.*\{number\}")


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
    target: str = Field(default=DEFAULT_TARGET, pattern=r"^sips?:.*\{number\}")
    # number prefix -> target, before `target` (the longest prefix wins): another trunk or
    # gateway for some numbers, e.g. {"0731" = "sip:{number}@gw-local:5060"}
    routes: dict[str, str] = Field(default_factory=dict)
    dial_prefix: str = Field(default="", pattern=r"^[0-9*#]*$")  # e.g. 0 for an outside line
    registrar: str = Field(default="", pattern=r"^([^:]+:\d{1,5})?$")  # host:port; empty: none
    aor: str = ""  # address of record to register; empty: sip:<username>@<registrar host>
    register_expires_s: int = Field(default=300, ge=60, le=86400)
    # the trunk's other addresses (host or host:port) whose SIP may speak for a call,
    # besides the proxy (else the address each call is dialled to); the rest is dropped
    accept_from: list[Annotated[str, Field(
        pattern=r"^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+)(:\d{1,5})?$")]] = Field(default_factory=list)
    # symmetric RTP: after the answer, send to and hear from where the callee's RTP really
    # comes from (NAT, an SBC), not only the SDP's address (Asterisk's rtp_symmetric)
    rtp_latching: bool = True
    # RTCP (RFC 3550): reports with our CNAME every ~5 s on the odd port above the RTP port
    # (or muxed, RFC 5761, when the trunk agrees), a BYE at the end; loss, jitter and round
    # trip stored with each attempt
    rtcp: bool = True
    # session timer (RFC 4028): the interval our INVITE asks (0: none asked; a trunk's own
    # is still honoured) and our Min-SE (the RFC's floor, 90 s, is the least)
    session_expires_s: int = Field(default=1800, ge=0, le=86400)
    min_se_s: int = Field(default=90, ge=90, le=86400)
    # SIP over udp, tcp or tls (a URI's ;transport= or sips: still wins for its hop; on
    # udp a request over 1300 bytes goes over TCP, RFC 3261 §18.1.1)
    transport: Literal["udp", "tcp", "tls"] = "udp"
    tls_ca: str = ""  # PEM: the CA the trunk's certificate must chain to; empty: the system's
    tls_cert: str = ""  # PEM: our certificate, for trunks that ask for one (and our listener)
    tls_key: str = ""  # PEM: its private key
    tls_server_name: str = ""  # the name the trunk's certificate carries; empty: its host

    @model_validator(mode="after")
    def _cert_and_key(self) -> TrunkSettings:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together")
        return self

    @field_validator("routes")
    @classmethod
    def _routes(cls, value: dict[str, str]) -> dict[str, str]:
        for prefix, target in value.items():
            if not prefix.isdigit():
                raise ValueError(f"route {prefix!r}: a prefix is digits only")
            if not _TARGET.match(target):
                raise ValueError(f"route {prefix!r}: {target!r} is not a sip: URI with "
                                 "{number}")
        return value


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
    retry_minutes: dict[AttemptOutcome, float] = Field(default_factory=dict)  # -> minutes
    reopen_on_negative: bool = False  # 退回重办 when the citizen says 未解决 or 不满意
    tick_s: float = Field(default=5.0, gt=0, le=300)
    lease_s: float = Field(default=300.0, ge=10, le=3600)
    # after a trunk failure (timeout, 503, transport), no new calls for this long
    trunk_backoff_s: float = Field(default=30.0, ge=0, le=3600)
    recordings_dir: str = "var/recordings"
    # days a settled call's recording is kept, then its file is deleted (the attempt
    # stays, marked); 0: kept forever
    recordings_keep_days: int = Field(default=180, ge=0, le=36_500)
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

    @field_validator("retry_minutes", mode="before")
    @classmethod
    def _retried_outcomes(cls, value: Any) -> Any:
        unknown = [key for key in value if key not in RETRIED] if isinstance(value, dict) \
            else []
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not an outcome that is called again; use "
                             f"one of {', '.join(RETRIED)}")
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


class CalendarSection(_Section):
    """The operator's holiday calendar (放假安排), before `chinese-calendar`: a year's
    holidays and make-up working days (调休), each `YYYY-MM-DD` or `YYYY-MM-DD..YYYY-MM-DD`."""

    holidays: list[str] = Field(default_factory=list)  # days off: no calls, not working days
    workdays: list[str] = Field(default_factory=list)  # make-up working days (调休上班)

    @field_validator("holidays", "workdays")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        parse_days(value)
        return value

    @model_validator(mode="after")
    def _not_both(self) -> CalendarSection:
        both = parse_days(self.holidays) & parse_days(self.workdays)
        if both:
            raise ValueError(f"{min(both)} is listed both as a holiday and as a working day")
        return self

    def calendar(self) -> Calendar:
        return Calendar(parse_days(self.holidays), parse_days(self.workdays))


class ReasonsSection(_Section):
    """The citizen's reason for dissatisfaction in words (huifang/reasons.py): transcribed
    in the background by a free-form engine, sorted by the category table."""

    transcribe: bool = True  # false: reasons are kept as audio only
    engine: Literal["whisper"] = "whisper"
    # a CTranslate2 Whisper model directory; empty: [recognition] whisper_model, and if that
    # is empty too the packaged base model (joined into [recognition] whisper_cache)
    model: str = ""
    timeout_s: float = Field(default=120.0, gt=0, le=3600)  # per reason; then the engine dies
    batch: int = Field(default=5, ge=1, le=1000)  # reasons per run of the job
    every_s: float = Field(default=60.0, ge=1, le=86_400)  # how often the job runs
    max_tries: int = Field(default=3, ge=1, le=20)
    retry_minutes: float = Field(default=30.0, gt=0, le=7 * 24 * 60)  # between tries
    threads: int = Field(default=1, ge=1, le=16)  # CPU threads of one transcription
    beam_size: int = Field(default=1, ge=1, le=10)
    max_no_speech: float = Field(default=0.8, ge=0, le=1)  # above: 未听清, not words
    snippet_chars: int = Field(default=30, ge=5, le=200)  # of the transcript in the queue
    # category -> phrases; the first category (in this order) with a phrase in the
    # transcript is the reason's, else 未分类
    categories: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_CATEGORIES.items()})

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        problems = check_table(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _retry_after_timeout(self) -> ReasonsSection:
        if self.retry_minutes * 60 <= self.timeout_s:
            raise ValueError("retry_minutes must be longer than timeout_s: a reason still "
                             "being transcribed would be taken again")
        return self


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
    calendar: CalendarSection = CalendarSection()
    reasons: ReasonsSection = ReasonsSection()
    bulletins: BulletinsSection = BulletinsSection()  # huifang/bulletin_settings.py
    spot_checks: SpotChecksSection = SpotChecksSection()  # huifang/spot_check_settings.py
    logging: LoggingSettings = LoggingSettings()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _error_text(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        # a dataclass section (scoring) says unexpected_keyword_argument for an unknown key
        if item["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
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
