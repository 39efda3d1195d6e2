"""Real single images for out-of-distribution checks of models trained on the simulated brains.

None of these is paired with anything: they show how far the simulated phantom is from real data.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np

from medgen_nb.data.intensity import IntensityMap, ct_window, mr_robust
from medgen_nb.data.sources import fetch

REAL_EXAMPLES: tuple[str, ...] = (
    "dipy_t1_coronal_slice",
    "pydicom_ct_small",
    "pydicom_mr_small",
    "mni152_2009a_t1",
)


@dataclass(frozen=True)
class RealExample:
    """One real 2-D image in [0, 1] with the map back to its physical unit.

    Attributes:
        image: ``(H, W)`` float32 in [0, 1], anterior/superior up.
        intensity: the map from physical unit to [0, 1] (``intensity.unit`` says which: HU, a.u.).
        modality: ``"mr"`` or ``"ct"``. spacing_mm: pixel size (row, column) in mm if known.
        source: registry name (see :func:`medgen_nb.data.sources.attribution`).
    """

    image: np.ndarray
    intensity: IntensityMap
    modality: str
    spacing_mm: tuple[float, float] | None
    source: str


def _dicom(name: str) -> tuple[np.ndarray, str, tuple[float, float] | None]:
    import pydicom

    from medgen_nb.data.realdata.dicom import dicom_pixels  # here: realdata is a heavier import

    path = fetch(name)
    ds = pydicom.dcmread(str(path))
    # Stored values -> physical values (HU for CT) by the DICOM rescale, identity if absent.
    physical = dicom_pixels(ds, path)
    spacing = getattr(ds, "PixelSpacing", None)
    sp = (float(spacing[0]), float(spacing[1])) if spacing is not None else None
    return physical, str(ds.Modality), sp


def load_real_examples() -> dict[str, RealExample]:
    """Real 2-D images keyed by registry name (see :data:`REAL_EXAMPLES`), each in [0, 1].

    CT is read from DICOM with RescaleSlope/Intercept to HU and mapped by the course CT window; MR
    images use the robust MR percentiles; the MNI152 2009a T1 gives its middle axial slice.
    """
    out: dict[str, RealExample] = {}
    dipy = np.load(fetch("dipy_t1_coronal_slice"), allow_pickle=False).astype(np.float32)
    m = mr_robust(dipy, dipy > 0)
    out["dipy_t1_coronal_slice"] = RealExample(
        m.forward(dipy), m, "mr", None, "dipy_t1_coronal_slice"
    )
    hu, _, sp = _dicom("pydicom_ct_small")
    w = ct_window()
    out["pydicom_ct_small"] = RealExample(w.forward(hu), w, "ct", sp, "pydicom_ct_small")
    mr, _, sp = _dicom("pydicom_mr_small")
    m = mr_robust(mr, mr > 0)
    out["pydicom_mr_small"] = RealExample(m.forward(mr), m, "mr", sp, "pydicom_mr_small")
    out["mni152_2009a_t1"] = RealExample(*mni_t1_axial(), "mni152_2009a_t1")
    return out


def mni_t1_axial(z_mm: float = 10.0) -> tuple[np.ndarray, IntensityMap, str, tuple[float, float]]:
    """The real ICBM152 2009a T1 at MNI ``z = z_mm``: ``(image (Y, X) anterior up, map, "mr", sp)``."""
    img = nib.as_closest_canonical(nib.load(str(fetch("mni152_2009a_t1"))))
    k = int(round((np.linalg.inv(img.affine) @ np.array([0.0, 0.0, z_mm, 1.0]))[2]))
    if not 0 <= k < img.shape[2]:
        raise ValueError(f"z_mm={z_mm} lies outside the template (z index {k})")
    sl = np.rot90(np.asarray(img.dataobj[:, :, k], dtype=np.float32))
    m = mr_robust(sl, sl > 0)
    return m.forward(sl).astype(np.float32), m, "mr", (1.0, 1.0)
