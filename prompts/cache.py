"""Content-addressed prompt audio on disk.

The key covers the text, the voice, rate and pitch, the engine's version and this
module's audio format, so a change to any of them renders anew. Files are written to a
temporary name and renamed into place: concurrent renders of the same text do not
collide, and a reader never sees a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from prompts.audio import RATE, Pcm, alaw_encode, read_wav, ulaw_encode, write_wav

AUDIO_FORMAT = "8k-mono-s16-v1"


@dataclass(frozen=True)
class CachedAudio:
    key: str
    wav: Path
    ulaw: Path
    alaw: Path

    @property
    def seconds(self) -> float:
        return self.ulaw.stat().st_size / RATE  # one byte per sample


def cache_key(*parts: object) -> str:
    blob = json.dumps([AUDIO_FORMAT, *parts], ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class PromptCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _paths(self, key: str) -> CachedAudio:
        base = self.root / key[:2] / key
        return CachedAudio(key, base.with_suffix(".wav"), base.with_suffix(".ulaw"),
                           base.with_suffix(".alaw"))

    def get(self, key: str) -> CachedAudio | None:
        paths = self._paths(key)
        done = all(p.exists() for p in (paths.wav, paths.ulaw, paths.alaw))
        return paths if done else None

    def put(self, key: str, pcm: Pcm) -> CachedAudio:
        paths = self._paths(key)
        paths.wav.parent.mkdir(parents=True, exist_ok=True)
        for target, write in ((paths.ulaw, lambda p: p.write_bytes(ulaw_encode(pcm))),
                              (paths.alaw, lambda p: p.write_bytes(alaw_encode(pcm))),
                              (paths.wav, lambda p: write_wav(p, pcm))):  # wav last: marker
            handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            os.close(handle)
            write(Path(tmp))
            os.replace(tmp, target)
        return paths

    def load(self, audio: CachedAudio) -> Pcm:
        samples, _ = read_wav(audio.wav)
        return samples  # type: ignore[return-value]
