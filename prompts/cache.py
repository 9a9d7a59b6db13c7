"""Content-addressed prompt audio on disk: one 8 kHz mono 16-bit WAV per prompt text.

The dialer encodes to the call's codec (G.711 μ-law or A-law) as it sends, so no encoded
copy is kept. The key covers the text, the voice, rate and pitch, the engine's version and this
module's audio format, so a change to any of them renders anew. Files are written to a
temporary name and renamed into place: concurrent renders of the same text do not
collide, and a reader never sees a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

from prompts.audio import Pcm, read_wav, write_wav

AUDIO_FORMAT = "8k-mono-s16-v1"


@dataclass(frozen=True)
class CachedAudio:
    key: str
    wav: Path

    @property
    def seconds(self) -> float:
        with wave.open(str(self.wav), "rb") as handle:  # reads the header only
            return handle.getnframes() / handle.getframerate()


def cache_key(*parts: object) -> str:
    blob = json.dumps([AUDIO_FORMAT, *parts], ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class PromptCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _audio(self, key: str) -> CachedAudio:
        return CachedAudio(key, (self.root / key[:2] / key).with_suffix(".wav"))

    def get(self, key: str) -> CachedAudio | None:
        audio = self._audio(key)
        return audio if audio.wav.exists() else None

    def put(self, key: str, pcm: Pcm) -> CachedAudio:
        audio = self._audio(key)
        audio.wav.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=audio.wav.parent, prefix=".tmp-")
        os.close(handle)
        write_wav(Path(tmp), pcm)
        os.replace(tmp, audio.wav)
        return audio

    def load(self, audio: CachedAudio) -> Pcm:
        samples, _ = read_wav(audio.wav)
        return samples  # type: ignore[return-value]
