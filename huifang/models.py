"""Speech models as a managed thing: installed into one directory (`[recognition]
models_dir`, `var/models` in a checkout), each with a manifest (name, engine, sample
rate, licence, the sha256 of every file) that `huifang models verify` checks.

`[recognition] model` names an installed model (`pocketsphinx-zh-8k`) or is a path to
an engine's model directory; a name that is not installed fails with which one and the
command that installs it, for every command that needs the model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from huifang.config import RecognitionSettings
from ivr.recognition import RecognitionError

log = logging.getLogger(__name__)
MANIFEST = "huifang-model.json"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".zip")
LICENCE_FILES = ("COPYING", "LICENSE", "LICENCE", "LICENSE.txt", "LICENSE.md", "LICENCE.txt")
# where the shared Mandarin model sits beside a development checkout (the demo installs it)
SHARED = Path(os.environ.get("HUIFANG_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DEMO_MODEL = "pocketsphinx-zh-8k"
INSTALL_HINT = ("install one with `huifang models install DIR|ARCHIVE` (README: Models, "
                "where to obtain them)")


class ModelMissing(RecognitionError):
    """The configured model is not installed: the message names it and how to install."""


class ModelError(ValueError):
    """A source that cannot be installed, or an installed model that is damaged."""


@dataclass(frozen=True)
class Manifest:
    name: str
    engine: str  # pocketsphinx, vosk or whisper
    sample_rate: int
    licence: str
    path: str  # the engine's model directory, relative to the installed model's own
    source: str
    installed_at: str
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        try:
            data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise ModelError(f"{directory / MANIFEST}: unreadable manifest: {exc}") from exc

    def write(self, directory: Path) -> None:
        (directory / MANIFEST).write_text(
            json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def models_dir(settings: RecognitionSettings) -> Path:
    return Path(settings.models_dir).expanduser()


def is_name(value: str) -> bool:
    """A bare name (an installed model), not a path."""
    return bool(NAME.match(value)) and not value.startswith(".")


def model_path(settings: RecognitionSettings) -> Path:
    """The engine's model directory for `[recognition] model`: an installed model's, or
    the path itself. ModelMissing when a name is not installed."""
    value = settings.model
    if not is_name(value):
        return Path(value).expanduser()
    root = models_dir(settings) / value
    if not (root / MANIFEST).exists():
        raise ModelMissing(f"the model '{value}' ([recognition] model) is not installed in "
                           f"{models_dir(settings)}: {INSTALL_HINT}")
    return root / Manifest.read(root).path


def installed(settings: RecognitionSettings) -> list[tuple[Path, Manifest]]:
    """Every installed model, by name; directories without a manifest are not models."""
    base = models_dir(settings)
    if not base.is_dir():
        return []
    return [(d, Manifest.read(d)) for d in sorted(base.iterdir())
            if d.is_dir() and (d / MANIFEST).exists()]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            yield path


def verify(directory: Path) -> list[str]:
    """What is wrong with an installed model (empty: every file as installed)."""
    try:
        manifest = Manifest.read(directory)
    except ModelError as exc:
        return [str(exc)]
    problems = []
    for rel, digest in sorted(manifest.files.items()):
        path = directory / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif sha256(path) != digest:
            problems.append(f"{rel}: changed (sha256 differs)")
    extra = [str(p.relative_to(directory)) for p in _files(directory)
             if str(p.relative_to(directory)) not in manifest.files]
    problems += [f"{rel}: not in the manifest" for rel in extra]
    if not (directory / manifest.path).is_dir():
        problems.append(f"{manifest.path}: the engine's directory is missing")
    return problems


def detect(root: Path) -> tuple[str, Path, int]:
    """(engine, its model directory, sample rate) of a model's files under `root`."""
    candidates = [root, *sorted(p for p in root.rglob("*") if p.is_dir()
                                and len(p.relative_to(root).parts) <= 3)]
    for d in candidates:
        if (d / "hmm").is_dir() and (d / "lm").is_dir():
            return "pocketsphinx", d, _sphinx_rate(d)
        if (d / "am" / "final.mdl").is_file():
            return "vosk", d, _vosk_rate(d)
        if (d / "model.bin").is_file() and (d / "config.json").is_file():
            return "whisper", d, 16000  # CTranslate2 Whisper: 16 kHz (calls are resampled)
    raise ModelError(f"{root}: no PocketSphinx (hmm/ and lm/), vosk (am/final.mdl) or "
                     "CTranslate2 Whisper (model.bin, config.json) model found in it")


