"""What a handler sees of a request and what it returns, as plain values: handlers run
in a worker thread and never touch twisted's request object."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

FIRST_YEAR, LAST_YEAR = 2000, 2099  # the dates a filter may name
MAX_PAGE = 1_000_000


class BadInput(ValueError):
    """A value of the request that cannot be served (a date in year 9999, a page past
    any table, JSON nested beyond reason): a 400 with this message, in Chinese."""


def small_int(text: str) -> int | None:
    """An id typed in a form or a query: ASCII digits that fit a bigint, else None
    (`isdigit` alone takes ² and ١, which int() refuses or reads)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def page_number(text: str) -> int:
    """A list's page: 1 when not given or not a number; past `MAX_PAGE` a BadInput."""
    if not (text.isascii() and text.isdigit()):
        return 1
    number = int(text[:20])
    if len(text) > 20 or number > MAX_PAGE:
        raise BadInput(f"页码超出范围（1 至 {MAX_PAGE}）。")
    return max(1, number)


def day(text: str, what: str = "日期") -> date | None:
    """A date filter (YYYY-MM-DD) or None when blank; a date that cannot be read or lies
    outside FIRST_YEAR..LAST_YEAR is a BadInput naming the form."""
    if not text:
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise BadInput(f"{what}应为 YYYY-MM-DD，{FIRST_YEAR} 至 {LAST_YEAR} 年之间："
                       f"{text[:40]}")
    return value


def moment(value: date) -> datetime:
    return datetime.combine(value, datetime.min.time())


@dataclass(frozen=True)
class RequestInfo:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    cookies: dict[str, str]
    address: str
    body: bytes = b""

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name) or self.form.get(name)
        return values[0].strip() if values else default

    def field(self, name: str) -> str:
        values = self.form.get(name)
        return values[0].strip() if values else ""

    def json(self) -> Any:
        """The body as JSON; BadInput (with no parser's text) for anything else,
        including nesting deep enough to exhaust the parser's recursion."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise BadInput("the body is not valid JSON") from exc


def parse_form(content_type: str, body: bytes) -> dict[str, list[str]]:
    if content_type.split(";", maxsplit=1)[0].strip() != "application/x-www-form-urlencoded":
        return {}
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    cookies: list[str] = field(default_factory=list)  # Set-Cookie values


def redirect(location: str, status: int = 303) -> Response:
    return Response(status, b"", headers=[("Location", location)])


def json_response(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, default=str, indent=1).encode()
    return Response(status, body, "application/json; charset=utf-8")


def problem(status: int, message: str, field_name: str | None = None) -> Response:
    """A JSON error naming the field at fault."""
    data: dict[str, Any] = {"error": message}
    if field_name is not None:
        data["field"] = field_name
    return json_response(data, status)


def with_query(path: str, **params: str | int | None) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def cookie(name: str, value: str, *, max_age: int | None, secure: bool) -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
