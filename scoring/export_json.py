"""The JSON report: a stable structure, documented in the README."""

from __future__ import annotations

import json
from typing import Any

from scoring.reasons import reason_rows
from scoring.report import RATE_NAMES, Report, UnitReport, definitions

FORMAT_VERSION = 1


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def unit_dict(u: UnitReport) -> dict[str, Any]:
    c, r = u.counts, u.rates
    return {
        "unit": u.info.name, "group": u.info.group, "parent": u.parent, "kind": u.info.kind,
        "dispatched": c.dispatched, "response_due": c.response_due,
        "signed_in_time": c.signed_in_time, "response_rate": _round(r.response_rate),
        "resolved": c.resolved, "unresolved": c.unresolved,
        "resolution_rate": _round(r.resolution_rate),
        "satisfied": c.satisfied, "basic_satisfied": c.basic_satisfied,
        "unsatisfied": c.unsatisfied, "satisfaction_rate": _round(r.satisfaction_rate),
        "closed": c.closed, "closed_on_time": c.closed_on_time,
        "on_time_closure_rate": _round(r.on_time_closure_rate),
        "evaluated": c.evaluated, "callback_rate": _round(r.callback_rate),
        "both_positive": c.both_positive, "one_negative": c.one_negative,
        "both_negative": c.both_negative, "score_total": _round(r.score_total),
        "composite": _round(r.composite, 4), "rank": u.rank, "card": u.card,
        "unranked_reason": u.unranked_reason,
        "intervals": {name: None if r.intervals[name] is None else
                      [_round(v) for v in r.intervals[name]]  # type: ignore[union-attr]
                      for name in RATE_NAMES},
        "change": {name: _round(u.change.get(name)) for name in RATE_NAMES},
        "reasons": u.reasons,
    }


def reasons_table(report: Report) -> list[dict[str, object]]:
    """The citizens' reasons by unit and category, as every report shows them."""
    return reason_rows([(u.info.name, u.reasons) for u in report.units])


def report_dict(report: Report) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "period": {"label": report.period.label, "kind": report.period.kind,
                   "start": report.period.start.isoformat(),
                   "end": report.period.end.isoformat(),
                   "previous": report.period.previous().label},
        "generated_at": report.generated_at.isoformat(timespec="seconds"),
        "scope": report.scope,
        "definitions": definitions(report.rules),
        "units": [unit_dict(u) for u in report.units],
        "excluded": [{**e, "approved_at": str(e["approved_at"])} for e in report.excluded],
        "top_unsatisfied_categories": report.top_categories,
        "trends": report.trends,
        # the machine's agreement with the supervisors' blind spot checks (抽检)
        "machine_accuracy": report.machine_accuracy,
        # the monthly analysis (月报) only: against last month and last year's same month
        **({"comparison": report.comparison} if report.comparison else {}),
    }


def write_json(report: Report, path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report_dict(report), handle, ensure_ascii=False, indent=2)
        handle.write("\n")
