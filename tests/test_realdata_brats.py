"""BraTS 2023 naming: loader, labels, missing files, and the script's --archive/--check."""

import zipfile

import numpy as np
import pytest
from realdata_fakes import fake_brats, script

from medgen_nb.data.realdata import DataNotFoundError, load_brats, load_dataset


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return fake_brats(
        tmp_path_factory.mktemp("brats") / "ASNR-MICCAI-BraTS2023-GLI-Challenge-TrainingData"
    )


def test_load_brats_modalities_mask_and_labels(root):
    subjects = load_brats(root.parent)  # found below the given folder
    assert [s.subject_id for s in subjects] == [f"BraTS-GLI-{k:05d}-000" for k in range(3)]
    s = subjects[0]
    assert set(s.images) == {"t1w", "t1ce", "t2w", "flair"}  # canonical names of t1n, t1c, t2f
    assert set(np.unique(s.labels["lesion"])) == {0, 2, 3}
    assert s.mask.any() and not s.mask.all()


def test_missing_seg_is_an_error_unless_not_needed(tmp_path):
    fake_brats(tmp_path, n=2, drop=("BraTS-GLI-00001-000", "seg"))
    with pytest.raises(ValueError, match=r"BraTS-GLI-00001-000 \(no seg\)"):
        load_brats(tmp_path)
    assert len(load_brats(tmp_path, with_seg=False)) == 2


def test_unknown_modality_and_not_found(tmp_path):
    with pytest.raises(ValueError, match="subset of"):
        load_brats(tmp_path, ["pd"])
    with pytest.raises(DataNotFoundError, match="registration"):
        load_brats(tmp_path / "none")


def test_dispatcher_with_seg(root):
    splits = load_dataset("brats", root, size=32, min_foreground=0.01)
    item = splits["train"][0]
    assert item["image"].shape == (1, 32, 32) and item["seg"].dtype.is_floating_point is False


def test_script_archive_and_check(tmp_path, capsys):
    src = fake_brats(tmp_path / "src", n=3)
    arc = tmp_path / "brats.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        for f in sorted(src.rglob("*.nii.gz")):
            zf.write(f, "Training/" + f.relative_to(src).as_posix())
    dest = tmp_path / "dest"
    assert (
        script("brats").main(
            ["--archive", str(arc), "--subjects", "2", "--dest", str(dest), "--quiet"]
        )
        == 0
    )
    assert "2 complete" in capsys.readouterr().out
    assert len(load_brats(dest)) == 2
    assert script("brats").main(["--check", str(tmp_path / "empty")]) == 1


def test_dispatcher_creation_and_unpaired(root):
    creation = load_dataset(
        "brats", root, sources="t1c", target=None, size=32, fractions=(1.0, 0.0, 0.0)
    )
    assert "target" not in creation["train"][0] and creation["train"].sources == ["t1ce"]
    unpaired = load_dataset("brats", root, unpaired=True, size=32, fractions=(1.0, 0.0, 0.0))
    assert not set(unpaired["train"].a.subject_ids) & set(unpaired["train"].b.subject_ids)
