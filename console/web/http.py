"""What a handler sees of a request and what it returns, as plain values: handlers run
in a worker thread and never touch twisted's request object."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode


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
        return json.loads(self.body.decode("utf-8"))


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
