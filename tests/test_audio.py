from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from prompts.audio import (
    RATE,
    AudioError,
    alaw_decode,
    alaw_encode,
    dbfs,
    read_wav,
    to_telephone,
    ulaw_decode,
    ulaw_encode,
    write_wav,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the reference G.711 of CPython 3.11, removed in 3.13

ALL = np.arange(-32768, 32768, dtype=np.int16)


def test_ulaw_matches_cpython_for_every_sample() -> None:
    assert ulaw_encode(ALL) == audioop.lin2ulaw(ALL.tobytes(), 2)
    codes = bytes(range(256))
    assert ulaw_decode(codes).tobytes() == audioop.ulaw2lin(codes, 2)


def test_alaw_matches_cpython_for_every_sample() -> None:
    assert alaw_encode(ALL) == audioop.lin2alaw(ALL.tobytes(), 2)
    codes = bytes(range(256))
    assert alaw_decode(codes).tobytes() == audioop.alaw2lin(codes, 2)


def tone(freq: float, rate: int, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_frequency(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    return float(np.fft.rfftfreq(len(pcm), 1 / rate)[np.argmax(spectrum)])


def test_resampling_keeps_speech_band_and_drops_what_would_alias() -> None:
    out = to_telephone(tone(1000, 22050, 1.0), 22050)
    assert abs(len(out) / RATE - 1.0) < 0.01
    assert abs(peak_frequency(out, RATE) - 1000) < 5
    # 6 kHz cannot exist at 8 kHz; a naive decimation would fold it to 2 kHz.
    mixed = tone(1000, 22050, 1.0) + tone(6000, 22050, 1.0)
    spectrum = np.abs(np.fft.rfft(to_telephone(mixed, 22050).astype(float)))
    freqs = np.fft.rfftfreq(RATE, 1 / RATE)
    alias = spectrum[np.abs(freqs - 2000) < 20].max()
    assert alias < spectrum.max() / 300  # more than 50 dB down


def test_trim_and_normalise() -> None:
    silence = np.zeros(22050, dtype=np.int16)
    quiet = tone(440, 22050, 0.5, amplitude=0.01)
    out = to_telephone(np.concatenate([silence, quiet, silence]), 22050)
    assert 0.5 < len(out) / RATE < 0.75  # one second of silence gone on each side
    assert abs(dbfs(out) - (-20.0)) < 0.5
    loud = to_telephone(np.concatenate([tone(440, 22050, 0.5, 0.02),
                                        tone(440, 22050, 0.01, 1.0)]), 22050)
    assert np.max(np.abs(loud.astype(int))) <= int(32768 * 10 ** (-1 / 20)) + 1  # ceiling


def test_silence_is_an_error() -> None:
    with pytest.raises(AudioError, match="silent"):
        to_telephone(np.zeros(8000, dtype=np.int16), 8000)


def test_wav_round_trip_and_bad_files(tmp_path: Path) -> None:
    pcm = tone(500, RATE, 0.2)
    write_wav(tmp_path / "a.wav", pcm)
    samples, info = read_wav(tmp_path / "a.wav")
    assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2)
    assert np.array_equal(samples, pcm) and info.clipped_fraction == 0
    (tmp_path / "b.wav").write_bytes(b"ID3 not a wav")
    with pytest.raises(AudioError, match="not a PCM WAV"):
        read_wav(tmp_path / "b.wav")
