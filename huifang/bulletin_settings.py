"""The `[bulletins]` section of huifang.toml (日报、周报、月报 on schedule) and its
`[bulletins.mail]` (SMTP; the password from an environment variable, never the file)."""

from __future__ import annotations

import re
from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

KindName = Literal["daily", "weekly", "monthly"]
FormatName = Literal["xlsx", "pdf", "json", "html"]
ALL_KINDS: list[KindName] = ["daily", "weekly", "monthly"]
DEFAULT_FORMATS: list[FormatName] = ["xlsx", "pdf", "json"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MailSection(_Section):
    """Mail each bulletin, its files attached, when `enabled`."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False  # STARTTLS before logging in (the server's certificate checked)
    ssl: bool = False  # SMTP over TLS from the start (port 465)
    user: str = ""  # empty: no login
    password_env: str = "HUIFANG_SMTP_PASSWORD"  # the variable holding the password
    sender: str = Field(default="huifang@localhost", alias="from")
    to: list[str] = Field(default_factory=list)
    subject_prefix: str = "[12345回访]"
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    max_tries: int = Field(default=5, ge=1, le=100)
    retry_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    max_attach_mb: float = Field(default=20.0, ge=0, le=200)  # larger files: named only

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _ADDRESS.match(address):
                raise ValueError(f"{address!r} is not a mail address")
        return value

    @model_validator(mode="after")
    def _usable(self) -> MailSection:
        if self.enabled and not self.to:
            raise ValueError("mail is enabled but 'to' lists nobody")
        if self.starttls and self.ssl:
            raise ValueError("starttls and ssl exclude each other")
        if not _ADDRESS.match(self.sender):
            raise ValueError(f"from: {self.sender!r} is not a mail address")
        return self


class BulletinsSection(_Section):
    """日报 each morning for yesterday, 周报 on Mondays for last week, 月报 on the first
    working day of a month for the month before: made by `huifang run`, into `dir`."""

    enabled: bool = True
    daily_at: str = "07:30"
    weekly_at: str = "08:00"
    monthly_at: str = "08:30"
    kinds: list[KindName] = Field(default_factory=lambda: list(ALL_KINDS))
    dir: str = "var/reports"
    formats: list[FormatName] = Field(default_factory=lambda: list(DEFAULT_FORMATS),
                                      min_length=1)
    # a bulletin whose time came within this many days and was not made (the service was
    # down) is made when the service is back; older ones are left to `huifang report`
    catch_up_days: int = Field(default=7, ge=1, le=366)
    every_s: float = Field(default=60.0, ge=1, le=3600)  # how often the job looks
    lease_minutes: float = Field(default=30.0, gt=0, le=24 * 60)  # a node's hold while making
    retry_minutes: float = Field(default=10.0, gt=0, le=24 * 60)  # after a failed try
    mail: MailSection = MailSection()

    @field_validator("daily_at", "weekly_at", "monthly_at")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"{value!r}: use HH:MM (00:00 to 23:59)")
        return value

    def at(self, name: KindName) -> time:
        return time.fromisoformat(getattr(self, f"{name}_at"))
