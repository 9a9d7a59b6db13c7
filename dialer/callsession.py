"""One callback call, for real: SIP signalling, media, the pure call flow (`ivr.flow`),
endpointing and recognition, wired together on the reactor.

The session turns what the network and the recogniser report into flow events, and the
flow's actions into playback, listening, recording marks and saved answers. Answers go to
`on_answer` the moment the flow takes them. Recognition runs in the recognition pool;
its results come back to the reactor thread. Carrier announcements are checked on early
media while the call rings (each stretch of voice, as it ends: one recognised cancels the
call at once, freeing the channel), on all of it if the call ended unanswered first, and
on the first seconds after the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred

from dialer.earlylistener import PREROLL_BYTES, EarlyListener
from dialer.media import FRAME_BYTES, MediaSession, StereoRecorder
from dialer.mediacall import MediaCall
from dialer.rtcpsession import RtcpSummary
from dialer.sipudp import CallResult, DelayedCall
from dialer.trunk import Dialer
from ivr import flow
from ivr.announcements import Announcement, announcement_grammar, classify
from ivr.confirm import CONFIRM_GRAMMAR, ConfirmSettings, confirmation_of, doubted_answer
from ivr.endpoint import Endpointer, EndpointSettings, Event
from ivr.intents import Intent, Policy, Question
from ivr.pool import Recognition, RecognitionStream
from ivr.recognition import Hypothesis, complete_phrases, grammar_for
from ivr.understand import DEFAULT_POLICY, understand_hypotheses, understand_keys

log = logging.getLogger(__name__)
ANNOUNCEMENT_AFTER_ANSWER_S = 6.0  # carriers that answer first speak within this
MIN_EARLY_AUDIO_S = 1.0
BYTES_PER_S = 16000  # 16-bit PCM at 8 kHz, as the recording's left channel
EARLY_POLL_S = 0.1  # how often the early media heard so far is looked at while ringing


@dataclass(frozen=True)
class SessionSettings:
    accept: float = 0.5
    no_input_s: float = 5.0
    media_silence_s: float = 10.0  # no RTP at all for this long after answer: media failure
    max_call_s: float = 300.0
    endpoint: EndpointSettings = field(  # the no-input timer is the session's own
        default_factory=lambda: EndpointSettings(no_input_ms=10**9))
    policy: Policy = DEFAULT_POLICY
    margin: float = 0.05
    announcement_after_answer: bool = True
    confirm: ConfirmSettings = field(default_factory=ConfirmSettings)  # doubted: read back


@dataclass
class CallReport:
    sip: CallResult | None = None
    flow_outcome: flow.CallOutcome | None = None
    announcement: Announcement | None = None
    heard: str = ""  # the announcement or the words that decided an outcome of its own
    reason_spans: dict[int, tuple[float, float]] = field(default_factory=dict)
    turn_latencies_ms: list[float] = field(default_factory=list)
    # each latency's parts, in ms: the end point's wait after the voice stopped, the
    # recogniser's answer after the end point (queue, decode, the hop back), the flow to
    # the next prompt
    turn_parts_ms: list[tuple[float, float, float]] = field(default_factory=list)
    digits: str = ""
    recording: str | None = None
    rtcp: RtcpSummary | None = None  # what RTCP measured; None: RTCP off or never set up

    @property
    def answered(self) -> bool:
        return self.sip is not None and self.sip.outcome == "answered"


Prompts = Mapping[tuple[str, int | None], bytes]


@dataclass(frozen=True)
class Heard:
    """Whatever the citizen said or keyed during a question, taken or not: the review
    screen shows every turn, not only the answers saved."""

    ticket: int
    question: Question | None  # None: the reason
    kind: str  # "speech" or "key"
    text: str
    confidence: float
    intent: Intent
    # where the audio decoded for this turn lies in the call's recording, in seconds from
    # the answer (the recording's start): the speech with its pre-roll to the end point;
    # None for a key
    span: tuple[float, float] | None = None


class CallSession:
    def __init__(self, reactor: Any, dialer: Dialer, target: str, tickets: int,
                 prompts: Prompts, *, recognition: Recognition | None,
                 recording: Path | None = None, call_id: str = "",
                 on_answer: Callable[[flow.SaveAnswer], None] = lambda _: None,
                 on_answered: Callable[[], None] = lambda: None,
                 on_heard: Callable[[Heard], None] = lambda _: None,
                 session: SessionSettings = SessionSettings()) -> None:
        self.reactor, self.prompts = reactor, prompts
        self.pool, self.on_answer, self.on_answered = recognition, on_answer, on_answered
        self.on_heard = on_heard
        self.cfg = session
        self.state = flow.start(tickets, session.accept)
        self.report = CallReport(recording=str(recording) if recording else None)
        recorder = StereoRecorder(recording) if recording else None
        self.media = MediaSession(reactor, recorder=recorder, on_audio=self._heard,
                                  on_digit=self._digit)
        self.done: Deferred[CallReport] = Deferred()
        self._listen: flow.Listen | None = None
        self._endpointer: Endpointer | None = None
        self._preroll = bytearray()
        self._complete: frozenset[str] = frozenset()
        self._stream: RecognitionStream | None = None
        self._decoding = False
        self._no_input: DelayedCall | None = None
        self._last_play: Deferred[bool] | None = None
        self._speech_ended_at: float | None = None
        self._endpointed_at = self._recognised_at = 0.0  # this turn's, reactor seconds
        self._answered_at: float | None = None
        self._reason_started: dict[int, float] = {}
        self._heard_bytes = 0  # the citizen's audio since the answer: the recording's clock
        self._turn_from_s: float | None = None
        self._turn_span: tuple[float, float] | None = None
        self._announcement: RecognitionStream | None = None
        self._announcement_bytes = 0
        self._received_mark = 0
        self._early = EarlyListener()
        self.call = MediaCall(dialer, self.media, target, call_id=call_id,
                              on_answered=self._sip_answered)

    @property
    def call_id(self) -> str:
        return self.call.call_id

    # -- start and end -------------------------------------------------------------------
    def start(self) -> Deferred[CallReport]:
        self.call.start().addCallback(self._sip_ended)
        if self.pool is not None:
            self.reactor.callLater(EARLY_POLL_S, self._watch_early)
        return self.done

    def hangup(self) -> None:
        self.call.hangup()

    def _sip_ended(self, result: CallResult) -> None:
        self.report.sip = result
        self.report.rtcp = self.call.rtcp_summary
        self._cancel_timer()
        if self.state.phase is not flow.Phase.ENDED and self._answered_at is not None:
            self._feed(flow.HungUp())
        self.media.stop()
        self.report.digits = "".join(self.media.digits.digits)
        self._early.stop()
        for stream in (self._stream, self._announcement):
            if stream is not None:
                stream.close()
        self._stream = self._announcement = None
        if self.report.announcement is None and not self._answered_at \
                and len(self.media.early) >= MIN_EARLY_AUDIO_S * 16000 \
                and self.pool is not None:
            early = self.pool.open(self.call_id + "/early", announcement_grammar())
            early.feed(bytes(self.media.early[:len(self.media.early) // 2 * 2]))
            self._on_future(early.finish(), self._early_classified)
            early.close()
            return
        self._finish()

    # -- early media, while ringing -------------------------------------------------------
    def _watch_early(self) -> None:
        """Every EARLY_POLL_S while the call rings: the early audio that came since, to
        the endpointer; a stretch of voice that ended goes to the recogniser."""
        if self.report.sip is not None or self._answered_at is not None \
                or self.pool is None or self.report.announcement is not None:
            self._early.stop()
            return
        self._early.take(self.media.early)
        self._judge_early()
        self.reactor.callLater(EARLY_POLL_S, self._watch_early)

    def _judge_early(self) -> None:
        """The next stretch of early voice to the recogniser, one at a time."""
        if self._early.deciding or not self._early.stretches or self.pool is None:
            return
        self._early.deciding = True
        self._early.judged += 1
        stream = self.pool.open(self.call_id + "/ringing", announcement_grammar())
        stream.feed(self._early.stretches.popleft())
        self._on_future(stream.finish(), self._early_heard)
        stream.close()

    def _early_heard(self, hypothesis: Hypothesis | BaseException) -> None:
        self._early.deciding = False
        if self.report.sip is not None or self._answered_at is not None:
            return  # the call ended (the whole early media is judged) or was answered
        meaning = classify(hypothesis.text) if isinstance(hypothesis, Hypothesis) \
            and hypothesis.confidence >= self.cfg.accept else None
        if meaning is None or not isinstance(hypothesis, Hypothesis):
            self._judge_early()
            return
        log.info("call %s: carrier announcement while ringing (%s): cancelling",
                 self.call_id, meaning)
        self.report.announcement, self.report.heard = meaning, hypothesis.text
        self._early.stop()
        self.call.hangup(f"carrier announcement: {meaning}")

    def _early_classified(self, hypothesis: Hypothesis | BaseException) -> None:
        if isinstance(hypothesis, Hypothesis) and hypothesis.text \
                and hypothesis.confidence >= self.cfg.accept:
            self.report.announcement = classify(hypothesis.text)
            self.report.heard = hypothesis.text
        self._finish()

    def _finish(self) -> None:
        if not self.done.called:
            log.info("call %s: report %s/%s", self.call_id,
                     self.report.sip.outcome if self.report.sip else None,
                     self.report.flow_outcome)
            self.done.callback(self.report)

    # -- SIP -----------------------------------------------------------------------------
    def _sip_answered(self) -> None:
        """The media already points at the callee and runs (`MediaCall`)."""
        self._answered_at = self.reactor.seconds()
        self._early.stop()
        self.on_answered()
        if self.pool is not None and self.cfg.announcement_after_answer:
            self._announcement = self.pool.open(self.call_id + "/announcement",
                                                announcement_grammar())
        self.reactor.callLater(self.cfg.max_call_s, self.hangup)
        self.reactor.callLater(self.cfg.media_silence_s, self._watch_media)
        self._feed(flow.Answered())

    def _watch_media(self) -> None:
        if self.state.phase is flow.Phase.ENDED or self.report.sip is not None:
            return
        # audio delivered (or a key), not packets received: packets that all fall on the
        # floor (a stream the jitter buffer cannot place, a source not latched) are no media
        delivered = self.media.stats.delivered + len(self.media.digits.digits)
        if delivered == self._received_mark:
            self._feed(flow.MediaFailure("no audio from the citizen for "
                                         f"{self.cfg.media_silence_s:g} s"))
            return
        self._received_mark = delivered
        self.reactor.callLater(self.cfg.media_silence_s, self._watch_media)

    # -- the flow ------------------------------------------------------------------------
    def _feed(self, event: flow.Event) -> None:
        before = self.state.phase
        self.state, actions = flow.step(self.state, event)
        log.debug("call %s: %s -> %s", self.call_id, event, actions)
        if self.state.phase is not before:
            log.info("call %s: %s -> %s on %s", self.call_id, before, self.state.phase,
                     type(event).__name__)
        for action in actions:
            self._run(action)

    def _run(self, action: flow.Action) -> None:
        now = self.reactor.seconds()
        if isinstance(action, flow.Play):
            pcm = self.prompts.get((action.prompt, action.ticket)) \
                or self.prompts.get((action.prompt, None))
            if pcm is None:
                log.error("call %s: prompt %s has no audio", self.call_id, action.prompt)
                self._feed(flow.MediaFailure(f"prompt {action.prompt} has no audio"))
                return
            if self._speech_ended_at is not None:  # the answer's turn, to the next prompt
                ended = self._speech_ended_at
                self.report.turn_latencies_ms.append((now - ended) * 1000)
                endpointed = max(ended, self._endpointed_at)
                recognised = max(endpointed, self._recognised_at)
                self.report.turn_parts_ms.append((
                    round((endpointed - ended) * 1000, 1),
                    round((recognised - endpointed) * 1000, 1),
                    round((now - recognised) * 1000, 1)))
                self._speech_ended_at = None
            played = self.media.play(pcm)
            self._last_play = played
            prompt = action.prompt
            played.addCallback(lambda finished: self._prompt_done(prompt, finished))
        elif isinstance(action, flow.StopPlayback):
            self.media.stop_playback()
        elif isinstance(action, flow.Listen):
            self._start_listening(action)
        elif isinstance(action, flow.StartRecording):
            self._reason_started[action.ticket] = now - (self._answered_at or now)
        elif isinstance(action, flow.StopRecording):
            start = self._reason_started.pop(action.ticket, None)
            if start is not None:
                self.report.reason_spans[action.ticket] = (
                    round(start, 2), round(now - (self._answered_at or now), 2))
        elif isinstance(action, flow.SaveAnswer):
            self.on_answer(action)
        elif isinstance(action, flow.EndCall):
            self.report.flow_outcome = action.outcome
            self._stop_listening()
            if self._last_play is not None and not self._last_play.called:
                self._last_play.addBoth(lambda _: self.hangup())
            else:
                self.hangup()

    def _prompt_done(self, prompt: str, finished: bool) -> None:
        if not finished:
            return
        self._feed(flow.PromptFinished(prompt))
        if self._listen is not None and self.state.playing is None \
                and self._endpointer is not None and not self._endpointer.started:
            self._arm_no_input()

    # -- listening -----------------------------------------------------------------------
    def _start_listening(self, listen: flow.Listen) -> None:
        self._cancel_timer()
        self._listen = listen
        self._turn_from_s = self._turn_span = None
        self._endpointer = Endpointer(self.cfg.endpoint)
        self._preroll.clear()
        self._decoding = False
        if listen.question is not None and not listen.keys_only and self.pool is not None:
            grammar = CONFIRM_GRAMMAR if listen.confirming else grammar_for(listen.question)
            self._complete = complete_phrases(grammar)
            if self._stream is None:
                self._stream = self.pool.open(self.call_id, grammar, self._partial_heard)
            else:
                self._stream.reset(grammar)
        if self.state.playing is None:
            self._arm_no_input()

    def _partial_heard(self, hypothesis: Hypothesis) -> None:
        """From the recognition thread: a whole answer heard ends the turn sooner."""
        if hypothesis.text in self._complete:
            self.reactor.callFromThread(self._answer_complete, hypothesis.text)

    def _answer_complete(self, text: str) -> None:
        if self._endpointer is not None and self._endpointer.started \
                and text in self._complete:
            self._endpointer.complete()

    def _stop_listening(self) -> None:
        self._listen = None
        self._endpointer = None
        self._cancel_timer()

    def _arm_no_input(self) -> None:
        self._cancel_timer()
        self._no_input = self.reactor.callLater(self.cfg.no_input_s, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._no_input is not None and self._no_input.active():
            self._no_input.cancel()
        self._no_input = None

    def _timed_out(self) -> None:
        self._no_input = None
        if self._listen is None or self._decoding:
            return
        self._stop_listening()
        self._feed(flow.NoInput())

    def _heard(self, pcm: bytes) -> None:
        """Audio from the citizen (after the answer), in whatever packet size came."""
        if self._announcement is not None:
            self._announcement.feed(pcm)
            self._announcement_bytes += len(pcm)
            if self._announcement_bytes >= ANNOUNCEMENT_AFTER_ANSWER_S * 16000:
                stream, self._announcement = self._announcement, None
                self._on_future(stream.finish(), self._answer_classified)
                stream.close()
        at = self._heard_bytes  # where this audio starts in the recording (bytes)
        self._heard_bytes += len(pcm)
        if self._listen is None or self._endpointer is None or self._decoding:
            return
        if self._listen.keys_only:
            return  # only a key or the no-input timer can settle this turn
        decode = self._listen.question is not None and self._stream is not None
        heard = bytearray()
        for start in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
            frame = pcm[start:start + FRAME_BYTES]
            frame_end = (at + start + FRAME_BYTES) / BYTES_PER_S
            speaking = self._endpointer.started
            point = self._endpointer.feed(frame)
            if speaking:
                heard += frame
            else:  # before the answer: only a short pre-roll is kept for the recogniser
                self._preroll += frame
                del self._preroll[:max(0, len(self._preroll) - PREROLL_BYTES)]
            if point is None:
                continue
            if point.event is Event.SPEECH_STARTED:
                self._cancel_timer()
                self._turn_from_s = max(0.0, frame_end - len(self._preroll) / BYTES_PER_S)
                heard += self._preroll
                self._preroll.clear()
                if self._listen.question is not None:
                    self._feed(flow.SpeechStarted())
            else:  # the answer ended (or ran too long): when the voice actually stopped
                if decode and heard and self._stream is not None:
                    self._stream.feed(bytes(heard))
                behind = (self._endpointer.now_ms - point.at_ms) / 1000
                self._endpointed_at = self._recognised_at = self.reactor.seconds()
                self._speech_ended_at = self._endpointed_at - behind
                if self._turn_from_s is not None:
                    self._turn_span = (round(self._turn_from_s, 2), round(frame_end, 2))
                self._end_of_speech()
                return
        if decode and heard and self._stream is not None:
            self._stream.feed(bytes(heard))

    def _end_of_speech(self) -> None:
        listen = self._listen
        if listen is None:
            return
        if listen.question is None:  # the reason was said
            self._stop_listening()
            self._feed(flow.Recognised(Intent.UNCLEAR, 0.0))
            return
        if self._stream is None:  # no recogniser at all: the flow goes on to keys
            self._stop_listening()
            self._feed(flow.Recognised(Intent.UNCLEAR, 0.0))
            return
        self._decoding = True
        question = listen.question
        self._on_future(self._stream.finish(),
                        lambda result: self._recognised(question, result))

    def _recognised(self, question: Question, result: Hypothesis | BaseException) -> None:
        self._decoding = False
        self._recognised_at = self.reactor.seconds()
        if self._listen is None or self._listen.question is not question:
            return  # the flow moved on (a key, a hang-up) while the engine decoded
        confirming = self._listen.confirming
        self._stop_listening()
        if isinstance(result, BaseException):
            log.warning("call %s: recognition failed: %s", self.call_id, result)
            self._feed(flow.Confirmation(None) if confirming
                       else flow.Recognised(Intent.UNCLEAR, 0.0))
            return
        if confirming:
            yes = confirmation_of(result, self.cfg.confirm)
            log.info("call %s: heard %r (%.2f) to the read-back: %s", self.call_id,
                     result.text or result.heard, result.confidence, yes)
            self._feed(flow.Confirmation(yes, result.text or result.heard))
            return
        understood = understand_hypotheses(result.text, result.confidence,
                                           result.alternatives, question,
                                           self.cfg.margin, self.cfg.policy)
        log.info("call %s: heard %r (%.2f) for %s: %s %.2f", self.call_id, result.text,
                 result.confidence, question, understood.intent, understood.confidence)
        self.on_heard(Heard(self.state.ticket, question, "speech", result.text,
                            understood.confidence, understood.intent, self._turn_span))
        if understood.intent in (Intent.WRONG_PERSON, Intent.CALL_LATER):
            self.report.heard = result.text
        candidate = doubted_answer(result, understood.intent, understood.confidence,
                                   question, self.cfg.accept, self.cfg.confirm,
                                   self.cfg.policy)
        self._feed(flow.Recognised(understood.intent, understood.confidence, understood.also,
                                   result.text or result.heard, candidate))

    def _answer_classified(self, result: Hypothesis | BaseException) -> None:
        if not isinstance(result, Hypothesis) or not result.text \
                or result.confidence < self.cfg.accept:
            return
        meaning = classify(result.text)
        if meaning is None or self.state.phase is flow.Phase.ENDED:
            return
        log.info("call %s: carrier announcement after answer: %s", self.call_id, result.text)
        self.report.announcement, self.report.heard = meaning, result.text
        self._stop_listening()
        self.state = flow.FlowState(tickets=self.state.tickets, phase=flow.Phase.ENDED)
        self.media.stop_playback()
        self.hangup()

    def _digit(self, digit: str) -> None:
        if self._answered_at is None or self.state.phase is flow.Phase.ENDED:
            return
        self._cancel_timer()
        if self.state.phase is flow.Phase.ASKING:
            understood = understand_keys(digit, self.state.question)
            self.on_heard(Heard(self.state.ticket, self.state.question, "key", digit, 1.0,
                                understood.intent))
        if self._listen is not None and self._listen.question is not None:
            self._stop_listening()
        self._feed(flow.Digit(digit))

    # -- threads to the reactor ----------------------------------------------------------
    def _on_future(self, future: Future[Any], then: Callable[[Any], None]) -> None:
        def landed(done: Future[Any]) -> None:
            error = done.exception()
            self.reactor.callFromThread(then, error if error is not None else done.result())

        future.add_done_callback(landed)
