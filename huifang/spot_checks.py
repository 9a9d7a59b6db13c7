"""Spot checks (抽检) in the service: the daily draw and the accuracy alert.

`SpotCheckJob` runs every `[spot_checks] every_s` seconds of the clock (and once at
start), on the store's thread pool, never on the reactor: it draws the last
`catch_up_days` days up to yesterday (a draw already made stays as it is; the rule is in
`store.spot_rule`) and computes the machine's accuracy over the last `alert_days` days of
calls, which the metrics page reads from it (`huifang_spot_check_*`) without touching
the database while it is scraped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from twisted.internet.defer import Deferred, inlineCallbacks

from huifang.periodic import PeriodicJob
from huifang.spot_check_settings import SpotChecksSection
from scoring.accuracy import machine_accuracy
from store.spot_checks import DayDraw, draw_day

log = logging.getLogger(__name__)
NAMES = ("resolved", "satisfied", "both")


def draw_days(engine: Engine, section: SpotChecksSection, now: datetime,
              days: Iterable[date] | None = None) -> list[DayDraw]:
    """Draw each day (by default the last `catch_up_days` up to yesterday)."""
    if days is None:
        today = now.date()
        days = [today - timedelta(days=n) for n in range(section.catch_up_days, 0, -1)]
    return [draw_day(engine, day, section.rules(), now) for day in days]


def recent_accuracy(engine: Engine, section: SpotChecksSection, now: datetime
                    ) -> dict[str, Any]:
    """The accuracy of the last `alert_days` days of calls, today's included, with the
    floor: what the dashboard and the alert show."""
    end = now.date() + timedelta(days=1)
    return machine_accuracy(engine, end - timedelta(days=section.alert_days), end,
                            floor=section.alert_below)


class AccuracyCollector(Collector):
    """The last accuracy the job computed, as gauges (nothing before its first run)."""

    def __init__(self, last: Callable[[], dict[str, Any] | None]) -> None:
        self.last = last

    def collect(self) -> Iterable[Metric]:
        figures = self.last()
        if figures is None:
            return
        checked = GaugeMetricFamily("huifang_spot_check_checked", "Spot checks made of "
                                    "the last alert_days of automatic calls", labels=["question"])
        rate = GaugeMetricFamily("huifang_spot_check_agreement", "Share of spot checks "
                                 "agreeing with the machine", labels=["question"])
        upper = GaugeMetricFamily("huifang_spot_check_agreement_upper", "Upper bound of "
                                  "the agreement's Wilson 95% interval", labels=["question"])
        for name in NAMES:
            entry = figures[name]
            checked.add_metric([name], entry["checked"])
            if entry["rate"] is not None:
                rate.add_metric([name], entry["rate"])
                upper.add_metric([name], entry["interval"][1])
        alert = GaugeMetricFamily("huifang_spot_check_alert", "1 when the agreement's upper "
                                  "bound is below [spot_checks] alert_below")
        alert.add_metric([], 1.0 if figures.get("alert") else 0.0)
        yield from (checked, rate, upper, alert)


class SpotCheckJob(PeriodicJob):
    """The daily draw and the accuracy behind the alert, on `in_store`."""

    name = "spot checks"

    def __init__(self, engine: Engine, section: SpotChecksSection, now: Callable[[], datetime],
                 clock: Any, in_store: Callable[..., Deferred[Any]]) -> None:
        super().__init__(clock, section.every_s, at_start=True)
        self.engine, self.section, self.now, self.in_store = engine, section, now, in_store
        self.runs = 0
        self.accuracy: dict[str, Any] | None = None

    @inlineCallbacks
    def _run(self) -> Any:
        try:
            now = self.now()
            drawn = yield self.in_store(draw_days, self.engine, self.section, now)
            if self.stopping:
                return
            self.accuracy = yield self.in_store(recent_accuracy, self.engine,
                                                self.section, now)
        except Exception as exc:  # the database away: the next run tries again
            log.warning("spot checks: this run failed (%s); next in %.0f s", exc,
                        self.section.every_s)
            return
        self.runs += 1
        new = sum(d.drawn_now for d in drawn)
        if new:
            log.info("spot checks: %d calls drawn", new)
        if self.accuracy is not None and self.accuracy.get("alert"):
            log.warning("spot checks: the machine's agreement is below %.1f%% "
                        "(upper bound of its 95%% interval)", self.section.alert_below * 100)