def _sphinx_rate(d: Path) -> int:
    for params in sorted(d.rglob("feat.params")):
        words = params.read_text(encoding="utf-8", errors="replace").split()
        pairs = dict(zip(words[::2], words[1::2], strict=False))
        if pairs.get("-samprate", "").replace(".0", "").isdigit():
            return int(float(pairs["-samprate"]))
        if pairs.get("-upperf"):
            return 8000 if float(pairs["-upperf"]) <= 4000 else 16000
    return 16000


def _vosk_rate(d: Path) -> int:
    conf = d / "conf" / "mfcc.conf"
    if conf.is_file():
        match = re.search(r"--sample-frequency=(\d+)", conf.read_text(encoding="utf-8"))
        if match:
            return int(match.group(1))
    return 16000


def _licence(root: Path, model: Path) -> str:
    for d in (root, model):
        for name in LICENCE_FILES:
            path = d / name
            if path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                kind = ("BSD-style (CMU)" if "Carnegie Mellon" in text
                        else "Apache-2.0" if "Apache License" in text
                        else "MIT" if "Permission is hereby granted" in text
                        else "see")
                return f"{kind}, {path.relative_to(root)}" if kind != "see" else \
                    f"see {path.relative_to(root)}"
    return "unknown"


def _archive_name(path: Path) -> str:
    name = path.name
    for suffix in ARCHIVES:
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return path.stem


def _extract(archive: Path, into: Path) -> Path:
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise ModelError(f"{archive}: unsafe path {member!r} in the archive")
            z.extractall(into)
    else:
        try:
            with tarfile.open(archive) as t:
                t.extractall(into, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise ModelError(f"{archive}: not a readable archive: {exc}") from exc
    entries = list(into.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else into


def install(source: Path, settings: RecognitionSettings, *, name: str | None = None,
            licence: str | None = None, force: bool = False) -> tuple[Path, Manifest]:
    """Copy a model directory (or unpack an archive) into the models directory, with
    its manifest; the copy is made beside it and renamed into place when complete."""
    if not source.exists():
        raise ModelError(f"{source} does not exist")
    name = name or (source.name if source.is_dir() else _archive_name(source))
    if not is_name(name):
        raise ModelError(f"{name!r} is not a model name: letters, digits, . _ - (use --name)")
    base = models_dir(settings)
    base.mkdir(parents=True, exist_ok=True)
    target = base / name
    if target.exists() and not force:
        raise ModelError(f"{target} exists: `huifang models verify {name}`, or --force to "
                         "replace it")
    with tempfile.TemporaryDirectory(prefix=f".{name}.", dir=base) as scratch:
        work = Path(scratch)
        if source.is_dir():
            root = source
        elif any(source.name.endswith(s) for s in ARCHIVES):
            root = _extract(source, work / "unpacked")
        else:
            raise ModelError(f"{source}: neither a directory nor an archive "
                             f"({', '.join(ARCHIVES)})")
        engine, model, rate = detect(root)
        copy = work / "model"
        files: dict[str, str] = {}
        for path in _files(root):
            rel = path.relative_to(root)
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy / rel)
            files[str(rel)] = sha256(copy / rel)
        manifest = Manifest(name, engine, rate, licence or _licence(root, model),
                            str(model.relative_to(root)), str(source.resolve()),
                            datetime.now(UTC).isoformat(timespec="seconds"), files)
        manifest.write(copy)
        if target.exists():
            shutil.rmtree(target)
        copy.rename(target)
    log.info("model %s (%s, %d Hz) installed in %s", name, engine, rate, target)
    return target, manifest


def install_shared_for_demo(settings: RecognitionSettings) -> Path | None:
    """The demo on a development checkout: the shared Mandarin model beside it is
    installed once, when the configured model is that name and nothing is installed."""
    if settings.model != DEMO_MODEL or installed(settings):
        return None
    source = SHARED / "models" / DEMO_MODEL
    if not source.is_dir():
        return None
    return install(source, settings)[0]
