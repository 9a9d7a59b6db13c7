"""Prometheus metrics of the dialer, on a registry of their own (one per service, so
tests can make several)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from dialer.rtcpsession import RtcpSummary


class _Counts(Collector):
    """Counts kept in a plain dict by their owner, read when scraped: the SIP endpoint's
    `dropped` (no Prometheus on the datagram path) and the recogniser pool's restarts and
    lost turns (counted under its own lock, in its own threads)."""

    def __init__(self, name: str, text: str,
                 counts: Callable[[], Mapping[str, int]]) -> None:
        self.name, self.text, self.counts = name, text, counts

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.name, self.text, labels=["reason"])
        for reason, count in sorted(dict(self.counts()).items()):
            family.add_metric([reason], count)
        yield family


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
            buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0), registry=r)
        self.due = Gauge("huifang_callbacks_due", "Callbacks due now (at the last tick)",
                         registry=r)
        self.errors = Counter("huifang_errors", "Errors by where they happened", ["where"],
                              registry=r)
        self.rtcp_jitter = Histogram(
            "huifang_rtcp_jitter_seconds", "Interarrival jitter of the citizen's audio, per "
            "call (RTCP, RFC 3550 A.8)", buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.04,
                                                  0.08, 0.16, 0.32), registry=r)
        self.rtcp_rtt = Histogram(
            "huifang_rtcp_rtt_seconds", "Round trip to the trunk, per call, from its RTCP "
            "reports on ours", buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6),
            registry=r)
        self.rtcp_lost = Counter("huifang_rtcp_packets_lost", "RTP packets of the citizens' "
                                 "audio lost on the way (RTCP)", registry=r)
        self.rtcp_expected = Counter("huifang_rtcp_packets_expected", "RTP packets of the "
                                     "citizens' audio expected (RTCP; lost / expected is "
                                     "the loss rate)", registry=r)

    def observe_rtcp(self, summary: RtcpSummary) -> None:
        """One ended call's RTCP figures."""
        if summary.jitter_ms is not None:
            self.rtcp_jitter.observe(summary.jitter_ms / 1000)
        if summary.rtt_ms is not None:
            self.rtcp_rtt.observe(summary.rtt_ms / 1000)
        self.rtcp_lost.inc(summary.packets_lost or 0)
        self.rtcp_expected.inc(summary.packets_expected)

    def watch_sip_drops(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Export a SIP endpoint's drop counts: `metrics.watch_sip_drops(lambda:
        dialer.endpoint.dropped)`. Once per registry."""
        self.registry.register(_Counts(
            "huifang_sip_dropped", "SIP datagrams that changed nothing, by reason "
            "(damaged, foreign_source, no_transaction, ...)", counts))

    def watch_recognisers(self, restarts: Callable[[], Mapping[str, int]],
                          turns_lost: Callable[[], Mapping[str, int]]) -> None:
        """Export a recogniser process pool's counts (`ProcessRecognitionPool.restarts`
        and `.turns_lost`, by reason: died, hung, start, backlog). Once per registry."""
        self.registry.register(_Counts(
            "huifang_recogniser_restarts", "Recogniser worker processes replaced, by why",
            restarts))
        self.registry.register(_Counts(
            "huifang_recognition_turns_lost", "Answers whose audio a recogniser worker "
            "lost (asked again), by why", turns_lost))
