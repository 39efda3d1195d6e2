"""Lesions of the simulated brain phantom, written into the partial-volume fractions in place.

* Glioma-like tumours (:func:`add_glioma`): a necrotic core, an enhancing rim and vasogenic oedema on
  an irregular, lobulated radius field, optionally with satellite foci. Multiple lesions at diagnosis
  are reported in 0.5-20 % of glioblastomas, and in 35 % of one series with modern MRI (Patil et al.
  2012, J Neurooncol 106:361); the default multifocal share of 15 % lies inside that range.
* Small white-matter lesions (:func:`add_wm_lesions`): mostly ovoid and periventricular with the
  long axis perpendicular to the ventricular wall, the typical MS shape (Horowitz et al. 1989,
  AJNR 10:303), the rest round in deep white matter.

Indices are voxel indices of the ``(K, X, Y, Z)`` fraction array over
:data:`medgen_nb.data.brain_anatomy.TISSUES`; lengths are mm.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from medgen_nb.data.brain_anatomy import ORIGIN_1MM, T, smooth_noise


def _replace_brain(
    frac: np.ndarray, weight: np.ndarray, tissue: str, sl: tuple, gm_share: float = 1.0
) -> None:
    """Turn a share ``weight`` (0-1) of the WM (and ``gm_share`` of that for GM) in ``sl`` into
    ``tissue``, in place."""
    gm, wm = frac[T["gm"]][sl], frac[T["wm"]][sl]
    moved_gm, moved_wm = gm * weight * gm_share, wm * weight
    frac[T["gm"]][sl] = gm - moved_gm
    frac[T["wm"]][sl] = wm - moved_wm
    frac[T[tissue]][sl] += moved_gm + moved_wm


def _region(lo_vox: np.ndarray, hi_vox: np.ndarray, shape: tuple[int, ...]) -> tuple:
    lo = np.maximum(np.floor(lo_vox).astype(int), 0)
    hi = np.minimum(np.ceil(hi_vox).astype(int) + 1, shape)
    return tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))


def _pick(idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return idx[rng.integers(len(idx))].astype(float)


def _wm_voxels(frac: np.ndarray, min_wm: float, near: np.ndarray, max_mm: float, spacing: float):
    """Voxel indices with WM fraction >= ``min_wm`` within ``max_mm`` of ``near`` (all if none)."""
    idx = np.argwhere(frac[T["wm"]] >= min_wm)
    close = np.linalg.norm((idx - near) * spacing, axis=1) <= max_mm
    return idx[close] if close.any() else idx


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    return q * np.sign(np.diag(r))


def _inside(r: float, dist: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Share of a voxel inside radius ``r`` (soft edge over ~1 voxel, like a partial volume)."""
    return np.clip((r - dist) / spacing_mm + 0.5, 0.0, 1.0).astype(np.float32)


