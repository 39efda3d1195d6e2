"""Render the chest modalities (HU or [0, 1]) from a simulated subject's clean HU volume and labels.

CBCT reuses :func:`medgen_nb.data.ct_physics.simulate_cbct` (the brain phantom's code), contrast
uses :mod:`medgen_nb.data.contrast` and ultrasound :mod:`medgen_nb.data.ultrasound`. Each image
gets its own noise draw, as separate acquisitions would. Everything here is simulated.
"""

from __future__ import annotations

import torch

from medgen_nb.data.chest_base import ORGAN_GROUPS
from medgen_nb.data.contrast import enhance_contrast
from medgen_nb.data.ct_physics import CTProtocol, add_ct_noise, simulate_cbct
from medgen_nb.data.ultrasound import (
    UltrasoundConfig,
    acoustic_properties,
    place_probe,
    simulate_ultrasound_at,
)

CHEST_MODALITIES: tuple[str, ...] = ("ct", "cbct", "ce_arterial", "ce_venous", "us")
# Backscatter strength by organ group (B-mode brightness before attenuation; liver is the usual
# reference: kidney cortex darker, fat brighter, blood anechoic, bone surfaces bright).
ECHOGENICITY: dict[str, float] = {
    "background": 0.0,  # coupling gel
    "body": 0.35,  # muscle; fat is raised below
    "lungs": 0.9,
    "heart": 0.25,
    "aorta_vessels": 0.02,
    "liver": 0.55,
    "kidneys": 0.4,
    "spine_ribs": 0.8,
    "spleen": 0.5,
}


def simulate_chest_us(
    hu: torch.Tensor,
    organs: torch.Tensor,
    pixel_mm: float,
    config: UltrasoundConfig,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Axial US-like images, the probe on the skin at ``config.window`` in every slice.

    The probe is placed by :func:`~medgen_nb.data.ultrasound.place_probe`: for the default
    ``"parasternal"`` window on the left anterior chest wall in an intercostal gap, aimed at the
    heart; ``"subcostal"`` in the epigastrium aimed at the liver (or heart); ``"anterior"`` on the
    anterior midline (v1, through the sternum). Ribs and sternum (``spine_ribs``) are avoided.

    Args:
        hu, organs: ``(X, Y, Z)`` HU and grouped labels.
        pixel_mm: in-plane voxel size (square).

    Returns:
        ``(X, Y, Z)`` simulated US in [0, 1] (0 outside the fan and outside the body).
    """
    h, o, echo, gel = _us_slices(hu, organs)
    blood = gel | (o == ORGAN_GROUPS["aorta_vessels"])
    h = torch.where(gel, torch.zeros_like(h), h)  # coupling gel (water) instead of air
    probe_rc, direction = place_probe(
        o > 0, o == ORGAN_GROUPS["spine_ribs"], _us_target(o, config.window), pixel_mm, config
    )
    props = acoustic_properties(h, echo, blood)  # (Z, 3, H, W)
    image, _ = simulate_ultrasound_at(props, probe_rc, direction, pixel_mm, config, generator)
    # The coupling medium is anechoic: keep echoes inside the body only (this also removes the
    # interpolation blur of the skin echo into the gel).
    image = torch.where(~gel, image, torch.zeros_like(image))
    return image.flip(1).permute(2, 1, 0).contiguous()


def _us_slices(hu: torch.Tensor, organs: torch.Tensor):
    """Slices with depth down the rows, ``(Z, Y reversed = anterior first, X)``: HU, labels,
    echogenicity and the gel (outside the body) mask."""
    h = hu.permute(2, 1, 0).flip(1)
    o = organs.permute(2, 1, 0).flip(1)
    lut = torch.zeros(max(ORGAN_GROUPS.values()) + 1)
    for name, value in ECHOGENICITY.items():
        lut[ORGAN_GROUPS[name]] = value
    echo = lut[o.long()]
    fat = (o == ORGAN_GROUPS["body"]) & (h < -30)
    echo = torch.where(fat, torch.full_like(echo, 0.6), echo)
    return h, o, echo, o == 0


def _us_target(o: torch.Tensor, window: str) -> torch.Tensor:
    """The organ each window images: the heart (parasternal), the liver, else the heart (subcostal)."""
    heart = o == ORGAN_GROUPS["heart"]
    if window != "subcostal":
        return heart
    liver = o == ORGAN_GROUPS["liver"]
    has_liver = liver.flatten(1).any(1)[:, None, None]
    return torch.where(has_liver, liver, heart)


def us_probe_placement(
    hu: torch.Tensor, organs: torch.Tensor, pixel_mm: float, config: UltrasoundConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where :func:`simulate_chest_us` puts the probe: ``(probe_rc, direction, bone)`` with
    ``(Z, 2)`` (row, col) skin points and unit beam directions in its slice frame
    (:func:`_us_slices`), and the ``(Z, H, W)`` bone (``spine_ribs``) mask of those slices."""
    _, o, _, _ = _us_slices(hu, organs)
    bone = o == ORGAN_GROUPS["spine_ribs"]
    rc, d = place_probe(o > 0, bone, _us_target(o, config.window), pixel_mm, config)
    return rc, d, bone


def render_modalities(
    hu: torch.Tensor,
    organs: torch.Tensor,
    spacing_mm,
    config,
    generator: torch.Generator,
    structures: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Clean ``(X, Y, Z)`` HU -> ``{"ct", "cbct", "ce_arterial", "ce_venous"}`` in HU and ``"us"`` in [0, 1].

    ``structures`` (:data:`~medgen_nb.data.contrast.STRUCTURES`) places the iodine per structure
    at ``config.ct.kvp``; without it the v1 organ-group gains apply.
    """
    protocol = config.ct
    if config.noise_hu is not None:  # the deprecated override of the dose setting
        protocol = CTProtocol(protocol.kvp, protocol.kernel, config.noise_hu)
    sx, sy, sz = (float(s) for s in spacing_mm)

    def ct_noise(volume: torch.Tensor) -> torch.Tensor:  # ramp NPS in the axial (X, Y) plane
        axial = volume.permute(2, 0, 1)
        noisy = add_ct_noise(
            axial, protocol.image_noise_hu, generator, kernel=protocol.kernel, spacing_mm=(sx, sy)
        )
        return noisy.permute(1, 2, 0)

    out = {"ct": ct_noise(hu)}
    cbct, _ = simulate_cbct(  # axial slices first
        hu.permute(2, 0, 1), generator, config.cbct, spacing_mm=(sx, sy, sz)
    )
    out["cbct"] = cbct.permute(1, 2, 0)
    for phase in ("arterial", "venous"):
        enhanced = enhance_contrast(hu, organs, phase, structures=structures, kvp=protocol.kvp)
        out[f"ce_{phase}"] = ct_noise(enhanced)
    out["us"] = simulate_chest_us(hu, organs, spacing_mm[0], config.ultrasound, generator)
    return out
