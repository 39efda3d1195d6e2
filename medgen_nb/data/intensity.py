"""Intensity conventions: every image tensor that crosses the package API lies in [0, 1].

Each modality maps its physical unit to [0, 1] by one invertible rule, kept here and nowhere else:

===========  =====================================  ==================================
modality     physical unit                          rule to [0, 1]
===========  =====================================  ==================================
MR           arbitrary (signal intensity)           robust percentiles (0.5 %, 99.5 %) of the
                                                    foreground, clipped
CT, CBCT     Hounsfield units (HU)                  linear window, default [-1000, 2000] HU
PET          standardised uptake value (SUV, g/mL)  linear, [0, 12] SUV
X-ray (DRR)  line integral of attenuation (unitless) linear, [0, max] of the line integral
US           echo amplitude (arbitrary)             linear, [0, 1] already
===========  =====================================  ==================================

Values outside a window are clipped, so ``inverse(forward(x)) == x`` holds inside the window only.
:func:`check_unit_range` enforces the convention where images enter the datasets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor
IntensityKind = Literal["mr", "ct", "pet", "xray", "us"]
INTENSITY_KINDS: tuple[str, ...] = ("mr", "ct", "pet", "xray", "us")

CT_WINDOW_HU: tuple[float, float] = (-1000.0, 2000.0)
# Brain window (level 40, width 80 HU): grey and white matter differ by only ~10 HU (GM ~35-45,
# WM ~20-30 HU), invisible in the default window; for evaluating brain CT, not for storage.
CT_BRAIN_WINDOW_HU: tuple[float, float] = (0.0, 80.0)
PET_SUV_RANGE: tuple[float, float] = (0.0, 12.0)
MR_PERCENTILES: tuple[float, float] = (0.5, 99.5)
# Slack allowed around [0, 1]: float16 storage and resampling overshoot stay well inside it.
UNIT_TOLERANCE = 1e-3
_UNIT_FIX = (
    "map it to [0, 1] with its intensity map from medgen_nb.data.intensity first: "
    "ct_window().forward(hu) for CT/CBCT in HU, mr_robust(volume, mask).forward(volume) for MR, "
    "pet_suv().forward(suv) for PET (keep the map: it inverts the images)"
)


@dataclass(frozen=True)
class IntensityMap:
    """An invertible linear map from a physical range ``[lo, hi]`` (in ``unit``) to [0, 1]."""

    kind: str
    lo: float
    hi: float
    unit: str

    def __post_init__(self) -> None:
        if self.kind not in INTENSITY_KINDS:
            raise ValueError(f"kind must be one of {INTENSITY_KINDS}, got {self.kind!r}")
        if not np.isfinite([self.lo, self.hi]).all() or self.hi <= self.lo:
            raise ValueError(f"need finite lo < hi, got lo={self.lo}, hi={self.hi}")

    def forward(self, x: ArrayLike) -> ArrayLike:
        """Physical units -> [0, 1] (clipped)."""
        y = (x - self.lo) / (self.hi - self.lo)
        return y.clip(0.0, 1.0)

    def inverse(self, y: ArrayLike) -> ArrayLike:
        """[0, 1] -> physical units."""
        return y * (self.hi - self.lo) + self.lo


def ct_window(lo: float = CT_WINDOW_HU[0], hi: float = CT_WINDOW_HU[1]) -> IntensityMap:
    """CT/CBCT: Hounsfield units in ``[lo, hi]`` -> [0, 1]."""
    return IntensityMap("ct", lo, hi, "HU")


def ct_brain_window(
    lo: float = CT_BRAIN_WINDOW_HU[0], hi: float = CT_BRAIN_WINDOW_HU[1]
) -> IntensityMap:
    """Brain CT window: HU in ``[lo, hi]`` (default 0-80 HU) -> [0, 1]; bone and air saturate."""
    return IntensityMap("ct", lo, hi, "HU")


def pet_suv(lo: float = PET_SUV_RANGE[0], hi: float = PET_SUV_RANGE[1]) -> IntensityMap:
    """PET: SUV in ``[lo, hi]`` -> [0, 1]."""
    return IntensityMap("pet", lo, hi, "SUV")


def mr_robust(
    volume: ArrayLike,
    mask: ArrayLike | None = None,
    percentiles: tuple[float, float] = MR_PERCENTILES,
) -> IntensityMap:
    """MR: a map from the ``percentiles`` of ``volume`` (inside ``mask`` if given) to [0, 1].

    MR signal has no absolute unit, so each volume gets its own map; store it to invert later.
    """
    v = volume.detach().cpu().numpy() if isinstance(volume, torch.Tensor) else np.asarray(volume)
    if mask is not None:
        m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        if m.shape != v.shape:
            raise ValueError(f"mask shape {m.shape} does not match volume shape {v.shape}")
        v = v[m.astype(bool)]
        if v.size == 0:
            raise ValueError("mask is empty: cannot compute MR percentiles from no voxels")
    if not np.isfinite(v).all():
        raise ValueError("volume contains NaN or infinite values; clean it before normalising")
    lo, hi = np.percentile(v, percentiles)
    if hi <= lo:
        hi = lo + 1.0  # constant image: keep the map invertible
    return IntensityMap("mr", float(lo), float(hi), "a.u.")


def linear_unit(kind: IntensityKind, lo: float, hi: float, unit: str) -> IntensityMap:
    """A plain linear map, for X-ray line integrals or US amplitude."""
    return IntensityMap(kind, lo, hi, unit)


def check_unit_range(x: ArrayLike, what: str) -> None:
    """Raise ``ValueError`` unless ``x`` is floating point, finite and in [0, 1].

    ``UNIT_TOLERANCE`` of slack is allowed on either side. ``what`` names the array in the
    message (e.g. ``"subject s0: image 'ct'"``), which also says how to map physical units.
    """
    if isinstance(x, torch.Tensor):
        floating, dtype = x.is_floating_point(), str(x.dtype).removeprefix("torch.")
    else:
        x = np.asarray(x)
        floating, dtype = bool(np.issubdtype(x.dtype, np.floating)), str(x.dtype)
    if not floating:
        hint = "; for 8-bit images divide by 255" if dtype == "uint8" else ""
        raise ValueError(
            f"{what} must be a floating-point image in [0, 1], got dtype {dtype}: {_UNIT_FIX}{hint}"
        )
    if x.numel() == 0 if isinstance(x, torch.Tensor) else x.size == 0:
        return
    lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{what} contains NaN or inf; clean it before mapping it to [0, 1]")
    if lo < -UNIT_TOLERANCE or hi > 1.0 + UNIT_TOLERANCE:
        raise ValueError(
            f"{what} must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]: {_UNIT_FIX}"
        )
