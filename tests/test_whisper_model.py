"""Finding, joining and checking the Whisper model: the packaged parts joined once and
checked by size and sha256; a damaged part is a clear error naming the file; an operator's
directory is taken as it is."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ivr.whisper_model import (
    ModelFileError,
    PackagedModel,
    model_directory,
    packaged_model,
    verify,
)


def fake_packages(root: Path, part1: bytes, part2: bytes) -> None:
    for n, payload in ((1, part1), (2, part2)):
        data = root / f"fake_whisper_{n}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"model.bin.part{n}").write_bytes(payload)
    for extra in ("config.json", "tokenizer.json", "vocabulary.json"):
        (root / "fake_whisper_2" / "data" / extra).write_text("{}")


def spec(size: int, sha: str) -> PackagedModel:
    return PackagedModel(parts=(("fake_whisper_1", "data/model.bin.part1"),
                                ("fake_whisper_2", "data/model.bin.part2")),
                         extras=tuple(("fake_whisper_2", f"data/{n}") for n in
                                      ("config.json", "tokenizer.json", "vocabulary.json")),
                         size=size, sha256=sha, name="fake")


def test_parts_are_joined_once_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    fake_packages(tmp_path / "site", b"abc" * 1000, b"xyz" * 10)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    joined = b"abc" * 1000 + b"xyz" * 10
    good = spec(len(joined), hashlib.sha256(joined).hexdigest())
    cache = tmp_path / "cache"
    assert packaged_model(cache, good) == cache
    assert (cache / "model.bin").read_bytes() == joined
    assert sorted(p.name for p in cache.iterdir()) == [
        "config.json", "model.bin", "model.bin.sha256", "tokenizer.json", "vocabulary.json"]
    stamp = (cache / "model.bin").stat().st_mtime_ns
    assert packaged_model(cache, good) == cache  # not joined again
    assert (cache / "model.bin").stat().st_mtime_ns == stamp
    (cache / "model.bin").write_bytes(b"short")  # damaged in the cache: joined again
    packaged_model(cache, good)
    assert (cache / "model.bin").read_bytes() == joined


def test_a_wrong_hash_is_an_error_naming_the_file(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake_packages(tmp_path / "site", b"abc" * 1000, b"xyz" * 10)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    bad = spec(3030, "0" * 64)
    with pytest.raises(ModelFileError, match=r"cache/model\.bin \(joined from .*fake_whisper_1/"
                       r"data/model\.bin\.part1 \+ .*part2\): sha256 [0-9a-f]{64}, expected 0+"):
        packaged_model(tmp_path / "cache", bad)
    assert not (tmp_path / "cache" / "model.bin").exists()  # nothing half-checked is kept
    assert not list((tmp_path / "cache").glob("*.joining-*"))
    with pytest.raises(ModelFileError, match=r"3030 bytes, expected 3031"):
        packaged_model(tmp_path / "cache", spec(3031, "0" * 64))


def test_a_missing_package_says_how_to_install_it(tmp_path: Path) -> None:
    missing = PackagedModel((("no_such_whisper_pkg", "data/model.bin.part1"),), (), 1, "0",
                            "none")
    with pytest.raises(ModelFileError, match="no-such-whisper-pkg is not installed"):
        packaged_model(tmp_path / "cache", missing)


def test_verify_names_the_file(tmp_path: Path) -> None:
    f = tmp_path / "model.bin"
    f.write_bytes(b"12345")
    verify(f, 5, hashlib.sha256(b"12345").hexdigest())
    with pytest.raises(ModelFileError, match=str(f)):
        verify(f, 5, "f" * 64)
    with pytest.raises(ModelFileError, match="not found"):
        verify(tmp_path / "other.bin", 5, "f" * 64)


def test_an_operators_directory_is_checked_for_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        model_directory(str(tmp_path / "nowhere"))
    with pytest.raises(ModelFileError, match=r"no model\.bin, config\.json"):
        model_directory(str(tmp_path))
    (tmp_path / "model.bin").write_bytes(b"x")
    (tmp_path / "config.json").write_text("{}")
    assert model_directory(str(tmp_path)) == tmp_path

