"""The finer "structures" label map of the chest CT: vessels by kind, heart by tissue, organ parts.

The coarse ``organs`` map (:data:`~medgen_nb.data.contrast.ORGAN_GROUPS`) keeps its v1 ids for
segmentation, nodules and ultrasound. Contrast needs more: arteries apart from veins, myocardium
apart from the blood pool, the infrarenal IVC apart from the suprarenal, the bowel wall apart from
its content. :func:`structure_lookup` maps TotalSegmentator names to
:data:`~medgen_nb.data.contrast.STRUCTURES`; :func:`refine_structures` then splits what the label
map leaves whole, from the HU of the (contrast-enhanced) source scan:

- heart -> blood pool and myocardium: in the contrast source the blood pool is bright and the
  myocardium darker (myocardium ~ +60-100 HU against a blood pool ~ +250-300 HU; Bae, Radiology
  2010;256:32), so an Otsu threshold of the HU inside the heart label separates them;
- kidney -> cortex and medulla: the source is corticomedullary (cortex brighter), Otsu again;
- IVC -> supra- and infrarenal at the renal veins, taken at the kidneys' mid-height;
- oesophagus / stomach / bowel -> wall (soft tissue at the label's surface or next to gas) and
  content (gas, fluid and the rest);
- unlabelled soft tissue or lung above ``RESIDUAL_IODINE_HU`` connected to the vessels ->
  small_vessels (pulmonary arteries, the vessels inside the lung label, the injected arm's veins
  and others the label map leaves out), grown down to 90 HU.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from medgen_nb.data.contrast import BLOOD_STRUCTURES, RESIDUAL_IODINE_HU, STRUCTURES, bone_mask

# Structure-name substrings (rules checked in order) -> STRUCTURES name; unmatched -> other_organs.
_STRUCTURE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("lungs", ("lung_",)),
    ("blood_pool", ("heart", "atrial_appendage")),  # split into myocardium below
    ("pulmonary_veins", ("pulmonary_vein",)),
    ("portal_splenic_vein", ("portal_vein",)),
    ("superior_vena_cava", ("superior_vena_cava",)),
    ("brachiocephalic_vein_right", ("brachiocephalic_vein_right",)),
    ("brachiocephalic_vein_left", ("brachiocephalic_vein_left",)),
    ("ivc_suprarenal", ("inferior_vena_cava",)),  # split at the renal veins below
    ("iliac_veins", ("iliac_vena", "iliac_vein")),
    ("arteries", ("aorta", "artery", "brachiocephalic_trunk")),
    ("kidney_cyst", ("kidney_cyst",)),
    ("renal_cortex", ("kidney_",)),  # split into medulla below
    ("liver", ("liver",)),
    ("spleen", ("spleen",)),
    ("pancreas", ("pancreas",)),
    ("bowel_wall", ("esophagus", "stomach", "duodenum", "small_bowel", "colon")),
    ("muscle", ("autochthon", "iliopsoas", "gluteus")),
    (
        "bone",
        (
            "vertebrae_",
            "sacrum",
            "rib_",
            "sternum",
            "costal_cartilages",
            "clavicula",
            "scapula",
            "humerus",
            "femur",
            "hip_",
            "skull",
            "carpal",
        ),
    ),
    ("thyroid", ("thyroid",)),
)
BOWEL_TISSUE_HU = -30.0  # bowel voxels below this are gas or fat: content, never wall
GAS_HU = -300.0
VESSEL_GROW_HU = 90.0  # unenhanced soft tissue rarely exceeds this (blood 40-50, liver ~55 HU)


def structure_of(structure: str) -> str:
    """The :data:`STRUCTURES` name of a TotalSegmentator structure (``"other_organs"`` if none)."""
    for name, keys in _STRUCTURE_RULES:
        if any(key in structure for key in keys):
            return name
    return "other_organs"


def structure_lookup(table: dict[int, str]) -> np.ndarray:
    """A lookup array: fine label id -> :data:`STRUCTURES` id (0 stays background)."""
    lut = np.zeros(max(table) + 1, dtype=np.uint8)
    for label_id, name in table.items():
        lut[label_id] = STRUCTURES[structure_of(name)]
    return lut


def otsu_threshold(values: np.ndarray, bins: int = 128) -> float:
    """The threshold that maximises the between-class variance of ``values`` (Otsu 1979)."""
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(counts)
    w1 = w0[-1] - w0
    m0 = np.cumsum(counts * centres) / np.maximum(w0, 1)
    m1 = (np.sum(counts * centres) - np.cumsum(counts * centres)) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(edges[1 + int(np.argmax(between[:-1]))])


def _split_by_hu(hu, structures, bright: str, dark: str) -> None:
    inside = structures == STRUCTURES[bright]
    if inside.sum() >= 2:
        structures[inside & (hu < otsu_threshold(hu[inside]))] = STRUCTURES[dark]


def refine_structures(hu: np.ndarray, structures: np.ndarray) -> np.ndarray:
    """Split heart, kidneys, IVC and bowel, and mark unlabelled iodinated vessels (module doc).

    Args:
        hu: ``(X, Y, Z)`` HU of the contrast-enhanced source, RAS (z up).
        structures: ``(X, Y, Z)`` uint8 map from :func:`structure_lookup`.

    Returns:
        A new uint8 :data:`STRUCTURES` map.
    """
    if hu.shape != structures.shape:
        raise ValueError(f"hu shape {hu.shape} and structures shape {structures.shape} differ")
    out = structures.copy()
    _split_by_hu(hu, out, "blood_pool", "myocardium")
    _split_by_hu(hu, out, "renal_cortex", "renal_medulla")
    kidney = np.isin(out, [STRUCTURES[s] for s in ("renal_cortex", "renal_medulla", "kidney_cyst")])
    if kidney.any():
        renal_z = float(np.nonzero(kidney)[2].mean())  # renal veins join at about mid-kidney
        below = np.arange(out.shape[2])[None, None, :] < renal_z
        out[(out == STRUCTURES["ivc_suprarenal"]) & below] = STRUCTURES["ivc_infrarenal"]
    bowel = out == STRUCTURES["bowel_wall"]
    gas = bowel & (hu < GAS_HU)
    surface = bowel & ~ndimage.binary_erosion(bowel)
    wall = bowel & (hu >= BOWEL_TISSUE_HU) & (surface | ndimage.binary_dilation(gas))
    out[bowel & ~wall] = STRUCTURES["bowel_content"]
    # Unlabelled iodinated vessels: bright unlabelled tissue (or lung) connected to labelled blood.
    body = np.isin(out, (STRUCTURES["body"], STRUCTURES["lungs"])) & ~bone_mask(hu, out)
    grown, _ = ndimage.label(body & (hu > VESSEL_GROW_HU), structure=np.ones((3, 3, 3)))
    blood = np.isin(out, [STRUCTURES[s] for s in (*BLOOD_STRUCTURES, "myocardium")])
    near_blood = ndimage.binary_dilation(blood, iterations=2)
    seeded = np.unique(grown[body & (hu > RESIDUAL_IODINE_HU)])
    touching = np.unique(grown[near_blood])
    keep = np.intersect1d(seeded[seeded > 0], touching[touching > 0])
    out[np.isin(grown, keep)] = STRUCTURES["small_vessels"]
    return out
