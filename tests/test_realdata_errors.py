"""One test for each remaining input check of the real-data loaders and downloads."""

import gzip
import zipfile

import numpy as np
import pytest
from realdata_fakes import AFFINE, fake_ixi, fake_synthrad, head
from realdata_fakes import fake_dicom_series as write_series

from medgen_nb.data.io import save_nifti
from medgen_nb.data.realdata import load_dataset, load_dicom_series, load_ixi, load_nifti_folder
from medgen_nb.data.realdata.common import check_missing, first_n, to_unit
from medgen_nb.data.realdata.download import DownloadError, download, safe_extract, verify_format
from medgen_nb.data.realdata.medmnist import MedMNISTDataset, load_medmnist, read_medmnist_npz
from medgen_nb.data.realdata.synthrad import find_synthrad


def test_common_argument_checks():
    with pytest.raises(ValueError, match="missing must be one of"):
        check_missing("ignore")
    with pytest.raises(ValueError, match="subjects must be a positive int"):
        first_n({}, 0)
    with pytest.raises(ValueError, match="modality kind must be one of"):
        to_unit(np.zeros((2, 2, 2)), "pet", None)


def test_corrupt_zip_and_gz_fail_format_check(tmp_path):
    zpath = tmp_path / "a.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("x.bin", b"a" * 1000)
    data = bytearray(zpath.read_bytes())
    data[100] ^= 0xFF  # flip a byte of the stored member: its CRC fails
    zpath.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="CRC"):
        verify_format(zpath)
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress(b"x" * 10000)[:-20])
    with pytest.raises(DownloadError, match="truncated"):
        verify_format(tmp_path / "b.csv.gz")


def test_file_url_missing_and_archive_errors(tmp_path):
    with pytest.raises(DownloadError, match="no such file"):
        download((tmp_path / "none.tar").as_uri(), tmp_path / "out.tar", progressbar=False)
    with pytest.raises(ValueError, match="archive not found"):
        safe_extract(tmp_path / "none.zip", tmp_path / "out")
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 10)
    with pytest.raises(DownloadError, match="not a readable archive"):
        safe_extract(tmp_path / "junk.tar", tmp_path / "out")


def test_ixi_no_complete_subject(tmp_path):
    fake_ixi(tmp_path, ids=(2,), mods=("T2",))
    with pytest.warns(UserWarning):
        with pytest.raises(ValueError, match="no subject has all"):
            load_ixi(tmp_path, ("t2", "pd"), missing="skip")


def test_synthrad_bad_region(tmp_path):
    with pytest.raises(ValueError, match="region must be one of"):
        find_synthrad(fake_synthrad(tmp_path, n=1), 1, "thorax")


def test_nifti_folder_with_only_masks(tmp_path):
    from medgen_nb.data.io import save_nifti

    save_nifti(np.ones((4, 4, 4)), np.eye(4), tmp_path / "case0" / "mask.nii.gz")
    with pytest.raises(ValueError, match="no image modality"):
        load_nifti_folder(tmp_path)


def test_dicom_series_checks(tmp_path):
    write_series(tmp_path / "s")
    with pytest.raises(ValueError, match="series_uid '1.2.3' not in"):
        load_dicom_series(tmp_path / "s", series_uid="1.2.3")
    write_series(tmp_path / "one", order=[0])
    with pytest.raises(ValueError, match="has 1 slice"):
        load_dicom_series(tmp_path / "one")


def test_dicom_mixed_orientation_and_sizes(tmp_path):
    import pydicom

    folder = write_series(tmp_path / "o", series_uid="1.2.826.0.1.1")
    ds = pydicom.dcmread(folder / "f0.dcm")
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.save_as(folder / "f0.dcm")
    with pytest.raises(ValueError, match="different ImageOrientationPatient"):
        load_dicom_series(folder)
    folder = write_series(tmp_path / "z")
    ds = pydicom.dcmread(folder / "f0.dcm")
    ds.Rows = 3
    ds.PixelData = ds.PixelData[: 3 * ds.Columns * 2]
    ds.save_as(folder / "f0.dcm")
    with pytest.raises(ValueError, match="different sizes"):
        load_dicom_series(folder)


def test_medmnist_checks(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(ValueError, match="could not read"):
        read_medmnist_npz(tmp_path / "bad.npz", "train")
    with pytest.raises(ValueError, match="size must be an int >= 8"):
        MedMNISTDataset(np.zeros((2, 28, 28), np.uint8), np.zeros((2, 1)), size=4)
    from realdata_fakes import fake_medmnist_npz

    fake_medmnist_npz(tmp_path / "pneumoniamnist.npz")
    with pytest.raises(ValueError, match="limit must be a positive int"):
        load_medmnist("pneumoniamnist", tmp_path, limit=0)


def test_unpaired_needs_a_target(tmp_path):
    fake_synthrad(tmp_path, n=3)
    with pytest.raises(ValueError, match="unpaired=True needs a target"):
        load_dataset("synthrad", tmp_path, target=None, unpaired=True, size=32)


def _pairs(root, n, names=("t1", "ct")):
    for k in range(n):
        for j, name in enumerate(names):
            lo, hi = (-1000.0, 1200.0) if name == "ct" else (0.0, 1000.0)
            save_nifti(
                head(seed=k + 10 * j, lo=lo, hi=hi), AFFINE, root / f"c{k}" / f"{name}.nii.gz"
            )
    return root


def test_unpaired_split_that_cannot_be_formed_raises(tmp_path):
    """Three subjects gave {}: each split held one person, so one domain only."""
    root = _pairs(tmp_path, 3)
    with pytest.raises(ValueError, match=r"with 3 subjects .* Use at least 10 subjects"):
        load_dataset(f"nifti:{root}", unpaired=True, size=32)
    with pytest.raises(ValueError, match=r"fractions=\(1.0, 0.0, 0.0\)"):
        load_dataset(f"nifti:{root}", unpaired=True, size=32, fractions=(0.4, 0.3, 0.3))
    train = load_dataset(f"nifti:{root}", unpaired=True, size=32, fractions=(1.0, 0.0, 0.0))
    assert set(train) == {"train"} and len(train["train"]) > 0


def test_every_subject_left_out_raises(tmp_path):
    """All subjects skipped ended in IndexError (nifti) or {} (synthrad, brats)."""
    root = _pairs(tmp_path, 2)
    for k in range(2):
        save_nifti(head((16, 16, 8)), AFFINE, root / f"c{k}" / "t1.nii.gz")
    with pytest.warns(UserWarning, match="left out"):
        with pytest.raises(ValueError, match="no subject to load: all 2 were left out"):
            load_dataset(f"nifti:{root}", size=32, missing="skip")
    fake_synthrad(tmp_path / "sr", n=2, drop=("1BA001", "ct"))
    (tmp_path / "sr" / "Task1" / "brain" / "1BB002" / "mr.nii.gz").unlink()
    with pytest.warns(UserWarning, match="lack a modality"):
        with pytest.raises(ValueError, match=r"no subject to load: none has all"):
            load_dataset("synthrad", tmp_path / "sr", size=32, missing="skip")


def test_splits_of_no_subject_raise():
    from medgen_nb.data.realdata import slice_splits, unpaired_splits

    with pytest.raises(ValueError, match="no subjects to split"):
        slice_splits([], ["t1"])
    with pytest.raises(ValueError, match="with 0 subjects"):
        unpaired_splits([], [], "t1", "t2")
