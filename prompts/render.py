"""Prompts to telephone audio: catalog text, recorded overrides, TTS, cache.

Fixed prompts are rendered once (`huifang prompts render`); per-ticket prompts when a
callback is scheduled. The dialer only reads finished audio from the cache.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from prompts.audio import AudioError, read_wav, to_telephone
from prompts.cache import CachedAudio, PromptCache, cache_key
from prompts.catalog import Catalog, PromptError
from prompts.normalize import (
    SpeechTextError,
    normalize,
    read_count,
    read_date,
    shorten,
    syllables,
)
from prompts.tts import EspeakWorker, TtsError, Voice

log = logging.getLogger(__name__)
SECONDS_PER_SYLLABLE = (0.12, 0.6)  # outside this, the engine did not read Mandarin
OVERRIDE_SECONDS = (0.3, 60.0)
MAX_CLIPPED = 0.001


@dataclass(frozen=True)
class RenderedPrompt:
    prompt_id: str
    text: str
    audio: CachedAudio
    source: str  # "tts", "recording" or "cache"


class PromptRenderer:
    def __init__(self, catalog: Catalog, cache: PromptCache, worker: EspeakWorker,
                 voice: Voice, *, hotline: str, city: str, summary_max_chars: int = 20,
                 overrides: Path | None = None) -> None:
        self.catalog, self.cache, self.worker, self.voice = catalog, cache, worker, voice
        self.hotline, self.city = hotline, city
        self.summary_max_chars, self.overrides = summary_max_chars, overrides

    def ticket_fields(self, *, received_at: datetime, summary: str | None,
                      category: str | None, unit: str | None = None, today: date,
                      count: int = 1, ordinal: int = 1) -> dict[str, object]:
        return {"hotline": self.hotline, "city": self.city,
                "date": read_date(received_at.date(), today),
                "summary": shorten(summary, self.summary_max_chars, category),
                "unit": unit or "", "count": read_count(count), "ordinal": read_count(ordinal)}

    def render(self, prompt_id: str, fields: Mapping[str, object] | None = None
               ) -> RenderedPrompt:
        prompt = self.catalog[prompt_id]
        recording = self.overrides / f"{prompt_id}.wav" if self.overrides else None
        if recording is not None and recording.exists() and prompt.fixed:
            return self._recording(prompt_id, recording)
        values = {"hotline": self.hotline, "city": self.city, **(fields or {})}
        text = prompt.text(values)
        try:
            return self._speak(prompt_id, text)
        except TtsError as exc:
            raise PromptError(f"prompt {prompt_id}: {exc}") from exc

    def say(self, text: str) -> RenderedPrompt:
        try:
            return self._speak("say", normalize(text))
        except (SpeechTextError, TtsError) as exc:
            raise PromptError(f"text {text!r}: {exc}") from exc

    def render_fixed(self) -> list[RenderedPrompt]:
        return [self.render(pid) for pid, p in sorted(self.catalog.prompts.items()) if p.fixed]

    def _speak(self, prompt_id: str, text: str) -> RenderedPrompt:
        v = self.voice
        key = cache_key("tts", self.worker.version, v.name, v.rate, v.pitch, text)
        cached = self.cache.get(key)
        if cached is not None:
            return RenderedPrompt(prompt_id, text, cached, "cache")
        samples, rate = self.worker.render(text, v)
        pcm = to_telephone(samples, rate)
        seconds = len(pcm) / 8000
        count = max(1, syllables(text))
        low, high = SECONDS_PER_SYLLABLE
        if not low * count <= seconds <= high * count + 1.0:
            raise TtsError(f"{seconds:.1f} s of audio for {count} syllables: "
                           "not Mandarin at a usable rate (is the voice cmn-latn-pinyin?)")
        log.info("rendered prompt %s (%.1f s)", prompt_id, seconds)
        return RenderedPrompt(prompt_id, text, self.cache.put(key, pcm), "tts")

    def _recording(self, prompt_id: str, path: Path) -> RenderedPrompt:
        data = path.read_bytes()
        key = cache_key("recording", hashlib.sha256(data).hexdigest())
        cached = self.cache.get(key)
        if cached is not None:
            return RenderedPrompt(prompt_id, f"(recording {path.name})", cached, "cache")
        try:
            samples, info = read_wav(path)
            if not OVERRIDE_SECONDS[0] <= info.seconds <= OVERRIDE_SECONDS[1]:
                raise AudioError(f"{info.seconds:.1f} s long; a prompt takes "
                                 f"{OVERRIDE_SECONDS[0]}-{OVERRIDE_SECONDS[1]:g} s")
            if info.clipped_fraction > MAX_CLIPPED:
                raise AudioError(f"{100 * info.clipped_fraction:.1f} % of samples are "
                                 "clipped; record it again at a lower level")
            pcm = to_telephone(samples, info.rate)
        except AudioError as exc:
            raise PromptError(f"prompt {prompt_id}: recording {path}: {exc}") from exc
        return RenderedPrompt(prompt_id, f"(recording {path.name})", self.cache.put(key, pcm),
                              "recording")
