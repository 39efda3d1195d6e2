"""DICOM series written with pydicom: rescale to HU, geometric sort, spacing and RAS orientation."""

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid
from realdata_fakes import DICOM_COLS as COLS
from realdata_fakes import DICOM_DZ as DZ
from realdata_fakes import DICOM_N as N
from realdata_fakes import DICOM_PS as PS
from realdata_fakes import DICOM_ROWS as ROWS
from realdata_fakes import fake_dicom_series as write_series

from medgen_nb.data.intensity import ct_window
from medgen_nb.data.realdata import dicom_subject, load_dicom_series


def test_hu_sort_spacing_and_orientation(tmp_path):
    folder = write_series(tmp_path / "s", order=[3, 0, 4, 1, 2], slope=2.0, intercept=-1000.0)
    vol, affine, meta = load_dicom_series(folder)
    assert vol.shape == (COLS, ROWS, N)
    assert meta["spacing_mm"] == pytest.approx((PS[1], PS[0], DZ))
    assert meta["modality"] == "CT" and meta["n_slices"] == N
    # slices sorted by position, in HU: the inferior-most slice (k=0) holds 0 HU ...
    centre = vol[COLS // 2, ROWS // 2, :]
    assert np.allclose(centre, 100.0 * np.arange(N))
    # ... and the marker at DICOM (row 0, col 0) sits at its true RAS position
    idx = np.argwhere(vol == 1000.0)
    assert len(idx) == N
    i, j, k = idx[0]
    world_ras = affine @ np.array([i, j, k, 1.0])
    x_lps, y_lps, z = -20.0, -30.0, -10.0 + k * DZ
    assert world_ras[:3] == pytest.approx([-x_lps, -y_lps, z])
    # RAS+: each axis increases toward Right, Anterior, Superior
    assert np.all(np.diag(affine)[:3] > 0)


def test_subject_maps_ct_to_unit(tmp_path):
    s = dicom_subject(write_series(tmp_path / "s"), "case1")
    assert s.subject_id == "case1" and s.intensity["ct"] == ct_window()
    assert 0 <= s.images["ct"].min() and s.images["ct"].max() <= 1


def test_two_series_need_series_uid(tmp_path):
    uid = generate_uid()
    write_series(tmp_path / "s" / "a", series_uid=uid)
    write_series(tmp_path / "s" / "b")
    with pytest.raises(ValueError, match="holds 2 series.*series_uid"):
        load_dicom_series(tmp_path / "s")
    vol, _, meta = load_dicom_series(tmp_path / "s", series_uid=uid)
    assert meta["series_uid"] == uid and vol.shape[2] == N


def test_duplicate_positions_and_uneven_gaps(tmp_path):
    uid = generate_uid()
    write_series(tmp_path / "d", series_uid=uid, order=[0, 1, 2])
    write_series(tmp_path / "d" / "again", series_uid=uid, order=[2])
    with pytest.raises(ValueError, match="share one position"):
        load_dicom_series(tmp_path / "d")
    write_series(tmp_path / "u", order=[0, 1, 3])
    with pytest.raises(ValueError, match="not uniform"):
        load_dicom_series(tmp_path / "u")


def test_not_dicom(tmp_path):
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(ValueError, match="no DICOM image"):
        load_dicom_series(tmp_path)
    with pytest.raises(ValueError, match="not found"):
        load_dicom_series(tmp_path / "missing")
    assert pydicom.__version__


def test_real_ct_slice_from_pydicom(tmp_path):
    """pydicom's real CT_small (128x128, int16, intercept -1024) stacked into a 3-slice series."""
    from medgen_nb.data.sources import fetch

    real = pydicom.dcmread(fetch("pydicom_ct_small"))
    for k in range(3):  # copies 5 mm apart, written in reverse order
        real.ImagePositionPatient = [-158.135803, -179.035797, -75.699997 + 5.0 * k]
        real.SOPInstanceUID = generate_uid()
        real.save_as(tmp_path / f"{2 - k}.dcm")
    vol, affine, meta = load_dicom_series(tmp_path)
    stored = real.pixel_array.astype(np.float32)
    assert vol.shape == (128, 128, 3) and meta["spacing_mm"] == pytest.approx(
        (0.661468, 0.661468, 5.0)
    )
    # HU = stored - 1024; the RAS volume holds the rows/columns flipped for L->R and P->A
    assert np.array_equal(vol[:, :, 0], (stored - 1024.0).T[::-1, ::-1])
    assert affine[:3, 3] == pytest.approx(
        [158.135803 - 127 * 0.661468, 179.035797 - 127 * 0.661468, -75.699997], abs=1e-3
    )


@pytest.mark.parametrize("tag", ["PixelSpacing", "ImageOrientationPatient"])
def test_missing_geometry_tag_names_the_file(tmp_path, tag):
    """A file without PixelSpacing raised AttributeError, even with missing='skip'."""
    write_series(tmp_path / "s", without=(tag,))
    with pytest.raises(ValueError, match=rf"f0\.dcm.*no {tag}"):
        load_dicom_series(tmp_path / "s")


def test_missing_pixel_spacing_is_skipped(tmp_path):
    from medgen_nb.data.realdata import load_dicom_folder

    write_series(tmp_path / "r" / "good")
    write_series(tmp_path / "r" / "bad", without=("PixelSpacing",))
    with pytest.warns(UserWarning, match=r"'bad'.*no PixelSpacing.*left out"):
        assert [s.subject_id for s in load_dicom_folder(tmp_path / "r", missing="skip")] == ["good"]
    with pytest.raises(ValueError, match=r"'bad'.*f0\.dcm.*no PixelSpacing.*missing='skip'"):
        load_dicom_folder(tmp_path / "r")


def test_decode_error_names_the_file(tmp_path):
    folder = write_series(tmp_path / "s")
    ds = pydicom.dcmread(folder / "f2.dcm")
    ds.PixelData = ds.PixelData[:10]  # truncated
    ds.save_as(folder / "f2.dcm")
    with pytest.raises(ValueError, match=r"could not decode the pixel data of .*f2\.dcm"):
        load_dicom_series(folder)


def test_non_numeric_rescale_names_the_file(tmp_path):
    folder = write_series(tmp_path / "s")
    ds = pydicom.dcmread(folder / "f1.dcm")
    ds.RescaleSlope = ""
    ds.save_as(folder / "f1.dcm")
    vol, _, _ = load_dicom_series(folder)  # an empty slope is the identity, as DICOM allows
    assert np.isfinite(vol).all()
