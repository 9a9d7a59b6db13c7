"""Telephone audio: 8 kHz mono 16-bit PCM, and G.711 μ-law / A-law for RTP.

Resampling is soxr's (a proper band-limited resampler, so speech energy above 4 kHz is
filtered, not folded back). Silence at both ends is trimmed and loudness normalised to a
fixed RMS level with a peak ceiling, so no prompt clips and all play at one level.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

RATE = 8000
TARGET_RMS_DBFS = -20.0
PEAK_CEILING_DBFS = -1.0
SILENCE_DBFS = -45.0
MARGIN_S = 0.08
FULL_SCALE = 32768.0

Pcm = npt.NDArray[np.int16]


class AudioError(ValueError):
    """Audio that cannot be used as a prompt; the message says what is wrong."""


@dataclass(frozen=True)
class AudioInfo:
    rate: int
    channels: int
    sample_width: int
    seconds: float
    clipped_fraction: float


def dbfs(samples: npt.NDArray[np.floating] | Pcm) -> float:
    x = samples.astype(np.float64) / FULL_SCALE
    rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    return 20 * np.log10(rms) if rms > 0 else -np.inf


def trim_silence(x: npt.NDArray[np.float64], rate: int) -> npt.NDArray[np.float64]:
    """Drop leading and trailing frames quieter than SILENCE_DBFS, keeping a margin."""
    frame = max(1, rate // 100)  # 10 ms
    count = len(x) // frame
    if count == 0:
        return x
    frames = x[: count * frame].reshape(count, frame)
    level = 20 * np.log10(np.sqrt(np.mean(frames * frames, axis=1)) + 1e-12)
    loud = np.nonzero(level > SILENCE_DBFS)[0]
    if loud.size == 0:
        return x[:0]
    margin = int(MARGIN_S * rate)
    start = max(0, loud[0] * frame - margin)
    end = min(len(x), (loud[-1] + 1) * frame + margin)
    return x[start:end]


def to_telephone(samples: npt.NDArray[np.generic], rate: int) -> Pcm:
    """Any mono or (frames, channels) PCM at any rate to 8 kHz mono 16-bit, trimmed and
    normalised. Raises AudioError for silence."""
    x = samples.astype(np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if np.issubdtype(samples.dtype, np.integer):
        x = x / FULL_SCALE
    if rate != RATE:
        x = soxr.resample(x, rate, RATE, quality="HQ")
    x = trim_silence(x, RATE)
    rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    if rms < 10 ** (SILENCE_DBFS / 20):
        raise AudioError("the audio is silent")
    gain = 10 ** (TARGET_RMS_DBFS / 20) / rms
    peak = float(np.max(np.abs(x))) * gain
    ceiling = 10 ** (PEAK_CEILING_DBFS / 20)
    if peak > ceiling:
        gain *= ceiling / peak  # speech is peaky: the ceiling wins over the RMS target
    return np.clip(np.round(x * gain * FULL_SCALE), -32768, 32767).astype(np.int16)


# G.711 (ITU-T), vectorised after the reference C implementation: μ-law quantises a
# 14-bit value, A-law a 13-bit one, each against its own segment ends.
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159


def ulaw_encode(pcm: Pcm) -> bytes:
    x = pcm.astype(np.int32) >> 2
    mask = np.where(x < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(x), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = np.searchsorted(_ULAW_SEG_END, magnitude, side="left")
    value = np.where(segment >= 8, 0x7F,
                     (segment << 4) | ((magnitude >> (np.minimum(segment, 7) + 1)) & 0x0F))
    return ((value ^ mask) & 0xFF).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> Pcm:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    t = ((u & 0x0F) << 3) + _ULAW_BIAS
    t <<= (u & 0x70) >> 4
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def alaw_encode(pcm: Pcm) -> bytes:
    x = pcm.astype(np.int32) >> 3
    mask = np.where(x >= 0, 0xD5, 0x55)
    magnitude = np.where(x >= 0, x, -x - 1)
    segment = np.searchsorted(_ALAW_SEG_END, magnitude, side="left")
    shift = np.where(segment < 2, 1, np.minimum(segment, 7))
    value = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> shift) & 0x0F))
    return ((value ^ mask) & 0xFF).astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> Pcm:
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    segment = (a & 0x70) >> 4
    t = np.where(segment == 0, t + 8, np.where(segment == 1, t + 0x108,
                                                 (t + 0x108) << np.maximum(segment - 1, 0)))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def read_wav(path: Path) -> tuple[npt.NDArray[np.generic], AudioInfo]:
    """PCM samples and their description; AudioError for what `wave` cannot read."""
    try:
        with wave.open(str(path), "rb") as handle:
            rate, channels = handle.getframerate(), handle.getnchannels()
            width, frames = handle.getsampwidth(), handle.getnframes()
            raw = handle.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"not a PCM WAV file: {exc}") from exc
    dtype = {1: np.uint8, 2: np.int16, 4: np.int32}.get(width)
    if dtype is None:
        raise AudioError(f"{8 * width}-bit samples are not supported (use 16-bit PCM)")
    samples = np.frombuffer(raw, dtype=dtype)
    if width == 1:
        samples = ((samples.astype(np.int16) - 128) << 8).astype(np.int16)
    elif width == 4:
        samples = (samples >> 16).astype(np.int16)
    if channels > 1:
        samples = samples.reshape(-1, channels)
    flat = np.abs(samples.astype(np.int32)).ravel()
    clipped = float(np.mean(flat >= 32767)) if flat.size else 0.0
    info = AudioInfo(rate, channels, width, frames / rate if rate else 0.0, clipped)
    return samples, info


def write_wav(path: Path, pcm: Pcm, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.astype("<i2").tobytes())
