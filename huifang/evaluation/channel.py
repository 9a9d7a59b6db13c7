"""The telephone channel a citizen's answer crosses: background noise of some kind at a
given SNR, 300-3400 Hz band-pass, 8 kHz, optional clipping, a G.711 round trip (μ-law or
A-law) and optional packet loss with concealment. Seeded: the same clip and seed always
give the same audio. Also the off-script sounds: silence, noise, breathing and a
television in the room.

Noise kinds (`NOISES`): white and pink (broadband: what makes webrtcvad call everything
voice), babble (other people talking, built from real Mandarin clips), hum (50 Hz mains
with its odd harmonics, as a bad line buzzes)."""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
from scipy import signal

from huifang.speech import pcm16
from prompts.audio import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

RATE = 8000
SPEECH_DBFS = -20.0  # a caller's level on the trunk
Float = npt.NDArray[np.float64]
NOISES = ("pink", "white", "babble", "hum")
CODECS = ("ulaw", "alaw")
FRAME = 160  # 20 ms at 8 kHz: one RTP packet
_babble_sources: list[Float] = []


def set_babble_sources(clips: list[Float]) -> None:
    """Real speech (8 kHz float) that babble noise is mixed from; without any, babble
    falls back to speech-shaped noise modulated like syllables."""
    _babble_sources[:] = [c for c in clips if len(c) > RATE // 2]


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


def white_noise(n: int, rng: np.random.Generator) -> Float:
    return rng.standard_normal(n)


def hum(n: int, rng: np.random.Generator) -> Float:
    """50 Hz mains hum with odd harmonics up to 1 kHz (what passes the telephone band)."""
    t = np.arange(n) / RATE
    x = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.28)) / k ** 0.5
            for k in range(1, 21, 2))
    return np.asarray(x, dtype=np.float64)


def babble(n: int, rng: np.random.Generator) -> Float:
    """Four voices at once, from the real clips at random offsets."""
    if not _babble_sources:
        envelope = np.abs(np.sin(2 * np.pi * 4 * np.arange(n) / RATE))
        return pink_noise(n, rng) * envelope
    out = np.zeros(n)
    for _ in range(4):
        clip = _babble_sources[int(rng.integers(len(_babble_sources)))]
        start = int(rng.integers(len(clip)))
        voice = np.resize(np.roll(clip, -start), n)
        out += voice / (_active_rms(voice) or 1.0)
    return out


_MAKERS = {"pink": pink_noise, "white": white_noise, "babble": babble, "hum": hum}


def background(kind: str, n: int, rng: np.random.Generator) -> Float:
    if kind not in _MAKERS:
        raise ValueError(f"unknown noise kind {kind!r}: choose {', '.join(NOISES)}")
    return _MAKERS[kind](n, rng)


def conceal_loss(pcm: npt.NDArray[np.int16], loss: float, rng: np.random.Generator
                 ) -> npt.NDArray[np.int16]:
    """Drop 20 ms packets (in short bursts, as networks lose them) at about `loss`, and
    conceal each lost packet the way a simple jitter buffer does: the last good packet
    repeated, fading by half each time."""
    if loss <= 0:
        return pcm
    x = pcm.astype(np.float64)
    frames = len(x) // FRAME
    last = np.zeros(FRAME)
    gain, lost_before = 1.0, False
    for i in range(frames):
        p = 0.5 if lost_before else loss / 1.5  # bursts: a loss makes the next likelier
        lost_before = bool(rng.random() < p)
        piece = slice(i * FRAME, (i + 1) * FRAME)
        if lost_before:
            gain *= 0.5
            x[piece] = last * gain
        else:
            last, gain = x[piece].copy(), 1.0
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def telephone(speech: Float, snr_db: float | None, seed: int, pad_s: float = 0.4,
              is_speech: bool = True, noise_kind: str = "pink", codec: str = "ulaw",
              loss: float = 0.0, clip_db: float | None = None) -> bytes:
    """8 kHz float audio -> 16-bit PCM bytes as they arrive from the trunk, with silence
    either side (the endpointer needs it) and background noise of `noise_kind` at
    `snr_db` (None: no noise). Speech is brought to a caller's level first; other sounds
    keep theirs (silence stays quiet), and their noise is set against that same level.
    `clip_db`: the speech peaks are driven this many dB past full scale and clipped (a
    loud caller close to the microphone). `codec`: the G.711 law on the wire. `loss`:
    share of packets lost, concealed."""
    rng = np.random.default_rng(seed)
    pad = np.zeros(int(pad_s * RATE))
    x = np.concatenate([pad, speech, pad])
    level = _active_rms(speech)
    if is_speech and level > 0:
        x = x * (10 ** (SPEECH_DBFS / 20) / level)
    if clip_db is not None and is_speech:
        peak = float(np.max(np.abs(x))) or 1.0
        x = np.clip(x * (10 ** (clip_db / 20) / peak), -1.0, 1.0) * peak / 10 ** (clip_db / 20)
    if snr_db is not None:  # measured in the telephone band, where the recogniser hears it
        noise = signal.sosfilt(_band(), background(noise_kind, len(x), rng))
        noise /= np.sqrt(np.mean(noise * noise)) or 1.0
        x = x + noise * 10 ** ((SPEECH_DBFS - snr_db) / 20)
    x = signal.sosfilt(_band(), x)
    if codec == "alaw":
        wire = alaw_decode(alaw_encode(pcm16(x)))
    elif codec == "ulaw":
        wire = ulaw_decode(ulaw_encode(pcm16(x)))
    else:
        raise ValueError(f"unknown codec {codec!r}: choose {', '.join(CODECS)}")
    return bytes(conceal_loss(wire.astype(np.int16), loss, rng).astype("<i2").tobytes())


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
