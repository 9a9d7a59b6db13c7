"""G.711 at the wire by table lookup: one numpy indexing per 20 ms frame instead of a
dozen array operations (the tables are built from `prompts.audio`'s codecs, so the two
agree exactly)."""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

from prompts.audio import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

PCMU, PCMA = 0, 8


@cache
def _encoder(codec: int) -> npt.NDArray[np.uint8]:
    every = np.arange(65536, dtype=np.uint16).view(np.int16)
    encode = alaw_encode if codec == PCMA else ulaw_encode
    return np.frombuffer(encode(every), dtype=np.uint8)


@cache
def _decoder(codec: int) -> npt.NDArray[np.int16]:
    decode = alaw_decode if codec == PCMA else ulaw_decode
    return np.asarray(decode(bytes(range(256))), dtype="<i2")


def encode(codec: int, pcm: bytes) -> bytes:
    """16-bit little-endian PCM bytes to G.711 bytes."""
    return bytes(_encoder(codec)[np.frombuffer(pcm, dtype="<u2")].tobytes())


def decode(codec: int, payload: bytes) -> bytes:
    """G.711 bytes to 16-bit little-endian PCM bytes."""
    return bytes(_decoder(codec)[np.frombuffer(payload, dtype=np.uint8)].tobytes())
