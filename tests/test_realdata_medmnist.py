"""MedMNIST .npz layout: items, official splits, multi-label, resize, errors, the data script."""

import hashlib

import numpy as np
import pytest
import torch
from realdata_fakes import fake_medmnist_npz, script, serve

from medgen_nb.data.realdata import DataNotFoundError, load_dataset, load_medmnist
from medgen_nb.data.realdata.download import DownloadError
from medgen_nb.data.realdata.medmnist import (
    MEDMNIST_2D,
    medmnist_filename,
    medmnist_md5,
    medmnist_url,
    read_medmnist_npz,
)


def test_names_urls_and_publisher_md5():
    assert medmnist_filename("pneumoniamnist") == "pneumoniamnist.npz"
    assert medmnist_filename("chestmnist", 64) == "chestmnist_64.npz"
    assert medmnist_url("breastmnist", 224).endswith("/breastmnist_224.npz?download=1")
    assert all(len(medmnist_md5(f, s)) == 32 for f in MEDMNIST_2D for s in (28, 64, 128, 224))
    with pytest.raises(ValueError, match="flag must be one of"):
        medmnist_filename("mnist")
    with pytest.raises(ValueError, match="size must be one of"):
        medmnist_filename("pneumoniamnist", 32)


def test_gray_items_and_official_splits(tmp_path):
    fake_medmnist_npz(tmp_path / "pneumoniamnist.npz")
    splits = load_medmnist("pneumoniamnist", tmp_path)
    assert {k: len(v) for k, v in splits.items()} == {"train": 10, "val": 4, "test": 6}
    item = splits["train"][3]
    raw, labels = read_medmnist_npz(tmp_path / "pneumoniamnist.npz", "train")
    assert item["image"].shape == (1, 28, 28) and item["image"].dtype == torch.float32
    assert torch.allclose(item["image"][0], torch.from_numpy(raw[3]).float() / 255)
    assert item["label"].shape == () and int(item["label"]) == int(labels[3, 0])
    assert splits["train"].num_classes <= 2


def test_rgb_multilabel_and_resize(tmp_path):
    fake_medmnist_npz(tmp_path / "chestmnist_64.npz", size=64, n_labels=14)
    fake_medmnist_npz(tmp_path / "pathmnist.npz", channels=3, classes=9)
    chest = load_medmnist("chestmnist", tmp_path, size=64, resize_to=32, limit=3)
    item = chest["val"][0]
    assert item["image"].shape == (1, 32, 32) and item["label"].shape == (14,)
    assert len(chest["train"]) == 3 and chest["train"].num_classes == 14
    path = load_medmnist("pathmnist", tmp_path)["test"][0]
    assert (
        path["image"].shape == (3, 28, 28) and 0 <= path["image"].min() <= path["image"].max() <= 1
    )


def test_bad_npz_layouts(tmp_path):
    np.savez(tmp_path / "a.npz", train_images=np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="lacks.*train_labels"):
        read_medmnist_npz(tmp_path / "a.npz", "train")
    np.savez(tmp_path / "b.npz", train_images=np.zeros((2, 8, 8)), train_labels=np.zeros((2, 1)))
    with pytest.raises(ValueError, match="must be uint8"):
        read_medmnist_npz(tmp_path / "b.npz", "train")
    np.savez(
        tmp_path / "c.npz",
        train_images=np.zeros((2, 8, 8), np.uint8),
        train_labels=np.zeros((3, 1)),
    )
    with pytest.raises(ValueError, match=r"\(N, L\) with N = 2"):
        read_medmnist_npz(tmp_path / "c.npz", "train")
    with pytest.raises(ValueError, match="split must be one of"):
        read_medmnist_npz(tmp_path / "c.npz", "dev")


def test_not_found_names_the_command(tmp_path):
    with pytest.raises(DataNotFoundError, match="data_scripts/medmnist.py breastmnist --size 64"):
        load_dataset("medmnist:breastmnist", tmp_path)


def test_dispatcher_resizes_to_size(tmp_path):
    fake_medmnist_npz(tmp_path / "pneumoniamnist.npz")
    splits = load_dataset("medmnist:pneumoniamnist", tmp_path, size=32)
    assert splits["train"][0]["image"].shape == (1, 32, 32)
    with pytest.raises(DataNotFoundError, match="--size 64"):  # SIZE 64 asks for the 64 px files
        load_dataset("medmnist:pneumoniamnist", tmp_path, size=64)


def test_script_subset_and_md5_mismatch(tmp_path, monkeypatch):
    srv = tmp_path / "srv"
    npz = fake_medmnist_npz(srv / "breastmnist.npz")
    md5 = hashlib.md5(npz.read_bytes()).hexdigest()
    ds = script("medmnist")
    dest = tmp_path / "dest"
    with serve(srv) as url:
        # the real MD5 of the Zenodo file does not match our fake: refused, nothing left
        with pytest.raises(DownloadError, match="checksum mismatch"):
            ds.main(["breastmnist", "--dest", str(dest), "--quiet", "--url", url + "/{file}"])
        assert not (dest / "breastmnist.npz").exists()
        monkeypatch.setitem(MEDMNIST_2D, "breastmnist", (1, "binary-class", "CC BY 4.0", {28: md5}))
        assert (
            ds.main(
                [
                    "breastmnist",
                    "--subjects",
                    "3",
                    "--dest",
                    str(dest),
                    "--quiet",
                    "--url",
                    url + "/{file}",
                ]
            )
            == 0
        )
    splits = load_medmnist("breastmnist", dest)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [3, 3, 3]
    assert (dest / "full" / "breastmnist.npz").read_bytes() == npz.read_bytes()
