"""Render the chest modalities (HU or [0, 1]) from a simulated subject's clean HU volume and labels.

CBCT reuses :func:`medgen_nb.data.ct_physics.simulate_cbct` (the brain phantom's code), contrast
uses :mod:`medgen_nb.data.contrast` and ultrasound :mod:`medgen_nb.data.ultrasound`. Each image
gets its own noise draw, as separate acquisitions would. Everything here is simulated.
"""

from __future__ import annotations

import torch

from medgen_nb.data.chest_base import ORGAN_GROUPS
from medgen_nb.data.contrast import enhance_contrast
from medgen_nb.data.ct_physics import add_ct_noise, simulate_cbct
from medgen_nb.data.ultrasound import UltrasoundConfig, acoustic_properties, simulate_ultrasound

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
    """Axial US-like images, probe on the anterior skin of every slice.

    Args:
        hu, organs: ``(X, Y, Z)`` HU and grouped labels.
        pixel_mm: in-plane voxel size (square).

    Returns:
        ``(X, Y, Z)`` simulated US in [0, 1] (0 outside the fan and outside the body).
    """
    # Slices with depth down the rows: (Z, Y reversed = anterior first, X).
    h = hu.permute(2, 1, 0).flip(1)
    o = organs.permute(2, 1, 0).flip(1)
    lut = torch.zeros(max(ORGAN_GROUPS.values()) + 1)
    for name, value in ECHOGENICITY.items():
        lut[ORGAN_GROUPS[name]] = value
    echo = lut[o.long()]
    fat = (o == ORGAN_GROUPS["body"]) & (h < -30)
    echo = torch.where(fat, torch.full_like(echo, 0.6), echo)
    gel = o == 0
    h = torch.where(gel, torch.zeros_like(h), h)  # coupling gel (water) instead of air
    blood = gel | (o == ORGAN_GROUPS["aorta_vessels"])
    # Put the probe on the skin: roll each slice up so the body starts at the top row.
    centre = o[:, :, o.shape[2] // 2 - 3 : o.shape[2] // 2 + 4] > 0
    first = torch.where(
        centre.any(2).any(1), centre.any(2).float().argmax(1), torch.zeros(len(o)).long()
    )
    props = acoustic_properties(h, echo, blood)  # (Z, 3, H, W)
    n_rows = props.shape[2]
    rows = torch.arange(n_rows)
    up = (rows[None, :] + first[:, None]) % n_rows  # (Z, H): source row of each rolled row
    rolled = torch.gather(props, 2, up[:, None, :, None].expand_as(props))
    image, _ = simulate_ultrasound(rolled, pixel_mm, config, generator)
    down = (rows[None, :] - first[:, None]) % n_rows
    image = torch.gather(image, 1, down[:, :, None].expand_as(image))
    # The coupling medium is anechoic: keep echoes inside the body only (this also removes the
    # rows that wrapped round, and the interpolation blur of the skin echo into the gel).
    image = torch.where(~gel, image, torch.zeros_like(image))
    return image.flip(1).permute(2, 1, 0).contiguous()


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
    at ``config.kvp``; without it the v1 organ-group gains apply.
    """
    out = {"ct": add_ct_noise(hu, config.noise_hu, generator)}
    cbct, _ = simulate_cbct(hu.permute(2, 0, 1), generator, config.cbct)  # axial slices first
    out["cbct"] = cbct.permute(1, 2, 0)
    for phase in ("arterial", "venous"):
        enhanced = enhance_contrast(hu, organs, phase, structures=structures, kvp=config.kvp)
        out[f"ce_{phase}"] = add_ct_noise(enhanced, config.noise_hu, generator)
    out["us"] = simulate_chest_us(hu, organs, spacing_mm[0], config.ultrasound, generator)
    return out
