"""SynthRAD2023 folder layout and the data script on a fabricated Task1.zip (file:// URL)."""

import zipfile

import numpy as np
import pytest
from realdata_fakes import fake_synthrad, script

from medgen_nb.data.intensity import ct_window
from medgen_nb.data.realdata import DataNotFoundError, load_dataset, load_synthrad
from medgen_nb.data.realdata.synthrad import synthrad_modalities


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = tmp_path_factory.mktemp("synthrad")
    fake_synthrad(r, task=1, region="brain")
    fake_synthrad(r, task=2, region="pelvis", n=3)
    return r


def test_task1_brain_mr_ct_units(root):
    subjects = load_synthrad(root, 1, "brain")
    assert [s.subject_id for s in subjects] == ["1BA001", "1BA004", "1BB002", "1BC003"]
    s = subjects[0]
    assert set(s.images) == {"mr", "ct"} and s.meta["centre"] == "A"
    assert s.intensity["ct"] == ct_window() and s.intensity["mr"].kind == "mr"
    # HU survive the round trip inside the window: background -1000 HU maps to 0 and back
    hu = s.intensity["ct"].inverse(s.images["ct"])
    assert abs(float(np.median(hu[~s.mask])) + 1000) < 50
    assert s.mask.dtype == bool and 0.2 < s.mask.mean() < 0.9


def test_task2_pelvis_cbct_is_ct_kind(root):
    subjects = load_synthrad(root, 2, "pelvis", subjects=2)
    assert len(subjects) == 2 and set(subjects[0].images) == {"cbct", "ct"}
    assert subjects[0].intensity["cbct"].unit == "HU"


def test_root_may_be_the_region_folder(root):
    assert len(load_synthrad(root / "Task1" / "brain", 1, "brain")) == 4


def test_missing_file_is_a_clear_error(tmp_path):
    fake_synthrad(tmp_path, drop=("1BB002", "mask"))
    with pytest.raises(ValueError, match=r"1BB002 \(no mask\)"):
        load_synthrad(tmp_path)


def test_mismatched_pair_shapes(tmp_path):
    fake_synthrad(tmp_path, n=1)
    from realdata_fakes import AFFINE, head

    from medgen_nb.data.io import save_nifti

    save_nifti(head((16, 16, 10)), AFFINE, tmp_path / "Task1" / "brain" / "1BA001" / "mr.nii.gz")
    with pytest.raises(ValueError, match=r"1BA001: .*\(16, 16, 10\).*one grid"):
        load_synthrad(tmp_path)


def test_bad_task_and_not_found(tmp_path):
    with pytest.raises(ValueError, match="task must be one of"):
        synthrad_modalities(3)
    with pytest.raises(DataNotFoundError, match="data_scripts/synthrad.py --task 1"):
        load_synthrad(tmp_path)


def test_dispatcher_default_task_mr_to_ct(root):
    splits = load_dataset("synthrad", root, size=32)
    assert set(splits) == {"train", "val", "test"}
    item = splits["train"][0]
    assert item["image"].shape == (1, 32, 32) and item["target"].shape == (1, 32, 32)
    assert 0 <= item["target"].min() and item["target"].max() <= 1


def test_script_extracts_subset_from_zip(tmp_path):
    src = fake_synthrad(tmp_path / "src", n=3)
    zpath = tmp_path / "srv" / "Task1.zip"
    zpath.parent.mkdir()
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in sorted(src.rglob("*.nii.gz")):
            zf.write(f, f.relative_to(src).as_posix())
    dest = tmp_path / "dest"
    url = (tmp_path / "srv").as_uri() + "/Task{task}.zip"
    assert (
        script("synthrad").main(["--subjects", "2", "--dest", str(dest), "--quiet", "--url", url])
        == 0
    )
    assert [s.subject_id for s in load_synthrad(dest)] == ["1BA001", "1BB002"]


def test_dispatcher_task2_pelvis(root):
    splits = load_dataset("synthrad", root, size=32, task=2, region="pelvis")
    assert splits["train"][0]["image"].shape == (1, 32, 32)
    assert splits["train"].sources == ["cbct"] and splits["train"].target == "ct"
