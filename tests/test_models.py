"""Speech models as a managed thing: installed from a directory or an archive with a
manifest (engine, sample rate, licence, sha256 of every file), verified, named by
`[recognition] model`; a model that is not installed is named with the command that
installs it; the demo installs the shared Mandarin model once."""

from __future__ import annotations

import io
import json
import tarfile
import wave
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from huifang.cli import cli
from huifang.config import RecognitionSettings
from huifang.models import (
    MANIFEST,
    ModelError,
    ModelMissing,
    install,
    install_shared_for_demo,
    model_path,
    verify,
)
from huifang.speech import engine_from
from tests.conftest import need
from tests.speech import MODEL

SHARED = MODEL.parent  # the shared model's directory: COPYING, README.md, model/


def config(tmp_path: Path, model: str = "pocketsphinx-zh-8k") -> Path:
    path = tmp_path / "huifang.toml"
    path.write_text(f'[recognition]\nmodel = "{model}"\nmodels_dir = "{tmp_path / "models"}"\n',
                    encoding="utf-8")
    return path


def run(path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(path), "models", *args])
    return result.exit_code, " ".join(result.output.split())  # rich wraps at 80 columns


def test_install_list_verify_the_shared_model(tmp_path: Path) -> None:
    need(SHARED.is_dir(), f"shared Mandarin model missing at {SHARED}")
    cfg = config(tmp_path)
    code, output = run(cfg, "install", str(SHARED))
    assert code == 0 and "pocketsphinx, 8000 Hz" in output and "BSD-style (CMU)" in output
    root = tmp_path / "models" / "pocketsphinx-zh-8k"
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["engine"] == "pocketsphinx" and manifest["path"] == "model"
    assert "model/hmm/zh/tdt_sc_8k/mdef" in manifest["files"] and "COPYING" in manifest["files"]
    assert all(len(digest) == 64 for digest in manifest["files"].values())
    code, output = run(cfg, "list")
    assert code == 0 and "pocketsphinx-zh-8k" in output and "configured" in output
    assert run(cfg, "verify")[0] == 0
    # the configured name loads the engine from the installed copy
    settings = RecognitionSettings(model="pocketsphinx-zh-8k",
                                   models_dir=str(tmp_path / "models"))
    assert model_path(settings) == root / "model"
    assert engine_from(settings).name == "pocketsphinx"
    # a second install of the same name is refused without --force
    code, output = run(cfg, "install", str(SHARED))
    assert code == 1 and "--force" in output
    # damage: a changed file, a lost one, a stray one
    (root / "README.md").write_text("changed", encoding="utf-8")
    (root / "SOURCE.txt").unlink()
    (root / "stray.bin").write_bytes(b"x")
    code, output = run(cfg, "verify", "pocketsphinx-zh-8k")
    assert code == 1 and "FAIL" in output
    assert {"README.md: changed (sha256 differs)", "SOURCE.txt: missing",
            "stray.bin: not in the manifest"} <= set(verify(root))
    assert run(cfg, "install", str(SHARED), "--force")[0] == 0 and verify(root) == []


def _archive(tmp_path: Path, kind: str, files: dict[str, bytes]) -> Path:
    if kind == "zip":
        path = tmp_path / "vosk-model-small-cn-0.22.zip"
        with zipfile.ZipFile(path, "w") as z:
            for name, data in files.items():
                z.writestr(f"vosk-model-small-cn-0.22/{name}", data)
        return path
    path = tmp_path / "whisper-small-ct2.tar.gz"
    with tarfile.open(path, "w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(f"whisper-small-ct2/{name}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def test_install_from_archives_detects_the_engine(tmp_path: Path) -> None:
    settings = RecognitionSettings(models_dir=str(tmp_path / "models"))
    vosk = _archive(tmp_path, "zip", {"am/final.mdl": b"m", "conf/mfcc.conf":
                                      b"--sample-frequency=8000\n", "README": b"r"})
    _, manifest = install(vosk, settings, licence="Apache-2.0")
    assert (manifest.name, manifest.engine, manifest.sample_rate, manifest.licence) == (
        "vosk-model-small-cn-0.22", "vosk", 8000, "Apache-2.0")
    assert set(manifest.files) == {"am/final.mdl", "conf/mfcc.conf", "README"}
    whisper = _archive(tmp_path, "tar", {"model.bin": b"w", "config.json": b"{}",
                                         "LICENSE": b"MIT License\nPermission is hereby "
                                                    b"granted"})
    _, manifest = install(whisper, settings, name="whisper-small")
    assert (manifest.engine, manifest.sample_rate, manifest.licence) == (
        "whisper", 16000, "MIT, LICENSE")
    (tmp_path / "x").mkdir()
    with pytest.raises(ModelError, match="no PocketSphinx"):
        install(_archive(tmp_path / "x", "tar", {"notes.txt": b"n"}), settings, name="nothing")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        "vosk-model-small-cn-0.22", "whisper-small"]  # no half-installed leftovers


def test_an_archive_escaping_its_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as t:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ModelError, match="not a readable archive"):
        install(path, RecognitionSettings(models_dir=str(tmp_path / "models")))
    assert not (tmp_path / "outside.txt").exists()


def test_a_missing_model_is_named_with_the_command_that_installs_it(tmp_path: Path) -> None:
    settings = RecognitionSettings(models_dir=str(tmp_path / "models"))
    with pytest.raises(ModelMissing, match=r"'pocketsphinx-zh-8k'.*huifang models install"):
        engine_from(settings)
    clip = tmp_path / "clip.wav"
    with wave.open(str(clip), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    result = CliRunner().invoke(cli, ["--config", str(config(tmp_path)), "recognize", str(clip),
                                      "--question", "resolved"])
    output = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "pocketsphinx-zh-8k" in output and "huifang models install" in output
    code, output = run(config(tmp_path), "list")
    assert code == 0 and "not installed" in output


def test_the_demo_installs_the_shared_model_once(tmp_path: Path) -> None:
    need(SHARED.is_dir(), f"shared Mandarin model missing at {SHARED}")
    settings = RecognitionSettings(models_dir=str(tmp_path / "models"))
    first = install_shared_for_demo(settings)
    assert first == tmp_path / "models" / "pocketsphinx-zh-8k" and verify(first) == []
    assert install_shared_for_demo(settings) is None
    assert install_shared_for_demo(settings.model_copy(update={"model": str(MODEL)})) is None
