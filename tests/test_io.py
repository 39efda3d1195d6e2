"""NIfTI save/load: round trip, reorientation to RAS+, atomic writes and clear errors."""

import nibabel as nib
import numpy as np
import pytest

from medgen_nb.data.io import load_nifti, save_nifti


@pytest.mark.parametrize("name", ["v.nii", "v.nii.gz"])
def test_round_trip(tmp_path, name):
    vol = np.random.default_rng(0).random((5, 6, 7)).astype(np.float32)
    affine = np.diag([0.5, 0.6, 2.0, 1.0])
    affine[:3, 3] = (1, 2, 3)
    path = save_nifti(vol, affine, tmp_path / "sub" / name)
    got, got_affine = load_nifti(path)
    assert np.array_equal(got, vol) and np.allclose(got_affine, affine)
    assert [p.name for p in path.parent.iterdir()] == [name], "no temporary file left"


def test_gzip_is_deterministic(tmp_path):
    vol = np.ones((3, 3, 3), np.float32)
    a = save_nifti(vol, np.eye(4), tmp_path / "a.nii.gz").read_bytes()
    b = save_nifti(vol, np.eye(4), tmp_path / "b.nii.gz").read_bytes()
    assert a == b


def test_load_reorients_to_ras(tmp_path):
    vol = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    las = np.diag([-1.0, 1.0, 1.0, 1.0])  # x axis points left
    nib.save(nib.Nifti1Image(vol, las), tmp_path / "las.nii")
    got, affine = load_nifti(tmp_path / "las.nii")
    assert np.array_equal(got, vol[::-1]) and affine[0, 0] > 0


@pytest.mark.parametrize(
    ("vol", "affine", "name", "match"),
    [
        (np.zeros((2, 2)), np.eye(4), "a.nii", "3-D or 4-D"),
        (np.zeros((2, 2, 2)), np.eye(3), "a.nii", "affine must be 4x4"),
        (np.zeros((2, 2, 2)), np.eye(4), "a.nii.zip", "end in .nii"),
    ],
)
def test_save_errors(tmp_path, vol, affine, name, match):
    with pytest.raises(ValueError, match=match):
        save_nifti(vol, affine, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_load_missing_truncated_and_nan(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_nifti(tmp_path / "none.nii.gz")
    path = save_nifti(
        np.random.default_rng(0).random((20, 20, 20)), np.eye(4), tmp_path / "v.nii.gz"
    )
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated"):
        load_nifti(cut)
    (tmp_path / "text.nii").write_text("not nifti")
    with pytest.raises(ValueError, match="could not read"):
        load_nifti(tmp_path / "text.nii")
    nan = np.zeros((2, 2, 2), np.float32)
    nan[0, 0, 0] = np.nan
    save_nifti(nan, np.eye(4), tmp_path / "nan.nii")
    with pytest.raises(ValueError, match="NaN"):
        load_nifti(tmp_path / "nan.nii")
