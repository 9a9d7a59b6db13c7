"""The telephone channel a citizen's answer crosses: background noise at a given SNR,
300-3400 Hz band-pass, 8 kHz, and a G.711 μ-law round trip. Seeded: the same clip and
seed always give the same audio. Also the off-script sounds: silence, noise, breathing
and a television in the room."""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
from scipy import signal

from console.speech import pcm16
from prompts.audio import ulaw_decode, ulaw_encode

RATE = 8000
SPEECH_DBFS = -20.0  # a caller's level on the trunk
Float = npt.NDArray[np.float64]


@cache
def _band() -> npt.NDArray[np.float64]:
    return np.asarray(signal.butter(6, [300, 3400], btype="bandpass", fs=RATE, output="sos"))


def _active_rms(x: Float) -> float:
    """RMS over the louder half of 20 ms frames: the speech, not the pauses around it."""
    n = len(x) // 160
    if n == 0:
        return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0
    frames = np.sqrt(np.mean(x[:n * 160].reshape(n, 160) ** 2, axis=1))
    loud = np.sort(frames)[n // 2:]
    return float(np.sqrt(np.mean(loud ** 2)))


def pink_noise(n: int, rng: np.random.Generator) -> Float:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    noise = np.fft.irfft(spectrum, n)
    return np.asarray(noise / (np.std(noise) or 1.0), dtype=np.float64)


def telephone(speech: Float, snr_db: float | None, seed: int, pad_s: float = 0.4,
              is_speech: bool = True) -> bytes:
    """8 kHz float audio -> 16-bit PCM bytes as they arrive from the trunk, with silence
    either side (the endpointer needs it) and pink background noise at `snr_db`
    (None: no noise). Speech is brought to a caller's level first; other sounds keep
    theirs (silence stays quiet), and their noise is set against that same level."""
    rng = np.random.default_rng(seed)
    pad = np.zeros(int(pad_s * RATE))
    x = np.concatenate([pad, speech, pad])
    level = _active_rms(speech)
    if is_speech and level > 0:
        x = x * (10 ** (SPEECH_DBFS / 20) / level)
    if snr_db is not None:  # measured in the telephone band, where the recogniser hears it
        noise = signal.sosfilt(_band(), pink_noise(len(x), rng))
        noise /= np.sqrt(np.mean(noise * noise)) or 1.0
        x = x + noise * 10 ** ((SPEECH_DBFS - snr_db) / 20)
    x = signal.sosfilt(_band(), x)
    return bytes(ulaw_decode(ulaw_encode(pcm16(x))).astype("<i2").tobytes())


def measured_snr(clean: Float, noisy: Float) -> float:
    """Speech level (its loud half, as the channel sets it) over the added noise, in dB."""
    noise = noisy - clean
    return 20 * float(np.log10(_active_rms(clean) / np.sqrt(np.mean(noise ** 2))))


def silence(seconds: float, rng: np.random.Generator) -> Float:
    """A quiet line: -70 dBFS of hiss, as an open line with nobody speaking."""
    return rng.standard_normal(int(seconds * RATE)) * 10 ** (-70 / 20)


def noise(seconds: float, rng: np.random.Generator) -> Float:
    return pink_noise(int(seconds * RATE), rng) * 10 ** (-25 / 20)


def breathing(seconds: float, rng: np.random.Generator) -> Float:
    """Breaths: band-limited noise bursts, about 1.2 s in and out every 3 s."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    envelope = np.clip(np.sin(2 * np.pi * t / 3.0), 0, None) ** 2
    sos = signal.butter(4, [200, 1500], btype="bandpass", fs=RATE, output="sos")
    burst = signal.sosfilt(sos, rng.standard_normal(n))
    return np.asarray(burst / (np.std(burst) or 1.0) * envelope * 10 ** (-30 / 20))


def television(speech: Float, seconds: float, rng: np.random.Generator) -> Float:
    """Someone talking on a television across the room, with music under it: distant,
    muffled speech that nobody is saying to us."""
    n = int(seconds * RATE)
    talk = np.resize(speech, n) if len(speech) else np.zeros(n)
    sos = signal.butter(2, 1800, btype="lowpass", fs=RATE, output="sos")
    talk = signal.sosfilt(sos, talk)
    talk = talk / (_active_rms(talk) or 1.0) * 10 ** (-32 / 20)
    t = np.arange(n) / RATE
    chords = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28)) for f in (220, 277, 330))
    music = np.asarray(chords) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t)) * 10 ** (-40 / 20)
    return np.asarray(talk + music, dtype=np.float64)
