"""The JSON API for the hotline's own ticket system: closure and reopening events in,
ticket status and evaluations out. Bearer tokens made by an admin; an OpenAPI document
at /api/openapi.json."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from huifang.web import auth
from huifang.web.app import Ctx
from huifang.web.http import BadInput, Response, json_response, problem
from store import accounts
from store.importing.base import Outcome
from store.importing.columns import TICKET_COLUMNS
from store.importing.events import apply_ticket_event, ticket_fields
from store.search import ticket_status

log = logging.getLogger(__name__)
# a ticket number is a path segment of links and of this API: letters (Chinese too),
# digits and - _ . only, so that no `#`, `%`, `/` or space breaks a link to it
TICKET_NO = r"^[0-9A-Za-z\u4e00-\u9fff][0-9A-Za-z\u4e00-\u9fff_.\-]{0,63}$"
_TICKET_NO = re.compile(TICKET_NO)
_TICKET_NO_RULE = ("ticket_no is 1 to 64 letters, digits, '-', '_' or '.', starting with a "
                   "letter or digit")


def _token(ctx: Ctx) -> str | None:
    header = ctx.info.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return accounts.token_by_hash(ctx.web.engine, auth.token_hash(value.strip()), ctx.now)


def _unauthorized() -> Response:
    response = problem(401, "a valid API token is required: Authorization: Bearer <token>")
    response.headers.append(("WWW-Authenticate", 'Bearer realm="huifang"'))
    return response


def _event(ctx: Ctx, required: str) -> Response:
    name = _token(ctx)
    if name is None:
        return _unauthorized()
    if not ctx.info.headers.get("content-type", "").startswith("application/json"):
        return problem(415, "send the event as application/json")
    try:
        payload = ctx.info.json()
    except BadInput:  # no parser's message: it says nothing the client can use
        return problem(400, "the body is not valid JSON")
    if not isinstance(payload, dict):
        return problem(400, "the body must be a JSON object of ticket fields")
    values, refused = ticket_fields(payload)
    if refused is not None:
        return problem(422, refused.reason, refused.field)
    if isinstance(values.get("ticket_no"), str) and values["ticket_no"].strip() \
            and not _TICKET_NO.match(values["ticket_no"].strip()):
        return problem(422, _TICKET_NO_RULE, "ticket_no")
    if not str(values.get(required) or "").strip():
        return problem(422, f"{required} is required for this event", required)
    result = apply_ticket_event(ctx.web.engine, values, f"api:{name}", ctx.now,
                                ctx.web.settings.phone.default_area_code)
    if result.outcome is Outcome.REJECTED:
        return problem(422, result.reason, result.field)
    ctx.web.changed()
    ticket_no = str(values["ticket_no"]).strip()
    log.info("API %s: %s event for %s: %s", name, required, ticket_no, result.outcome)
    replay = result.outcome in (Outcome.UNCHANGED, Outcome.STALE)
    return json_response({"ticket_no": ticket_no, "result": result.outcome.value,
                          "replay": replay, "import_id": result.import_id},
                         200 if replay else 201)


def closures(ctx: Ctx) -> Response:
    return _event(ctx, "closed_at")


def reopenings(ctx: Ctx) -> Response:
    return _event(ctx, "reopened_at")


def _status(ctx: Ctx, ticket_no: str) -> dict[str, Any] | Response:
    """The ticket's state, or the response that refuses it."""
    if _token(ctx) is None:
        return _unauthorized()
    if not _TICKET_NO.match(ticket_no):
        return problem(400, _TICKET_NO_RULE, "ticket_no")
    status = ticket_status(ctx.web.engine, ticket_no)
    return problem(404, f"no ticket {ticket_no!r}", "ticket_no") if status is None else status


def ticket(ctx: Ctx, ticket_no: str) -> Response:
    status = _status(ctx, ticket_no)
    return status if isinstance(status, Response) else json_response(status)


def evaluations(ctx: Ctx, ticket_no: str) -> Response:
    status = _status(ctx, ticket_no)
    if isinstance(status, Response):
        return status
    return json_response([{"closure_seq": c["seq"], **c["evaluation"]}
                          for c in status["closures"] if c["evaluation"] is not None])


def openapi(ctx: Ctx) -> Response:
    return Response(200, json.dumps(OPENAPI, ensure_ascii=False, indent=1).encode(),
                    "application/json; charset=utf-8")


