import os
import re

import pytest
import torch

from medgen_nb.utils import atomic_write, cache_dir, pick_device, seed_everything


def test_seed_everything_repeats_draws():
    seed_everything(3)
    a = torch.randn(5)
    seed_everything(3)
    assert torch.equal(a, torch.randn(5))
    seed_everything(4)
    assert not torch.equal(a, torch.randn(5))


def test_seed_rejects_negative():
    with pytest.raises(ValueError, match="non-negative"):
        seed_everything(-1)


def test_pick_device_auto_and_cpu():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in {"cpu", "cuda", "mps"}


def test_pick_device_rejects_unknown_name():
    with pytest.raises(ValueError, match="one of"):
        pick_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="only meaningful without a GPU")
def test_pick_device_explains_missing_cuda():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        pick_device("cuda")


def test_cache_dir_honours_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDGEN_NB_CACHE", str(tmp_path / "c"))
    assert cache_dir("sub") == tmp_path / "c" / "sub"
    assert (tmp_path / "c" / "sub").is_dir()


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "f.bin"
    with atomic_write(target) as fh:
        fh.write(b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write(b"partial")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"], "no temporary file may be left behind"


def test_atomic_write_text_mode(tmp_path):
    with atomic_write(tmp_path / "a" / "t.txt", mode="w") as fh:
        fh.write("hi")
    assert (tmp_path / "a" / "t.txt").read_text() == "hi"
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "x", mode="a"):  # type: ignore[arg-type]
            pass
    assert not os.path.exists(tmp_path / "x")


@pytest.mark.parametrize("where", ["itself", "parent"])
def test_cache_dir_that_is_a_file_names_the_variable(tmp_path, monkeypatch, where):
    blocker = tmp_path / "cache"
    blocker.write_text("a file, not a folder")
    root = blocker if where == "itself" else blocker / "deeper"
    monkeypatch.setenv("MEDGEN_NB_CACHE", str(root))
    with pytest.raises(
        ValueError,
        match=rf"MEDGEN_NB_CACHE={re.escape(str(root))}.*{re.escape(str(blocker))} is a file",
    ):
        cache_dir("sub")
    assert blocker.read_text() == "a file, not a folder"


def test_cache_dir_from_xdg_names_that_variable(tmp_path, monkeypatch):
    (tmp_path / "xdg").write_text("x")
    monkeypatch.delenv("MEDGEN_NB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with pytest.raises(ValueError, match="XDG_CACHE_HOME.*Point MEDGEN_NB_CACHE at a folder"):
        cache_dir()


@pytest.mark.parametrize("bad", [True, False, 1.0, "3", None])
def test_seed_rejects_bools_and_non_integers(bad):
    with pytest.raises(ValueError, match=r"seed must be a non-negative int, got"):
        seed_everything(bad)


def test_seed_accepts_numpy_integers():
    import numpy as np

    seed_everything(np.int64(3))
    a = torch.randn(3)
    seed_everything(3)
    assert torch.equal(a, torch.randn(3))


@pytest.mark.parametrize("bad", [0, None, ["cpu"]])
def test_pick_device_rejects_non_strings(bad):
    with pytest.raises(TypeError, match="device must be a str"):
        pick_device(bad)


def test_atomic_write_gives_the_mode_of_a_plain_open(tmp_path):
    import stat

    with atomic_write(tmp_path / "a.bin") as fh:
        fh.write(b"x")
    (tmp_path / "b.bin").write_bytes(b"x")  # what open() makes under this umask
    mode = stat.S_IMODE((tmp_path / "a.bin").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "b.bin").stat().st_mode)
    assert mode != 0o600 or os.umask(os.umask(0)) == 0o177  # not mkstemp's owner-only mode
