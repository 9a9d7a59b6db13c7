"""Whether the holiday calendar covers the days ahead: a year that neither `[calendar]`
nor `chinese-calendar` knows is a Mon-Fri guess (no 春节, no 调休), so its deadlines and
calling days may be wrong. `huifang config check` and `huifang doctor` say so."""

from __future__ import annotations

from datetime import date, datetime

from store.models import HOTLINE_TZ
from store.workdays import unknown_years

HORIZON_DAYS = 60


def hotline_today() -> date:
    return datetime.now(HOTLINE_TZ).date()


def calendar_warning(today: date | None = None, days: int = HORIZON_DAYS) -> str | None:
    """None when every year of the next `days` days is known; else what to do."""
    years = unknown_years(today or hotline_today(), days)
    if not years:
        return None
    listed = ", ".join(str(y) for y in years)
    return (f"节假日未知 the next {days} days reach {listed}, which neither [calendar] nor "
            f"chinese-calendar knows: working days there are a Mon-Fri guess. Add the "
            f"year's 放假安排 to [calendar] (holidays = [\"{years[0]}-01-01\", ...], "
            f"workdays = [...] for 调休), or upgrade chinese-calendar")