# -- the document ----------------------------------------------------------------------
_STR = {"type": ["string", "null"]}
_TIME = r"^\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}(:\d{2})?$"  # 2026-11-25 16:00:00


def _field(name: str, label: str, required: bool) -> dict[str, Any]:
    schema: dict[str, Any] = ({"type": "string", "minLength": 1} if required
                              else {"type": ["string", "null"]})
    if name.endswith("_at"):
        schema = {**schema, "pattern": _TIME}
    if name == "ticket_no":
        schema = {**schema, "pattern": TICKET_NO}
    return {**schema, "description": label}
_ERROR = {"type": "object", "required": ["error"],
          "properties": {"error": {"type": "string"}, "field": {"type": "string"}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "not JSON, or not an object; a ticket number that cannot be one",
            401: "no valid token", 404: "no such ticket",
            415: "not application/json", 422: "a field is wrong; `field` names it"}
    return {str(c): {"description": text[c], "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for c in codes}


def _event_op(summary: str, required: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/TicketEvent"}
    present = {"required": [required], "properties": {
        required: {"type": "string", "minLength": 1, "pattern": _TIME}}}
    return {"summary": summary, "security": [{"token": []}],
            "description": "422 also answers a value the document cannot judge: a unit "
                           "the store does not know, a date in the future, times out of "
                           "order, a number that is not a phone number.",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"allOf": [schema, present]}}}},
            "responses": {
                "201": {"description": "applied", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/EventResult"}}}},
                "200": {"description": "already known: a replay, ignored", "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/EventResult"}}}},
                **_errors(400, 401, 415, 422)}}


_TICKET_PARAM = {"name": "ticket_no", "in": "path", "required": True,
                 "schema": {"type": "string", "minLength": 1, "pattern": TICKET_NO}}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "huifang API", "version": "1",
             "description": "Ticket events in, callback results out. Fields are those of "
                            "the import format (English names or the Chinese headers)."},
    "components": {
        "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": _ERROR,
            "TicketEvent": {
                "type": "object", "additionalProperties": False,
                "required": [c.name for c in TICKET_COLUMNS if c.required],
                "properties": {c.name: _field(c.name, c.label, c.required)
                               for c in TICKET_COLUMNS}},
            "EventResult": {"type": "object",
                            "required": ["ticket_no", "result", "replay"],
                            "properties": {
                                "ticket_no": {"type": "string"},
                                "result": {"enum": ["inserted", "updated", "unchanged",
                                                    "stale"]},
                                "replay": {"type": "boolean"},
                                "import_id": {"type": ["integer", "null"]}}},
            "Evaluation": {"type": "object",
                           "required": ["resolved", "satisfaction", "source"],
                           "properties": {
                               "closure_seq": {"type": "integer"},
                               "resolved": {"enum": ["yes", "no", "unknown"]},
                               "satisfaction": {"enum": ["satisfied", "basic",
                                                         "unsatisfied", "unknown"]},
                               "source": {"enum": ["agent", "auto", "supervisor"]},
                               "evaluated_at": _STR}},
            "Ticket": {"type": "object", "required": ["ticket_no", "status", "closures"],
                       "properties": {
                           "ticket_no": {"type": "string"}, "unit": {"type": "string"},
                           "status": {"type": "string"},
                           "closures": {"type": "array", "items": {"type": "object"}}}},
        }},
    "paths": {
        "/api/v1/closures": {"post": _event_op("a ticket was closed (办结)", "closed_at")},
        "/api/v1/reopenings": {"post": _event_op("a ticket was sent back (退回重办)",
                                                 "reopened_at")},
        "/api/v1/tickets/{ticket_no}": {"get": {
            "summary": "a ticket's closures, evaluations and callbacks",
            "security": [{"token": []}], "parameters": [_TICKET_PARAM],
            "responses": {"200": {"description": "the ticket", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Ticket"}}}},
                **_errors(400, 401, 404)}}},
        "/api/v1/tickets/{ticket_no}/evaluations": {"get": {
            "summary": "the evaluations of a ticket's closures",
            "security": [{"token": []}], "parameters": [_TICKET_PARAM],
            "responses": {"200": {"description": "evaluations", "content": {
                "application/json": {"schema": {"type": "array", "items": {
                    "$ref": "#/components/schemas/Evaluation"}}}}},
                **_errors(400, 401, 404)}}},
    },
}
