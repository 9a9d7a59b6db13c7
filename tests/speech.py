"""PocketSphinx with the shared Mandarin 8 kHz model, for checking rendered prompts.

Test support only: the product's recognisers live in ivr/ (a later issue).
"""

from __future__ import annotations

import difflib
import functools
import io
import os
import subprocess
import wave
from pathlib import Path

import numpy as np
import soxr

from ivr.sphinx import read_dictionary
from ivr.sphinx import segment as sphinx_segment

MODEL = Path(os.environ.get("HUIFANG_SHARED", Path(__file__).parents[2] / "shared")) / \
    "models/pocketsphinx-zh-8k/model"


@functools.cache
def dictionary() -> dict[str, str]:
    return read_dictionary(MODEL / "lm/zh_CN/mandarin_notone.dic")


def segment(text: str) -> list[str]:
    words = sphinx_segment(text, dictionary())
    if words is None:
        raise KeyError(f"{text!r} has a character that is not in the model's dictionary")
    return words


class SentenceRecogniser:
    """Decodes 8 kHz PCM against a grammar of whole sentences; returns the nearest one."""

    def __init__(self, sentences: dict[str, str]) -> None:
        from pocketsphinx import Decoder

        self.words = {key: segment(text) for key, text in sentences.items()}
        alternatives = " | ".join(f"( {' '.join(w)} )" for w in self.words.values())
        self.decoder = Decoder(hmm=str(MODEL / "hmm/zh/tdt_sc_8k"),
                               dict=str(MODEL / "lm/zh_CN/mandarin_notone.dic"),
                               samprate=8000, lm=None, loglevel="FATAL")
        self.decoder.add_jsgf_string("s", f"#JSGF V1.0;\ngrammar s;\npublic <s> = "
                                          f"{alternatives};\n")
        self.decoder.activate_search("s")

    def recognise(self, pcm: np.ndarray) -> tuple[str, str, float]:
        """(nearest sentence key, what was heard, similarity of the two)."""
        d = self.decoder
        d.start_utt()
        d.process_raw(pcm.astype("<i2").tobytes(), False, False)
        # The best path so far: the full-sentence grammar's final state is often not
        # reached on synthetic speech, but the path up to the end is what was heard.
        heard = d.hyp().hypstr.replace(" ", "") if d.hyp() else ""
        d.end_utt()
        scores = {key: difflib.SequenceMatcher(None, heard, "".join(w)).ratio()
                  for key, w in self.words.items()}
        best = max(scores, key=lambda k: scores[k])
        return best, heard, scores[best]


def espeak(text: str, voice: str, speed: int = 150, pad_s: float = 0.5) -> bytes:
    """8 kHz 16-bit PCM of espeak-ng speaking text, with silence either side."""
    out = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
                         capture_output=True, check=True, timeout=60).stdout
    with wave.open(io.BytesIO(out)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        rate = w.getframerate()
    pcm = soxr.resample(samples, rate, 8000).astype("<i2")
    pad = np.zeros(int(8000 * pad_s), "<i2")
    return bytes(np.concatenate([pad, pcm, pad]).tobytes())
