"""`huifang doctor`: what a node needs before it calls anyone, each checked and said
with OK, WARN or FAIL and, when not OK, the fix. Nothing is changed by a check: the
trunk is asked OPTIONS and a REGISTER that only queries the bindings, ports are bound
and released, the model is loaded, one sentence is spoken into memory."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from sqlalchemy.engine import make_url

from dialer.probe import ProbeResult, options_ping, ports_in_use, register_probe
from huifang.config import Settings
from huifang.coverage import HORIZON_DAYS, calendar_warning, hotline_today
from huifang.models import (
    INSTALL_HINT,
    Manifest,
    ModelMissing,
    is_name,
    model_path,
    models_dir,
    verify,
)
from store.db import (
    StoreError,
    current_revision,
    head_revision,
    make_engine,
    masked_url,
    translated_errors,
)
from store.models import HOTLINE_TZ
from store.workdays import current_calendar, package_knows

log = logging.getLogger(__name__)
PASSWORD_ENV = "HUIFANG_SIP_PASSWORD"
SPOKEN = "您好，这里是热线回访。"
MIN_FREE_BYTES = 1 << 30  # below: FAIL (a minute of a call's recording is about 1 MB)
LOW_FREE_BYTES = 10 << 30  # below: WARN
_URI_HOST = re.compile(r"^(sips?):(?:[^@;>]*@)?(\[[0-9A-Fa-f:.]+\]|[^:;>?]+)(?::(\d{1,5}))?")


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


def ok(name: str, detail: str) -> Check:
    return Check(name, Status.OK, detail)


def database(settings: Settings) -> Check:
    name = "数据库 database"
    url = settings.database.url
    shown = masked_url(url)
    parsed = make_url(url)
    file = parsed.database if parsed.drivername.startswith("sqlite") else None
    if file not in (None, "", ":memory:") and not Path(str(file)).exists():
        return Check(name, Status.FAIL, f"{shown}: no such file",
                     "`huifang db upgrade` creates it (or set database.url / HUIFANG_DB)")
    try:
        engine = make_engine(url, busy_timeout_ms=settings.database.busy_timeout_ms)
        try:
            with translated_errors(url):
                current = current_revision(engine)
        finally:
            engine.dispose()
    except StoreError as exc:
        return Check(name, Status.FAIL, f"{shown}: {exc}",
                     "check database.url (or HUIFANG_DB), that the server runs and lets "
                     "this host in")
    head = head_revision()
    if current is None:
        return Check(name, Status.FAIL, f"{shown}: reachable, no schema",
                     "run `huifang db upgrade`")
    if current != head:
        return Check(name, Status.FAIL, f"{shown}: schema {current}, this code {head}",
                     "run `huifang db upgrade` (or, if the database is newer, upgrade "
                     "huifang)")
    return ok(name, f"{shown}: schema {current}, current")


def _address(text: str, default_port: int = 5060) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if host and port.isdigit() and not text.endswith("]"):
        return host.strip("[]"), int(port)
    return text.strip("[]"), default_port


def trunk_address(settings: Settings) -> tuple[tuple[str, int], str]:
    """Where the trunk is asked, and why there: the proxy, else the registrar, else the
    host of `trunk.target`."""
    t = settings.trunk
    if t.proxy:
        return _address(t.proxy), "trunk.proxy"
    if t.registrar:
        return _address(t.registrar), "trunk.registrar"
    match = _URI_HOST.match(t.target)
    if match is None:
        raise ValueError(f"trunk.target {t.target!r}: no host")
    scheme, host, port = match.groups()
    return (host.strip("[]"), int(port) if port else 5061 if scheme == "sips" else 5060), \
        "trunk.target"


def _said(result: ProbeResult) -> str:
    rtt = f" in {result.rtt_s * 1000:.0f} ms" if result.rtt_s is not None else ""
    server = f" ({result.server})" if result.server else ""
    return f"{result.status} {result.reason}{rtt}{server}"


def trunk(settings: Settings, timeout_s: float) -> list[Check]:
    t = settings.trunk
    try:
        (host, port), source = trunk_address(settings)
    except ValueError as exc:
        return [Check("中继 trunk", Status.FAIL, str(exc), "set trunk.proxy or trunk.target")]
    over = "" if t.transport == "udp" else f" (over UDP; the trunk is set to {t.transport})"
    result = options_ping((host, port), local_host=t.bind, timeout_s=timeout_s)
    where = f"OPTIONS to {host}:{port} ({source}){over}"
    checks = []
    if result.status is None:
        checks.append(Check("中继 trunk", Status.FAIL, f"{where}: {result.reason}",
                            f"check {source}, that the trunk is up and that its firewall "
                            f"lets {t.bind} in"))
    elif 200 <= result.status < 300:
        checks.append(ok("中继 trunk", f"{where}: {_said(result)}"))
    else:
        checks.append(Check("中继 trunk", Status.WARN, f"{where}: {_said(result)}",
                            "the trunk answers but refuses OPTIONS; a test call "
                            "(`huifang call URI`) tells more"))
    if t.registrar:
        checks.append(registration(settings, timeout_s))
    return checks


def registration(settings: Settings, timeout_s: float) -> Check:
    t = settings.trunk
    name = "注册 registration"
    registrar = _address(t.registrar)
    aor = t.aor or f"sip:{t.username or 'huifang'}@{registrar[0]}"
    password = os.environ.get(PASSWORD_ENV, "")
    result = register_probe(registrar, aor, t.username, password, local_host=t.bind,
                            timeout_s=timeout_s)
    where = f"REGISTER (a query) to {t.registrar} as {aor}"
    if result.status is None:
        return Check(name, Status.FAIL, f"{where}: {result.reason}",
                     "check trunk.registrar and that the registrar is up")
    if 200 <= result.status < 300:
        return ok(name, f"{where}: {_said(result)}")
    if result.status in (401, 403, 407):
        missing = "" if password else f"; ${PASSWORD_ENV} is not set"
        return Check(name, Status.FAIL, f"{where}: {_said(result)}{missing}",
                     f"check trunk.username and ${PASSWORD_ENV}")
    return Check(name, Status.FAIL, f"{where}: {_said(result)}",
                 "check trunk.registrar and trunk.aor with the trunk's provider")


def rtp_ports(settings: Settings) -> Check:
    t = settings.trunk
    name = "媒体端口 RTP ports"
    low, high = (int(p) for p in t.rtp_ports.split("-"))
    if low >= high or high > 65535:
        return Check(name, Status.FAIL, f"trunk.rtp_ports {t.rtp_ports}: empty range",
                     "use LOW-HIGH, e.g. 20000-20999")
    low += low % 2
    pairs = (high - low + 1) // 2
    middle = low + 2 * (pairs // 2)
    sample = sorted({p for even in (low, middle, low + 2 * (pairs - 1))
                     for p in (even, even + 1) if p <= high})
    taken = ports_in_use(t.bind, sample)
    where = f"{len(sample)} sampled of {t.rtp_ports} on {t.bind}"
    if len(taken) == len(sample):
        return Check(name, Status.FAIL, f"{where}: none can be bound",
                     f"trunk.bind {t.bind} must be this machine's address; free the ports "
                     "or choose another trunk.rtp_ports")
    if taken:
        return Check(name, Status.WARN, f"{where}: in use {', '.join(map(str, taken))}",
                     "a running huifang holds its calls' ports; else another program does: "
                     "choose another trunk.rtp_ports")
    if pairs < t.max_channels:
        return Check(name, Status.WARN, f"{where}: free, but {pairs} RTP/RTCP pairs for "
                     f"{t.max_channels} channels", "widen trunk.rtp_ports")
    return ok(name, f"{where}: free ({pairs} RTP/RTCP pairs for {t.max_channels} channels)")


def model(settings: Settings) -> Check:
    r = settings.recognition
    name = "识别模型 speech model"
    if r.engine == "whisper":
        return Check(name, Status.WARN, "engine whisper: its model is checked when it loads",
                     "`huifang recognize CLIP.wav --question resolved` loads it")
    try:
        path = model_path(r)
    except ModelMissing as exc:
        return Check(name, Status.FAIL, str(exc), INSTALL_HINT)
    label = r.model
    if is_name(r.model):
        root = models_dir(r) / r.model
        manifest = Manifest.read(root)
        problems = verify(root)
        if problems:
            return Check(name, Status.FAIL, f"{r.model}: damaged: {'; '.join(problems[:3])}",
                         f"`huifang models install SRC --name {r.model} --force`")
        if manifest.engine != r.engine:
            return Check(name, Status.FAIL, f"{r.model} is a {manifest.engine} model, "
                         f"[recognition] engine is {r.engine}",
                         f'set [recognition] engine = "{manifest.engine}" or another model')
        label = f"{r.model} ({manifest.engine}, {manifest.sample_rate} Hz, {manifest.licence})"
    elif not path.is_dir():
        return Check(name, Status.FAIL, f"{path}: no such directory",
                     f"[recognition] model: a directory, or an installed model; {INSTALL_HINT}")
    from huifang.speech import engine_from  # noqa: PLC0415 - the speech stack, only here

    started = time.perf_counter()
    try:
        engine_from(r, second_opinion=False)
    except (OSError, RuntimeError, ValueError) as exc:
        return Check(name, Status.FAIL, f"{label}: does not load: {exc}",
                     "install it again (`huifang models install SRC --force`)")
    return ok(name, f"{label}: loads in {time.perf_counter() - started:.1f} s")


def tts(settings: Settings) -> Check:
    from prompts.tts import EspeakWorker, TtsError, Voice  # noqa: PLC0415

    p = settings.prompts
    name = "语音合成 TTS"
    try:
        worker = EspeakWorker(timeout_s=p.timeout_s)
    except TtsError as exc:
        return Check(name, Status.FAIL, str(exc), "apt-get install espeak-ng")
    try:
        started = time.perf_counter()
        samples, rate = worker.render(SPOKEN, Voice(p.voice, p.rate, p.pitch))
        elapsed = time.perf_counter() - started
    except TtsError as exc:
        return Check(name, Status.FAIL, f"voice {p.voice}: {exc}",
                     "check prompts.voice (`espeak-ng --voices=cmn`)")
    finally:
        worker.close()
    seconds = len(samples) / rate if rate else 0.0
    if p.overrides_dir and not Path(p.overrides_dir).is_dir():
        return Check(name, Status.WARN, f"prompts.overrides_dir {p.overrides_dir} does not "
                     "exist", "create it or leave prompts.overrides_dir empty")
    return ok(name, f"{worker.version}, voice {p.voice}: {seconds:.1f} s of "
                    f"speech in {elapsed:.1f} s")


def disk(settings: Settings) -> Check:
    name = "磁盘 recordings disk"
    directory = Path(settings.campaign.recordings_dir)
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    usage = shutil.disk_usage(existing if existing.exists() else Path.cwd())
    free = f"{usage.free / 2**30:.1f} GB free of {usage.total / 2**30:.0f} GB"
    where = f"campaign.recordings_dir {directory}"
    if not os.access(existing, os.W_OK):
        return Check(name, Status.FAIL, f"{where}: {existing} is not writable",
                     "give the service's user write access (systemd: ReadWritePaths)")
    if usage.free < MIN_FREE_BYTES:
        return Check(name, Status.FAIL, f"{where}: {free}",
                     "free space, or point campaign.recordings_dir at a larger disk")
    if usage.free < LOW_FREE_BYTES:
        return Check(name, Status.WARN, f"{where}: {free} (a call's minute is about 1 MB)",
                     "free space, or point campaign.recordings_dir at a larger disk")
    return ok(name, f"{where}: {free}")


def _ntp() -> str | None:
    """'yes' or 'no' from timedatectl, None when it cannot tell."""
    if shutil.which("timedatectl") is None:
        return None
    try:
        done = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                              capture_output=True, text=True, timeout=3, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = done.stdout.strip()
    return value if done.returncode == 0 and value in ("yes", "no") else None


def clock(settings: Settings, ntp: Callable[[], str | None] = _ntp) -> Check:
    name = "时区与时钟 time zone"
    now = datetime.now().astimezone()
    hotline = datetime.now(HOTLINE_TZ)
    detail = (f"hotline time {hotline:%Y-%m-%d %H:%M} ({HOTLINE_TZ}); this machine "
              f"{now:%H:%M} ({now.tzname()}, UTC{now:%z})")
    synced = ntp()
    if synced == "no":
        return Check(name, Status.WARN, f"{detail}; the clock is not synchronised (NTP)",
                     "enable NTP (`timedatectl set-ntp true`, or chrony): calling windows "
                     "and the calls-a-day limit follow this clock")
    if now.utcoffset() != hotline.utcoffset():
        return Check(name, Status.WARN, f"{detail}: calling windows follow the hotline's "
                     "time, logs this machine's", "optional: `timedatectl set-timezone "
                     "Asia/Shanghai`, so logs and windows agree")
    ntp_said = "NTP synchronised" if synced == "yes" else "NTP state unknown"
    return ok(name, f"{detail}; {ntp_said}")


def calendar(settings: Settings) -> Check:
    name = "节假日 calendar"
    warning = calendar_warning()
    if warning:
        return Check(name, Status.WARN, warning.split(": working days")[0],
                     "add the year's 放假安排 to [calendar]: `huifang calendar import "
                     "NOTICE.txt --write` (README: Holiday calendar)")
    today = hotline_today()
    operator = current_calendar().years
    years = range(today.year, (today + timedelta(days=HORIZON_DAYS)).year + 1)
    sources = ", ".join(f"{y}: {'[calendar]' if y in operator else 'chinese-calendar'}"
                        for y in years if y in operator or package_knows(y))
    return ok(name, f"the next {HORIZON_DAYS} days are known ({sources})")


def run_checks(settings: Settings, *, timeout_s: float = 2.0) -> list[Check]:
    """Every check after the configuration's, in the order they are printed."""
    steps: list[tuple[str, Callable[[], Check | list[Check]]]] = [
        ("database", lambda: database(settings)),
        ("trunk", lambda: trunk(settings, timeout_s)),
        ("rtp ports", lambda: rtp_ports(settings)), ("model", lambda: model(settings)),
        ("tts", lambda: tts(settings)), ("disk", lambda: disk(settings)),
        ("clock", lambda: clock(settings)), ("calendar", lambda: calendar(settings))]
    checks: list[Check] = []
    for name, step in steps:
        try:
            found = step()
        except Exception as exc:  # a check that breaks is a FAIL, not a crash
            log.exception("doctor: the %s check", name)
            found = Check(name, Status.FAIL, f"the check itself failed: {exc}")
        checks.extend(found if isinstance(found, list) else [found])
    return checks
