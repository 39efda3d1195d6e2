"""Generic NIfTI folders paired by subject id (nested and flat layouts) and the nifti: name."""

import numpy as np
import pytest
from realdata_fakes import AFFINE, head

from medgen_nb.data.io import save_nifti
from medgen_nb.data.realdata import DataNotFoundError, load_dataset, load_nifti_folder
from medgen_nb.data.realdata.folders import find_nifti_pairs, guess_kind


def _nested(root, n=3, drop=None):
    for k in range(n):
        folder = root / f"case{k:02d}"
        ct = head(seed=k, lo=-1000, hi=1200)
        files = {
            "t1": head(seed=k + 9),
            "ct": ct,
            "mask": (ct > -500).astype(np.float32),
            "seg": (ct > 1000).astype(np.float32),
        }
        for name, vol in files.items():
            if drop != (folder.name, name):
                save_nifti(vol, AFFINE, folder / f"{name}.nii.gz")
    return root


def test_nested_layout_kinds_mask_labels(tmp_path):
    subjects = load_nifti_folder(_nested(tmp_path))
    assert [s.subject_id for s in subjects] == ["case00", "case01", "case02"]
    s = subjects[0]
    assert set(s.images) == {"ct", "t1w"} and set(s.labels) == {"seg"}
    assert s.intensity["ct"].unit == "HU" and s.intensity["t1w"].kind == "mr"
    assert s.mask is not None and s.mask.dtype == bool


def test_flat_layout(tmp_path):
    for k in range(2):
        save_nifti(head(seed=k), AFFINE, tmp_path / f"sub-{k}_t2.nii.gz")
        save_nifti(head(seed=k + 5), AFFINE, tmp_path / f"sub-{k}_pd.nii")
    found = find_nifti_pairs(tmp_path)
    assert sorted(found) == ["sub-0", "sub-1"] and set(found["sub-0"]) == {"t2", "pd"}
    subjects = load_nifti_folder(tmp_path, ["t2", "pd"])
    assert subjects[1].mask is not None  # threshold mask for MR


def test_missing_modality_error_and_skip(tmp_path):
    _nested(tmp_path, drop=("case01", "ct"))
    with pytest.raises(ValueError, match=r"case01 \(no ct\)"):
        load_nifti_folder(tmp_path)
    with pytest.warns(UserWarning, match="left out"):
        assert len(load_nifti_folder(tmp_path, missing="skip")) == 2


def test_mismatched_shapes(tmp_path):
    _nested(tmp_path, n=1)
    save_nifti(head((16, 16, 8)), AFFINE, tmp_path / "case00" / "t1.nii.gz")
    with pytest.raises(ValueError, match="one grid"):
        load_nifti_folder(tmp_path)


def test_mismatched_affines(tmp_path):
    _nested(tmp_path, n=1)
    shifted = AFFINE.copy()
    shifted[0, 3] = 5.0
    save_nifti(head(), shifted, tmp_path / "case00" / "t1.nii.gz")
    with pytest.raises(ValueError, match="different voxel-to-world affines"):
        load_nifti_folder(tmp_path)


def test_bad_kinds_and_empty_folder(tmp_path):
    _nested(tmp_path / "a", n=1)
    with pytest.raises(ValueError, match="kinds values"):
        load_nifti_folder(tmp_path / "a", kinds={"t1": "pet"})
    (tmp_path / "b").mkdir()
    with pytest.raises(DataNotFoundError, match="no ROOT"):
        load_nifti_folder(tmp_path / "b")
    assert guess_kind("CBCT") == "ct" and guess_kind("flair") == "mr"


def test_dispatcher_nifti_name(tmp_path):
    root = _nested(tmp_path)
    splits = load_dataset(f"nifti:{root}", sources="t1", target="ct", size=32, min_foreground=0.0)
    item = splits["test"][0]
    assert item["image"].shape == item["target"].shape == (1, 32, 32)


def test_mismatched_subject_skipped_with_warning(tmp_path):
    _nested(tmp_path, n=2)
    save_nifti(head((16, 16, 8)), AFFINE, tmp_path / "case01" / "t1.nii.gz")
    with pytest.warns(UserWarning, match="case01.*left out"):
        subjects = load_nifti_folder(tmp_path, missing="skip")
    assert [s.subject_id for s in subjects] == ["case00"]


def test_downsample_and_fit_side(tmp_path):
    _nested(tmp_path, n=1)  # 16 x 16 x 12 at 2 mm
    (s,) = load_nifti_folder(tmp_path, downsample=2)
    assert s.shape == (8, 8, 6) and s.spacing_mm == (4.0, 4.0, 4.0)
    assert set(np.unique(s.labels["seg"])) <= {0, 1}, "labels are strided, never averaged"
    (s,) = load_nifti_folder(tmp_path, fit_side=5)  # factor 16 // 5 = 3, ceil-mode pooling
    assert s.shape == (6, 6, 4)
    with pytest.raises(ValueError, match="downsample must be a positive int"):
        load_nifti_folder(tmp_path, downsample=0)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ct", "ct"),
        ("CT", "ct"),
        ("cbct", "ct"),
        ("sct", "ct"),
        ("sCT_v2", "ct"),
        ("ct_contrast", "ct"),
        ("CBCT-fx1", "ct"),
        ("planning.ct", "ct"),
        ("t1_corrected", "mr"),  # 'ct' inside 'corrected' was read as CT
        ("octopus", "mr"),
        ("pct_x", "mr"),  # pCT: planning CT or percent? ambiguous: MR unless kinds= says so
        ("t1", "mr"),
        ("flair", "mr"),
    ],
)
def test_guess_kind_matches_whole_name_tokens(name, kind):
    assert guess_kind(name) == kind


def test_t1_corrected_folder_is_read_as_mr(tmp_path):
    save_nifti(head(seed=1), AFFINE, tmp_path / "case00" / "t1_corrected.nii.gz")
    subject = load_nifti_folder(tmp_path)[0]
    assert subject.intensity["t1_corrected"].kind == "mr"  # percentiles, not the HU window
    assert subject.images["t1_corrected"].max() > 0.9  # an MR signal in HU would map to ~0.33


def test_kinds_for_a_modality_not_loaded_raises(tmp_path):
    _nested(tmp_path, n=1)
    with pytest.raises(ValueError, match=r"kinds names 'pct'.*\['ct', 't1'\]"):
        load_nifti_folder(tmp_path, kinds={"pct": "ct"})
    assert load_nifti_folder(tmp_path, kinds={"T1": "mr"})[0].intensity["t1w"].kind == "mr"


def test_unknown_modality_lists_the_ones_found(tmp_path):
    _nested(tmp_path, n=2)
    with pytest.raises(
        ValueError, match=r"modalities \['t2'\] are not in .* found are \['ct', 't1'\]"
    ):
        load_nifti_folder(tmp_path, ["t1", "T2"])
