"""A bulletin by mail (`[bulletins.mail]`): one message to the listed addresses, its
files attached, over SMTP (STARTTLS or TLS as configured, the certificate checked; a
login when a user is set, the password from the environment). Blocking: run off the
reactor thread. Every failure is a MailError in words."""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from huifang.bulletin_settings import MailSection

TYPES = {".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         ".pdf": "application/pdf", ".json": "application/json", ".html": "text/html"}


class MailError(RuntimeError):
    """The mail was not sent; the message says why."""


def message(mail: MailSection, hotline: str, label: str, period: str,
            files: list[Path]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"{mail.subject_prefix} {label} {period}".strip()
    msg["From"] = mail.sender
    msg["To"] = ", ".join(mail.to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=mail.sender.rsplit("@", 1)[-1])
    limit = int(mail.max_attach_mb * 1024 * 1024)
    attached: list[Path] = []
    named: list[Path] = []
    for file in files:
        if not file.is_file():
            raise MailError(f"报告文件不存在：{file}")
        (attached if file.stat().st_size <= limit else named).append(file)
    lines = [f"{hotline}回访{label}（{period}）已生成，见附件。"]
    if named:
        lines.append("以下文件超过附件大小限制，请在回访质检台“报告”页下载："
                     + "、".join(f.name for f in named))
    msg.set_content("\n".join(lines) + "\n")
    for file in attached:
        kind = TYPES.get(file.suffix.lower()) or mimetypes.guess_type(file.name)[0] \
            or "application/octet-stream"
        main, sub = kind.split("/", 1)
        msg.add_attachment(file.read_bytes(), maintype=main, subtype=sub, filename=file.name)
    return msg


def send_bulletin(mail: MailSection, hotline: str, label: str, period: str,
                  files: list[Path], password: str) -> list[str]:
    """Send it; MailError (with the server's answer or the network's error) otherwise.
    Returns the recipients the server refused while taking it for the others (not sent
    again: the others would get it twice)."""
    msg = message(mail, hotline, label, period, files)
    context = ssl.create_default_context()
    try:
        smtp: smtplib.SMTP = (smtplib.SMTP_SSL(mail.host, mail.port, timeout=mail.timeout_s,
                                               context=context) if mail.ssl else
                              smtplib.SMTP(mail.host, mail.port, timeout=mail.timeout_s))
        with smtp:
            smtp.ehlo()
            if mail.starttls:
                smtp.starttls(context=context)
                smtp.ehlo()
            if mail.user:
                if not password:
                    raise MailError(f"SMTP user {mail.user} is set but ${mail.password_env} "
                                    "is empty")
                smtp.login(mail.user, password)
            refused = smtp.send_message(msg)
    except MailError:
        raise
    except smtplib.SMTPException as exc:
        raise MailError(f"SMTP {mail.host}:{mail.port}: {exc}") from exc
    except (OSError, ssl.SSLError) as exc:
        raise MailError(f"SMTP {mail.host}:{mail.port} cannot be reached: {exc}") from exc
    return sorted(refused)
