"""One DICOM series (a folder of 2-D slice files) -> a RAS volume in physical units.

What the DICOM standard (PS3.3 C.7.6.2, Image Plane module) needs us to do:

1. **Units**: stored values ``SV`` -> ``SV * RescaleSlope + RescaleIntercept`` (HU for CT).
2. **Order**: files arrive in any order and ``InstanceNumber`` is not geometry; sort by the
   projection of ``ImagePositionPatient`` on the slice normal ``n = row x col`` of
   ``ImageOrientationPatient``.
3. **Spacing**: in-plane from ``PixelSpacing`` (between rows, between columns); through-plane from
   the sorted positions (``SliceThickness`` is not the spacing; gaps and overlaps exist).
4. **Orientation**: DICOM patient space is LPS; build the voxel-to-LPS affine, flip to RAS, then
   reorder axes to RAS+ like every NIfTI in the package.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np

from medgen_nb.data.realdata.common import (
    Missing,
    check_downsample,
    check_missing,
    downsample_volume,
    first_n,
    foreground_mask,
    make_subject,
    not_found,
    shrink_factor,
)
from medgen_nb.data.realdata.folders import guess_kind
from medgen_nb.data.slices import Subject

_SPACING_TOL = 0.01  # relative spread of slice gaps accepted as uniform
_LAYOUT_FIX = "put each DICOM series in its own sub-folder: ROOT/<subject>/*.dcm"
# Tags without which a slice has no place or size in the volume (Image Plane module, type 1).
_GEOMETRY_TAGS: tuple[str, ...] = ("ImageOrientationPatient", "PixelSpacing")


def dicom_pixels(ds, path: str | os.PathLike | None = None) -> np.ndarray:
    """A slice's values in physical units (``stored * RescaleSlope + RescaleIntercept``), float32.

    An absent or empty slope/intercept is the identity (1, 0). A pixel-data decode error (a
    truncated file, a compressed transfer syntax without its plug-in) is a ``ValueError`` naming
    the file.
    """
    where = path if path is not None else getattr(ds, "filename", "a DICOM file")
    try:
        raw = ds.pixel_array.astype(np.float32)
    except Exception as exc:  # pydicom and its plug-ins raise many types
        raise ValueError(
            f"could not decode the pixel data of {where} ({type(exc).__name__}: {exc}); the file "
            "may be truncated (copy it again) or compressed with a transfer syntax that needs a "
            "pydicom plug-in (pip install pylibjpeg pylibjpeg-libjpeg), or leave the file out"
        ) from exc
    try:
        slope = float(getattr(ds, "RescaleSlope", None) or 1.0)
        intercept = float(getattr(ds, "RescaleIntercept", None) or 0.0)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{where}: RescaleSlope/RescaleIntercept are not numbers ({exc}); fix the tags"
        ) from exc
    return raw * slope + intercept


def _read_series(folder: Path, series_uid: str | None) -> list:
    import pydicom

    slices, series = [], {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=False)
        except Exception:  # not DICOM (README, DICOMDIR index...): skip
            continue
        if "PixelData" not in ds or "ImagePositionPatient" not in ds:
            continue
        uid = str(ds.get("SeriesInstanceUID", ""))
        series.setdefault(uid, []).append(ds)
    if not series:
        raise ValueError(f"no DICOM image with ImagePositionPatient found in {folder}")
    if series_uid is None:
        if len(series) > 1:
            listing = ", ".join(f"{u} ({len(v)} files)" for u, v in series.items())
            raise ValueError(
                f"{folder} holds {len(series)} series: {listing}; pass series_uid= to pick one"
            )
        series_uid = next(iter(series))
    if series_uid not in series:
        raise ValueError(f"series_uid {series_uid!r} not in {folder}; found {sorted(series)}")
    slices = series[series_uid]
    for ds in slices:
        lacking = [tag for tag in _GEOMETRY_TAGS if tag not in ds]
        if lacking:
            raise ValueError(
                f"{ds.filename}: DICOM file has no {' or '.join(lacking)}, so its place or pixel "
                "size in the volume is unknown; add the tag (or leave the file out)"
            )
    if len(slices) < 2:
        raise ValueError(f"series {series_uid} has 1 slice; a volume needs at least 2")
    return slices


def load_dicom_series(
    folder: str | os.PathLike, series_uid: str | None = None
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Read a DICOM series into a volume.

    Returns:
        ``(volume, affine, meta)``: ``volume`` ``(X, Y, Z)`` float32 in physical units (HU for
        CT) in RAS+ axis order; ``affine`` 4x4 voxel -> RAS world (mm); ``meta`` with
        ``modality``, ``spacing_mm``, ``series_uid``, ``n_slices``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"DICOM folder not found: {folder}")
    slices = _read_series(folder, series_uid)
    iop = np.array(slices[0].ImageOrientationPatient, dtype=np.float64)
    row_dir, col_dir = iop[:3], iop[3:]  # along a row (column index +1), along a column (row +1)
    normal = np.cross(row_dir, col_dir)
    for ds in slices:
        if not np.allclose(np.array(ds.ImageOrientationPatient, float), iop, atol=1e-4):
            raise ValueError(
                f"slices of the series have different ImageOrientationPatient ({ds.filename} "
                f"differs from {slices[0].filename}); a volume needs one orientation"
            )
    slices.sort(key=lambda ds: float(np.dot(normal, np.array(ds.ImagePositionPatient, float))))
    pos = np.array([ds.ImagePositionPatient for ds in slices], dtype=np.float64)
    gaps = np.diff(pos @ normal)
    if np.any(gaps <= 0):
        raise ValueError("two slices share one position: the folder may hold duplicates")
    if np.ptp(gaps) > _SPACING_TOL * gaps.mean():
        raise ValueError(
            f"slice gaps are not uniform ({gaps.min():.3f}-{gaps.max():.3f} mm); resample the series"
        )
    hu = [dicom_pixels(ds) for ds in slices]
    shapes = {h.shape for h in hu}
    if len(shapes) > 1:
        raise ValueError(f"slices have different sizes {sorted(shapes)}")
    # (rows, cols) per slice -> volume indexed [col, row, slice] so axis 0 follows row_dir.
    volume = np.stack(hu, axis=-1).transpose(1, 0, 2)
    dr, dc = (float(v) for v in slices[0].PixelSpacing)  # between rows, between columns
    step = (pos[-1] - pos[0]) / (len(slices) - 1)
    lps = np.eye(4)
    lps[:3, 0] = row_dir * dc
    lps[:3, 1] = col_dir * dr
    lps[:3, 2] = step
    lps[:3, 3] = pos[0]
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    img = nib.as_closest_canonical(nib.Nifti1Image(volume, ras))
    volume = np.asarray(img.dataobj, dtype=np.float32)
    spacing = tuple(float(s) for s in np.sqrt((img.affine[:3, :3] ** 2).sum(0)))
    meta = {
        "modality": str(getattr(slices[0], "Modality", "")),
        "spacing_mm": spacing,
        "series_uid": str(getattr(slices[0], "SeriesInstanceUID", "")),
        "n_slices": len(slices),
    }
    return volume, img.affine, meta


def dicom_subject(
    folder: str | os.PathLike,
    subject_id: str | None = None,
    series_uid: str | None = None,
    *,
    downsample: int = 1,
    fit_side: int | None = None,
) -> Subject:
    """A one-modality :class:`Subject` from a DICOM series: CT by the HU window, MR by percentiles.

    The image key is the DICOM ``Modality`` in lower case (``"ct"``, ``"mr"``...); the image is
    ``(X, Y, Z)`` float32 in [0, 1] (``ct_window`` from HU for CT, ``mr_robust`` inside a
    threshold mask otherwise). ``downsample`` and ``fit_side`` shrink it as in
    :func:`~.common.read_volumes`; ``spacing_mm`` is the spacing after shrinking.
    """
    volume, _, meta = load_dicom_series(folder, series_uid)
    factor = shrink_factor(volume.shape, downsample, fit_side)
    volume = downsample_volume(volume, factor)
    name = meta["modality"].lower() or "image"
    kind = guess_kind(name)
    mask = None if kind == "ct" else foreground_mask(volume)
    if factor > 1:  # meta["spacing_mm"] stays the series' own spacing
        meta = meta | {"downsample": factor}
    spacing = tuple(s * factor for s in meta["spacing_mm"])
    return make_subject(
        subject_id or Path(folder).name, {name: volume}, {name: kind}, spacing, mask=mask, meta=meta
    )


def load_dicom_folder(
    root: str | os.PathLike,
    *,
    subjects: int | None = None,
    missing: Missing = "error",
    downsample: int = 1,
    fit_side: int | None = None,
) -> list[Subject]:
    """One :class:`Subject` per sub-folder of ``root``, each sub-folder holding one DICOM series.

    Layout: ``ROOT/<subject>/**/*.dcm`` (any file names; non-DICOM files are ignored). The subject
    id is the sub-folder name, the image key the series' ``Modality`` (see :func:`dicom_subject`).

    Args:
        root: the folder of sub-folders.
        subjects: load only the first N sub-folders (by name).
        missing: ``"error"`` or ``"skip"`` (with a warning) sub-folders that hold no readable
            series, several series, or an irregular one.
        downsample, fit_side: as in :func:`~.ixi.load_ixi`.

    Returns:
        Subjects with one image ``(X, Y, Z)`` float32 in [0, 1] (RAS+).
    """
    root = Path(root).expanduser()
    check_missing(missing)
    check_downsample(downsample)  # before the loop, which turns reading errors into skips
    folders = (
        {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")}
        if root.is_dir()
        else {}
    )
    if not folders:
        raise not_found("DICOM folder", root, "no sub-folders", _LAYOUT_FIX)
    out = []
    for sid in first_n({k: {} for k in folders}, subjects):
        try:
            out.append(dicom_subject(folders[sid], sid, downsample=downsample, fit_side=fit_side))
        except ValueError as exc:
            msg = f"DICOM folder {root}: sub-folder {sid!r}: {exc}"
            if missing == "error":
                raise ValueError(
                    f"{msg}. Pass missing='skip' to leave such sub-folders out."
                ) from None
            warnings.warn(f"{msg}; left out (missing='skip').", stacklevel=2)
    if not out:
        raise not_found("DICOM folder", root, "no sub-folder holds a DICOM series", _LAYOUT_FIX)
    return out
