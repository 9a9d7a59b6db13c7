"""Engines by name, loaded once per process and shared by every call."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ivr.recognition import Engine, EngineKind, RecognitionError

_loaded: dict[tuple[str, str, tuple[tuple[str, Any], ...]], Engine] = {}
_lock = threading.Lock()


def load_engine(kind: str, model: str | Path, **options: Any) -> Engine:
    """The engine for (kind, model, options), loading its model the first time only.
    Options left as None keep the engine's defaults."""
    given = {k: v for k, v in options.items() if v is not None}
    key = (kind, str(Path(model).resolve()), tuple(sorted(given.items())))
    with _lock:
        if key in _loaded:
            return _loaded[key]
        engine = _make(kind, Path(model), given)
        _loaded[key] = engine
        return engine


def _make(kind: str, model: Path, options: dict[str, Any]) -> Engine:
    if not model.is_dir():
        raise RecognitionError(f"{kind} model directory not found: {model}")
    if kind == EngineKind.POCKETSPHINX:
        from ivr.sphinx import SphinxEngine  # noqa: PLC0415 - only the configured engine

        return SphinxEngine(model, **options)
    if kind == EngineKind.VOSK:
        from ivr.vosk import VoskEngine  # noqa: PLC0415

        return VoskEngine(model, **options)
    if kind == EngineKind.WHISPER:
        from ivr.whisper import WhisperEngine  # noqa: PLC0415

        return WhisperEngine(model, **options)
    raise RecognitionError(f"unknown recognition engine {kind!r}: "
                           f"choose {', '.join(k.value for k in EngineKind)}")
