"""DATA = "dicom:<folder>": one DICOM series per sub-folder -> one subject, CT in HU by the window."""

import numpy as np
import pydicom
import pytest
from realdata_fakes import fake_dicom_series as write_series

from medgen_nb.data.intensity import ct_window
from medgen_nb.data.realdata import (
    DataNotFoundError,
    load_dataset,
    load_dicom_folder,
    load_dicom_series,
)


def as_mr(folder):
    """Relabel a written series as MR (values then are MR signal, with no physical unit)."""
    for path in folder.glob("*.dcm"):
        ds = pydicom.dcmread(path)
        ds.Modality = "MR"
        ds.save_as(path)
    return folder


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Four CT patients (p0..p3) and three MR patients (m0..m2), each its own sub-folder."""
    base = tmp_path_factory.mktemp("dicom")
    for k in range(4):
        write_series(base / f"p{k}", z0=-10.0 + k)
    for k in range(3):
        as_mr(write_series(base / f"m{k}"))
    (base / "m0" / "README.txt").write_text("not DICOM: ignored")
    return base


def test_one_subject_per_subfolder_ct_window_and_mr(root):
    subjects = load_dicom_folder(root)
    assert [s.subject_id for s in subjects] == ["m0", "m1", "m2", "p0", "p1", "p2", "p3"]
    ct = subjects[3]
    volume, _, meta = load_dicom_series(root / "p0")
    assert list(ct.images) == ["ct"] and ct.intensity["ct"] == ct_window()
    assert np.allclose(ct.images["ct"], ct_window().forward(volume))  # HU -> [0, 1]
    assert ct.spacing_mm == pytest.approx(meta["spacing_mm"]) and ct.mask is None
    mr = subjects[0]
    assert list(mr.images) == ["mr"] and mr.intensity["mr"].kind == "mr"
    assert 0 <= mr.images["mr"].min() and mr.images["mr"].max() <= 1 and mr.mask is not None


def test_fit_side_shrinks_and_scales_spacing(root):
    s = load_dicom_folder(root, subjects=1, fit_side=4)[0]
    assert s.images["mr"].shape == (4, 3, 3) and s.meta["downsample"] == 2
    assert s.spacing_mm == pytest.approx((1.6, 1.0, 5.0))


def test_dispatcher_creation_and_unpaired(root):
    ct = load_dataset("dicom:" + str(root), sources="ct", size=32, min_foreground=0.0)
    assert "target" not in ct["train"][0] and ct["train"][0]["image"].shape == (1, 32, 32)
    assert {s for ds in ct.values() for s in ds.subject_ids} == {"p0", "p1", "p2", "p3"}
    unpaired = {"sources": "mr", "target": "ct", "unpaired": True, "size": 32}
    with pytest.raises(ValueError, match=r"with 7 subjects .* 'val' split gets 1 of 'mr' and 0"):
        load_dataset(f"dicom:{root}", **unpaired, min_foreground=0.0)  # val: one person
    mr_to_ct = load_dataset(
        f"dicom:{root}", **unpaired, min_foreground=0.0, fractions=(1.0, 0.0, 0.0)
    )
    train = mr_to_ct["train"]
    assert set(train.a.subject_ids) <= {"m0", "m1", "m2"}
    assert set(train.b.subject_ids) <= {"p0", "p1", "p2", "p3"}


def test_one_series_gives_no_paired_target(root):
    with pytest.raises(ValueError, match="one series per subject.*'mr': 3, 'ct': 4"):
        load_dataset(f"dicom:{root}", size=32)  # two modalities: which one?
    with pytest.raises(ValueError, match="no paired"):
        load_dataset(f"dicom:{root}", sources="mr", target="ct", size=32)


def test_unpaired_needs_two_present_modalities(root):
    with pytest.raises(ValueError, match=r"unpaired=True .* needs sources= and target="):
        load_dataset(f"dicom:{root}", sources="mr", target="pt", unpaired=True, size=32)


def test_empty_and_non_dicom_folders(tmp_path):
    with pytest.raises(DataNotFoundError, match="(?s)no sub-folders.*own sub-folder"):
        load_dicom_folder(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"sub-folder 'notes': no DICOM image.*missing='skip'"):
        load_dicom_folder(tmp_path)
    with pytest.warns(UserWarning, match="left out"):
        with pytest.raises(DataNotFoundError, match="no sub-folder holds a DICOM series"):
            load_dataset(f"dicom:{tmp_path}", missing="skip")
    with pytest.raises(ValueError, match="needs a folder"):
        load_dataset("dicom")


def test_skip_keeps_the_readable_series(root, tmp_path):
    write_series(tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.dcm").write_bytes(b"not really dicom")
    with pytest.warns(UserWarning, match="'b'"):
        assert [s.subject_id for s in load_dicom_folder(tmp_path, missing="skip")] == ["a"]
    with pytest.raises(ValueError, match="downsample must be a positive int"):
        load_dicom_folder(tmp_path, downsample=0, missing="skip")
