"""BraTS 2021 naming: detected per case folder, loaded under the 2023 names and labels."""

import zipfile

import numpy as np
import pytest
from realdata_fakes import AFFINE, fake_brats, script

from medgen_nb.data.io import save_nifti
from medgen_nb.data.realdata import load_brats, load_dataset


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """The same fabricated volumes written with the 2023 and the 2021 naming."""
    base = tmp_path_factory.mktemp("brats")
    return fake_brats(base / "2023"), fake_brats(base / "2021", release=2021)


def test_2021_loads_like_2023(roots):
    new, old = (load_brats(r) for r in roots)
    assert [s.subject_id for s in old] == [f"BraTS2021_{k:05d}" for k in range(3)]
    for a, b in zip(new, old, strict=True):
        assert list(b.images) == ["t1w", "t1ce", "t2w", "flair"]
        for m in a.images:  # t1 -> t1n, t1ce -> t1c, t2 -> t2w, flair -> t2f
            assert np.array_equal(a.images[m], b.images[m])
        # enhancing tumour 4 becomes 3: one label convention for both releases
        assert np.array_equal(a.labels["lesion"], b.labels["lesion"])
        assert set(np.unique(b.labels["lesion"])) == {0, 2, 3}
        assert np.array_equal(a.mask, b.mask)
    assert old[0].meta["files"]["t2f"].endswith("BraTS2021_00000_flair.nii.gz")


def test_2021_missing_modality_names_the_file(tmp_path):
    fake_brats(tmp_path, n=2, release=2021, drop=("BraTS2021_00001", "flair"))
    with pytest.raises(
        ValueError, match=r"BraTS2021_00001 \(no t2f: BraTS2021_00001_flair\.nii\.gz\).*skip"
    ):
        load_brats(tmp_path)
    with pytest.warns(UserWarning, match="left out"):
        assert [s.subject_id for s in load_brats(tmp_path, missing="skip")] == ["BraTS2021_00000"]
    assert len(load_brats(tmp_path, ["t1n", "t1c"])) == 2  # flair not asked for


def test_case_folder_mixing_namings(tmp_path):
    fake_brats(tmp_path, n=1, release=2021)
    case = tmp_path / "BraTS2021_00000"
    save_nifti(np.zeros((16, 16, 12)), AFFINE, case / "BraTS-GLI-00000-000-t1n.nii.gz")
    with pytest.raises(ValueError, match="mixes BraTS 2021 names with BraTS 2023.*one naming"):
        load_brats(tmp_path)


def test_root_mixing_releases(roots):
    with pytest.raises(
        ValueError,
        match=r"2021 case folders \(e\.g\. BraTS2021_00000\) and BraTS 2023.*one release per root",
    ):
        load_brats(roots[0].parent)


def test_2021_seg_with_label_3_is_rejected(tmp_path):
    fake_brats(tmp_path, n=1, release=2021, enhancing=3)
    with pytest.raises(ValueError, match=r"labels \[0, 2, 3\].*BraTS 2021 uses \[0, 1, 2, 4\]"):
        load_brats(tmp_path)
    assert load_brats(tmp_path, with_seg=False)[0].labels == {}


def test_dispatcher_and_script_with_2021(roots, tmp_path, capsys):
    train = load_dataset("brats", roots[1], size=32, min_foreground=0.01)["train"]
    assert train[0]["image"].shape == (1, 32, 32)
    assert max(int(train[i]["seg"].max()) for i in range(len(train))) == 3
    arc = tmp_path / "brats2021.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        for f in sorted(roots[1].rglob("*.nii.gz")):
            zf.write(f, "RSNA_ASNR_MICCAI_BraTS2021/" + f.relative_to(roots[1]).as_posix())
    dest = tmp_path / "dest"
    argv = ["--archive", str(arc), "--subjects", "2", "--dest", str(dest), "--quiet"]
    assert script("brats").main(argv) == 0
    assert "2 complete" in capsys.readouterr().out
    assert script("brats").main(["--check", str(roots[0].parent)]) == 1
    assert "one release per root" in capsys.readouterr().out