def add_glioma(
    frac: np.ndarray,
    spacing_mm: float,
    rng: np.random.Generator,
    multifocal_probability: float = 0.15,
) -> dict:
    """Write a glioma-like tumour into the fractions (in place): necrotic core, enhancing rim, oedema.

    Each focus is an ellipsoid (axis ratios ``exp(N(0, 0.2))``, random orientation) whose radius is
    modulated by a smooth random field: lobulation amplitude U(5, 40) %, 3-7 control points per
    axis, so shapes range from near-spherical to irregular and lobulated. The enhancing radius is
    U(5, 15) mm (satellites U(3, 7) mm); 20 % of tumours have no necrosis, the rest a core of
    U(30, 80) % of the enhancing radius; oedema reaches U(1.3, 3) x the enhancing radius on an
    even more irregular (finger-like) field. With ``multifocal_probability`` 1-2 satellite foci sit
    12-30 mm from the main one in white matter. Tumour and necrosis replace GM and WM; oedema
    replaces WM and only 30 % of GM (it tracks along white matter), never CSF.

    Returns ``Subject.meta`` entries: main centre (MNI mm), main radii (mm), number of foci.
    """
    shape = np.array(frac.shape[1:])
    mid = (shape - 1) / 2
    main = _pick(_wm_voxels(frac, 0.8, mid, 45.0, spacing_mm), rng)
    foci = [(main, rng.uniform(5.0, 15.0))]
    if rng.random() < multifocal_probability:
        for _ in range(int(rng.integers(1, 3))):
            near = _wm_voxels(frac, 0.8, main, 30.0, spacing_mm)
            far = np.linalg.norm((near - main) * spacing_mm, axis=1) >= 12.0
            foci.append((_pick(near[far] if far.any() else near, rng), rng.uniform(3.0, 7.0)))
    core_share = 0.0 if rng.random() < 0.2 else rng.uniform(0.3, 0.8)
    oedema_factor = rng.uniform(1.3, 3.0)
    lobulation = rng.uniform(0.05, 0.4)
    n_ctrl = int(rng.integers(3, 8))

    reach = max(r for _, r in foci) * oedema_factor * 1.6 / spacing_mm + 1
    centres = np.array([c for c, _ in foci])
    sl = _region(centres.min(0) - reach, centres.max(0) + reach, tuple(shape))
    sub = tuple(s.stop - s.start for s in sl)
    offs = np.array([s.start for s in sl], float)
    grid = np.stack(
        np.meshgrid(*[np.arange(n) + o for n, o in zip(sub, offs, strict=True)], indexing="ij"), -1
    )  # (x, y, z, 3) voxel indices
    noise = np.tanh(smooth_noise(rng, sub, n_ctrl, 2).numpy())  # (2, x, y, z) in (-1, 1)
    in_core = np.zeros(sub, np.float32)
    in_rim, in_oedema = in_core.copy(), in_core.copy()
    for centre, r_rim in foci:
        rot = _random_rotation(rng)
        axes = np.exp(rng.normal(0.0, 0.2, 3))
        q = ((grid - centre) * spacing_mm) @ rot / axes  # mm in the ellipsoid's frame
        dist = np.linalg.norm(q, axis=-1)
        d = dist / (1.0 + lobulation * noise[0])  # solid tumour: lobulated
        d_oedema = dist / (1.0 + (lobulation + 0.15) * noise[1])  # oedema: finger-like
        in_core = np.maximum(in_core, _inside(core_share * r_rim, d, spacing_mm))
        in_rim = np.maximum(in_rim, _inside(r_rim, d, spacing_mm))
        in_oedema = np.maximum(in_oedema, _inside(oedema_factor * r_rim, d_oedema, spacing_mm))
    in_rim = np.maximum(in_rim, in_core)
    in_oedema = np.maximum(in_oedema, in_rim)
    _replace_brain(frac, in_core, "necrosis", sl)
    rim = np.where(in_core < 1, (in_rim - in_core) / np.maximum(1 - in_core, 1e-6), 0)
    _replace_brain(frac, rim.astype(np.float32), "enhancing", sl)
    oed = (in_oedema - in_rim) / np.maximum(1 - in_rim, 1e-6)
    # Vasogenic oedema tracks along white matter and largely spares the cortex.
    _replace_brain(frac, np.where(in_rim < 1, oed, 0).astype(np.float32), "oedema", sl, 0.3)
    r_main = foci[0][1]
    world = main * spacing_mm + ORIGIN_1MM + (spacing_mm - 1) / 2
    return {
        "glioma_centre_mm": world.round(2).tolist(),
        "glioma_radii_mm": [
            round(core_share * r_main, 2),
            round(r_main, 2),
            round(oedema_factor * r_main, 2),
        ],
        "glioma_foci": len(foci),
    }


def add_wm_lesions(
    frac: np.ndarray,
    spacing_mm: float,
    rng: np.random.Generator,
    ventricles: np.ndarray | None = None,
) -> int:
    """Write 3-10 small white-matter lesions in place; returns their number.

    With a ventricle fraction map ``ventricles`` ``(X, Y, Z)``, 70 % are periventricular ovoids:
    centred in WM 2-12 mm from the ventricles, semi-minor axis U(1.5, 4) mm, long axis 1.3-2.5x
    that and pointing away from the ventricle centre (perpendicular to the wall). The others are
    round (radius U(1.5, 4.5) mm) in deep WM.
    """
    n = int(rng.integers(3, 11))
    shape = np.array(frac.shape[1:])
    mid = (shape - 1) / 2
    deep = _wm_voxels(frac, 0.9, mid, 60.0, spacing_mm)
    peri, vent_centre = None, mid
    if ventricles is not None and (ventricles > 0.5).any():
        vent = ventricles > 0.5
        vent_centre = np.array(ndimage.center_of_mass(vent))
        near = ndimage.binary_dilation(vent, iterations=max(1, round(12.0 / spacing_mm)))
        touching = ndimage.binary_dilation(vent, iterations=max(1, round(2.0 / spacing_mm)))
        peri = np.argwhere(near & ~touching & (frac[T["wm"]] >= 0.8))
        peri = peri if len(peri) else None
    for _ in range(n):
        periventricular = peri is not None and rng.random() < 0.7
        centre = _pick(peri if periventricular else deep, rng)
        minor = rng.uniform(1.5, 4.0) if periventricular else rng.uniform(1.5, 4.5)
        elong = rng.uniform(1.3, 2.5) if periventricular else 1.0
        axis = centre - vent_centre
        axis = axis / max(np.linalg.norm(axis), 1e-6)
        half = minor * elong / spacing_mm + 1
        sl = _region(centre - half, centre + half, tuple(shape))
        grid = np.stack(np.meshgrid(*[np.arange(s.start, s.stop) for s in sl], indexing="ij"), -1)
        p = (grid - centre) * spacing_mm  # (x, y, z, 3) mm
        along = p @ axis
        across = np.linalg.norm(p - along[..., None] * axis, axis=-1)
        d = np.sqrt((along / elong) ** 2 + across**2)  # ellipsoid radius in "minor" mm
        _replace_brain(frac, _inside(minor, d, spacing_mm), "wm_lesion", sl)
    return n
