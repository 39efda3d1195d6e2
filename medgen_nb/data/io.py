"""Reading and writing medical image files (NIfTI through nibabel) with clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np

from medgen_nb.utils import atomic_write


def save_nifti(volume: np.ndarray, affine: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a 3-D volume with its 4x4 voxel-to-world affine (mm) as NIfTI, atomically."""
    volume = np.asarray(volume)
    affine = np.asarray(affine, dtype=np.float64)
    if volume.ndim not in (3, 4):
        raise ValueError(f"volume must be 3-D or 4-D, got shape {volume.shape}")
    if affine.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got shape {affine.shape}")
    path = Path(path)
    if not (path.name.endswith(".nii") or path.name.endswith(".nii.gz")):
        raise ValueError(f"NIfTI file names end in .nii or .nii.gz, got {path.name!r}")
    img = nib.Nifti1Image(volume, affine)
    img.header.set_xyzt_units("mm")
    with atomic_write(path) as fh:
        fh.write(img.to_bytes() if path.name.endswith(".nii") else _gzip(img.to_bytes()))
    return path


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=6, mtime=0)


def load_nifti(path: str | os.PathLike, dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Read a NIfTI file; returns ``(volume, affine)`` in RAS+ axis order (reoriented if needed).

    Raises ``ValueError`` naming the file when it is missing, truncated or not NIfTI.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"NIfTI file not found: {path}")
    try:
        img = nib.as_closest_canonical(nib.load(str(path)))
        data = np.asarray(img.dataobj, dtype=dtype)
    except Exception as exc:  # nibabel raises several unrelated types for broken files
        raise ValueError(
            f"could not read {path} as NIfTI ({type(exc).__name__}: {exc}); the file may be truncated "
            "or of another format: download it again"
        ) from exc
    if not np.isfinite(data).all():
        raise ValueError(f"{path} contains NaN or infinite voxels")
    return data, img.affine
