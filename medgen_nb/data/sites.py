"""Simulated scanner sites: named bundles of scanner and protocol choices for both phantoms.

Models trained on one hospital's scanners often fail on another's; the review names
generalisation across devices and centres as an open problem (Pang et al. 2025, §7.2). A site
here is a *simulated* scanner park: MR field strength, coil, protocols, acceleration and vendor
intensity scale; CT tube voltage, reconstruction kernel and dose; PET reconstruction and
resolution. Training on one site and testing on another (``tasks.build(..., site=, test_site=)``)
measures that generalisation gap on data whose anatomy is otherwise alike.

=========  ====================================================================================
site       scanners
=========  ====================================================================================
site_a     3 T, 32-channel coil, MPRAGE / TSE / FLAIR; CT 120 kVp; PET OSEM + PSF, 4.5 mm system
site_b     1.5 T, 8-channel coil, spin-echo T1w and T1ce, TSE; CT 100 kVp; PET harmonised
           (EARL-like, wide filter), 5.5 mm system; MR vendor scale 0.6
site_c     3 T, 16-channel coil, 2x accelerated, spoiled gradient-echo T1w and T1ce; CT 140 kVp
           sharp kernel; PET "sharp" (PSF, no filter); MR vendor scale 1.5
site_d     1.5 T, 4-channel coil, 80 % acquisition matrix (coarser voxels, Gibbs ringing), MPRAGE;
           CT 80 kVp; PET OSEM, 6.5 mm system (an older PET/CT); MR vendor scale 2.0
=========  ====================================================================================

Values are typical of the clinical range (MR: Jack et al., JMRI 27:685, 2008 for ADNI's 1.5/3 T
protocols; CT: 80-140 kVp and soft/standard/sharp kernels of routine scanners; PET: Boellaard et
al., EJNMMI 42:328, 2015 for harmonised vs. PSF reconstructions; older PET/CT systems resolve
~6-7 mm, current ones ~4-5 mm). The sites are simulated: none models a real vendor or hospital.

This module only holds the presets (the data layer's lowest level above the physics); the
phantom configs apply them (:meth:`~medgen_nb.data.brain_phantom.BrainPhantomConfig.at_site`,
:meth:`~medgen_nb.data.chest_ct.ChestCTConfig.at_site`) and the loaders take ``site=``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from medgen_nb.data import mr_acquisition as mr
from medgen_nb.data.brain_anatomy import grid_shape
from medgen_nb.data.ct_physics import CTProtocol
from medgen_nb.data.pet_physics import PET_RECON_PRESETS


@dataclass(frozen=True)
class Site:
    """One simulated site.

    Attributes:
        name, description: as listed in :data:`SITES`.
        brain: ``BrainPhantomConfig`` field -> value, or a callable of the grid resolution (mm)
            returning the value (for settings that depend on the grid, e.g. the MR matrix).
        chest: ``ChestCTConfig`` field -> value.
    """

    name: str
    description: str
    brain: Mapping[str, Any]
    chest: Mapping[str, Any]

    def brain_overrides(self, resolution_mm: float) -> dict[str, Any]:
        """The brain fields this site sets, resolved for a grid of ``resolution_mm``."""
        return {k: (v(resolution_mm) if callable(v) else v) for k, v in self.brain.items()}

    def chest_overrides(self) -> dict[str, Any]:
        """The chest fields this site sets."""
        return dict(self.chest)


def _matrix(fraction: float) -> Callable[[float], tuple[int, int, int]]:
    def at(resolution_mm: float) -> tuple[int, int, int]:
        return tuple(max(8, round(fraction * n)) for n in grid_shape(resolution_mm))  # type: ignore[return-value]

    return at


SITES: dict[str, Site] = {
    site.name: site
    for site in (
        Site(
            "site_a",
            "3 T, 32-channel coil, MPRAGE/TSE/FLAIR; CT 120 kVp; PET OSEM + PSF",
            brain={
                "field_strength_t": 3.0,
                "mr_coils": 32,
                "mr_intensity_scale": 1.0,
                "ct": CTProtocol(kvp=120, kernel="soft", noise_hu=6.0),
                "pet_recon": PET_RECON_PRESETS["osem_psf"],
                "pet_fwhm_mm": 4.5,
            },
            chest={"ct": CTProtocol(kvp=120, kernel="standard", noise_hu=12.0)},
        ),
        Site(
            "site_b",
            "1.5 T, 8-channel coil, spin-echo T1w/T1ce, TSE; CT 100 kVp; PET harmonised",
            brain={
                "field_strength_t": 1.5,
                "mr_coils": 8,
                "t1w": mr.spin_echo(1.5),
                "t1ce": mr.spin_echo(1.5),
                "t2w": mr.turbo_spin_echo(1.5),
                "pd": mr.pd_turbo_spin_echo(1.5),
                "mr_intensity_scale": 0.6,
                "ct": CTProtocol(kvp=100, kernel="standard", noise_hu=6.0),
                "pet_recon": PET_RECON_PRESETS["harmonised"],
                "pet_fwhm_mm": 5.5,
            },
            chest={"ct": CTProtocol(kvp=100, kernel="standard", noise_hu=12.0)},
        ),
        Site(
            "site_c",
            "3 T, 16-channel coil, 2x accelerated SPGR T1w/T1ce; CT 140 kVp sharp; PET sharp",
            brain={
                "field_strength_t": 3.0,
                "mr_coils": 16,
                "mr_acceleration": 2,
                "t1w": mr.spgr(3.0),
                "t1ce": mr.spgr(3.0),
                "mr_intensity_scale": 1.5,
                "ct": CTProtocol(kvp=140, kernel="sharp", noise_hu=5.0),
                "pet_recon": PET_RECON_PRESETS["sharp"],
                "pet_fwhm_mm": 4.5,
            },
            chest={"ct": CTProtocol(kvp=140, kernel="sharp", noise_hu=10.0)},
        ),
        Site(
            "site_d",
            "1.5 T, 4-channel coil, 80 % matrix, MPRAGE; CT 80 kVp; older PET/CT (6.5 mm)",
            brain={
                "field_strength_t": 1.5,
                "mr_coils": 4,
                "mr_matrix": _matrix(0.8),
                "mr_intensity_scale": 2.0,
                "ct": CTProtocol(kvp=80, kernel="soft", noise_hu=6.0),
                "pet_recon": PET_RECON_PRESETS["osem"],
                "pet_fwhm_mm": 6.5,
                "pet_counts_per_suv": 120.0,
            },
            chest={"ct": CTProtocol(kvp=80, kernel="standard", noise_hu=12.0)},
        ),
    )
}


def available() -> list[str]:
    """Names of the simulated sites."""
    return list(SITES)


def get(name: str) -> Site:
    """The site called ``name``; a clear error naming the choices otherwise."""
    if not isinstance(name, str) or name not in SITES:
        raise ValueError(f"unknown site {name!r}; choose one of {available()} (or None)")
    return SITES[name]


def apply_overrides(config: Any, overrides: Mapping[str, Any], what: str) -> Any:
    """``config`` with ``overrides`` replaced (a frozen dataclass); unknown fields are refused."""
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"{what} sets unknown fields {unknown} of {type(config).__name__}")
    return dataclasses.replace(config, **overrides)
