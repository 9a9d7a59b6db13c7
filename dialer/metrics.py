"""Prometheus metrics of the dialer, on a registry of their own (one per service, so
tests can make several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls_in_progress = Gauge("huifang_calls_in_progress", "Calls being made now",
                                       registry=r)
        self.channels = Gauge("huifang_channels", "Trunk channels configured", registry=r)
        self.attempts = Counter("huifang_attempts", "Call attempts by outcome", ["outcome"],
                                registry=r)
        self.answers = Counter("huifang_answers", "Answers taken, by question and intent",
                               ["question", "intent", "source"], registry=r)
        self.confidence = Histogram(
            "huifang_recognition_confidence", "Confidence of spoken answers",
            buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0), registry=r)
        self.prompts = Counter("huifang_prompts", "Prompts prepared, by where the audio came "
                               "from (cache, tts, recording)", ["source"], registry=r)
        self.scheduler_lag = Gauge("huifang_scheduler_lag_seconds",
                                   "How late the last scheduler job ran", registry=r)
        self.misfires = Counter("huifang_scheduler_misfires",
                                "Scheduler runs dropped because they were late", registry=r)
        self.turn_latency = Histogram(
            "huifang_turn_latency_seconds",
            "From the end of the citizen's voice to the next prompt",
            buckets=(0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0), registry=r)
        self.due = Gauge("huifang_callbacks_due", "Callbacks due now (at the last tick)",
                         registry=r)
        self.errors = Counter("huifang_errors", "Errors by where they happened", ["where"],
                              registry=r)
