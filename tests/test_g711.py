"""The table codecs agree with the reference ones on every sample value."""

from __future__ import annotations

import numpy as np

from dialer import g711
from prompts.audio import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode


def test_tables_match_the_reference_codecs() -> None:
    every = np.arange(-32768, 32768, dtype=np.int16)
    pcm = every.astype("<i2").tobytes()
    assert g711.encode(g711.PCMU, pcm) == ulaw_encode(every)
    assert g711.encode(g711.PCMA, pcm) == alaw_encode(every)
    payload = bytes(range(256))
    assert g711.decode(g711.PCMU, payload) == ulaw_decode(payload).astype("<i2").tobytes()
    assert g711.decode(g711.PCMA, payload) == alaw_decode(payload).astype("<i2").tobytes()
