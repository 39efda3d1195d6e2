"""Chest CT data set: simulated subjects from one real chest CT, with every derived modality.

The review's translation table is dominated by body sites (lung, liver, abdomen) and by CT -> X-ray,
CBCT -> CT, NC -> CE CT and CT -> US pairs (Pang et al. 2025, translation table). One real chest
CT (:mod:`medgen_nb.data.chest_base`) becomes many *simulated* subjects:

1. anatomy varies by a seeded smooth deformation plus a small rotation, scaling and shift;
2. optional synthetic lung nodules (radius, density) with an instance mask and 3-D boxes;
3. modalities, all co-registered and mapped to [0, 1] (:mod:`medgen_nb.data.intensity`):

===============  ===================================================  ====================
modality         how                                                  intensity map
===============  ===================================================  ====================
``ct``           the virtual non-contrast CT + CT noise               ct_window (HU)
``cbct``         :func:`medgen_nb.data.ct_physics.simulate_cbct`      ct_window (HU)
``ce_arterial``  iodine gains of the arterial phase (+ noise)         ct_window (HU)
``ce_venous``    iodine gains of the portal-venous phase (+ noise)    ct_window (HU)
``us``           sector-probe B-mode from HU and labels               linear [0, 1] (a.u.)
===============  ===================================================  ====================

X-ray images come from the CT by projection (:func:`drr_pairs`, :mod:`medgen_nb.data.drr`).
Subjects are cached on disk by ``(seed, config)``; everything here is simulated from one real scan.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from medgen_nb.data import sites
from medgen_nb.data.checks import check_count, check_fractions
from medgen_nb.data.chest_base import ORGAN_GROUPS, load_chest_base
from medgen_nb.data.chest_modalities import CHEST_MODALITIES, render_modalities
from medgen_nb.data.chest_nodules import NoduleConfig, insert_nodules
from medgen_nb.data.contrast import STRUCTURES, hu_per_mg_ml
from medgen_nb.data.ct_physics import FOV_RADIUS_HALF_FAN_MM, CBCTArtefacts, CTProtocol, hu_to_mu
from medgen_nb.data.drr import (
    GEOMETRIES,
    P_MAX,
    XRayExposure,
    drr,
    expose,
    xray_geometry,
    xray_image,
)
from medgen_nb.data.intensity import IntensityMap, ct_window, linear_unit
from medgen_nb.data.modalities import canonical_or_self
from medgen_nb.data.slices import SliceDataset, Subject, check_slice_args, split_subjects
from medgen_nb.data.ultrasound import UltrasoundConfig
from medgen_nb.utils import atomic_write, cache_dir

__all__ = [
    "CHEST_MODALITIES",
    "ORGAN_GROUPS",
    "STRUCTURES",
    "ChestCTConfig",
    "NoduleConfig",
    "simulate_chest_subject",
    "load_chest_subjects",
    "chest_slice_datasets",
    "drr_pairs",
    "boxes_from_seg",
]
# A 43 x 43 cm flat-panel detector, the size of a chest radiograph (the 14 x 17 in film's long side).
DETECTOR_SIZE_MM = 430.0
# Default detection of drr_pairs: chest SPR 2 without grid (Niklason et al., Med Phys 8:677, 1981),
# through an anti-scatter grid (effective SPR ~0.3), quantum noise at ~1e6 photons/mm^2.
CHEST_EXPOSURE = XRayExposure(scatter_to_primary=2.0, anti_scatter_grid=True)
SUBJECT_VERSION = 3  # bump when the simulation changes, so cached subjects are rebuilt


@dataclass(frozen=True)
class ChestCTConfig:
    """How simulated chest subjects are made (defaults fit Binder's 2 GB).

    Attributes:
        in_plane_mm, slice_mm: voxel size of the base volume (2.8 mm -> 129 x 129 in-plane, 66 slices).
        deformation_mm: std of the smooth displacement at its control points (mm).
        deformation_points: control points per axis of the displacement field.
        rotation_deg: max rotation about the body axis; scale_range: isotropic scaling;
        shift_mm: max translation along each axis.
        noise_hu: deprecated override of ``ct.noise_hu`` (default ``None``: use ``ct``).
        ct: CT protocol of ``ct`` and the contrast phases (kVp, kernel, dose as noise at 120 kVp
            with the standard kernel; default 120 kVp, standard kernel, 12 HU; ramp-shaped NPS).
        nodules: synthetic lung nodules (``NoduleConfig(max_count=0)`` for none).
        cbct: CBCT acquisition and reconstruction; default half-fan, 225 mm field-of-view radius
            (a thorax does not fit the 250 mm full-fan field). ultrasound: probe settings.
            The tube voltage ``ct.kvp`` also sets iodine's HU per mg/mL in the contrast
            phases (:func:`~medgen_nb.data.contrast.hu_per_mg_ml`).
    """

    in_plane_mm: float = 2.8
    slice_mm: float = 5.0
    deformation_mm: float = 4.0
    deformation_points: int = 5
    rotation_deg: float = 4.0
    scale_range: tuple[float, float] = (0.94, 1.06)
    shift_mm: float = 6.0
    noise_hu: float | None = None
    nodules: NoduleConfig = field(default_factory=NoduleConfig)
    cbct: CBCTArtefacts = field(
        default_factory=lambda: CBCTArtefacts(fov_radius_mm=FOV_RADIUS_HALF_FAN_MM)
    )
    ultrasound: UltrasoundConfig = field(
        default_factory=lambda: UltrasoundConfig(n_lines=96, n_depth=160)
    )
    ct: CTProtocol = CTProtocol(kvp=120, kernel="standard", noise_hu=12.0)

    def __post_init__(self) -> None:
        if not isinstance(self.ct, CTProtocol):
            raise ValueError(f"ct must be a CTProtocol, got {self.ct!r}")
        hu_per_mg_ml(self.ct.kvp)  # raises ValueError naming kvp when out of the table
        if self.noise_hu is not None and not self.noise_hu >= 0:  # NaN too
            raise ValueError(f"noise_hu must be >= 0, got {self.noise_hu}")
        for name in ("deformation_mm", "rotation_deg", "shift_mm"):
            if not getattr(self, name) >= 0:  # NaN too
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        lo, hi = self.scale_range
        if not 0.5 <= lo <= hi <= 2.0:
            raise ValueError(
                f"scale_range must satisfy 0.5 <= lo <= hi <= 2, got {self.scale_range}"
            )
        check_count(self.deformation_points, "deformation_points", minimum=2)

    def at_site(self, site: str | None) -> ChestCTConfig:
        """This configuration with the CT settings of a simulated ``site``
        (:data:`medgen_nb.data.sites.SITES`) replaced; ``None`` returns it unchanged."""
        if site is None:
            return self
        return sites.apply_overrides(self, sites.get(site).chest_overrides(), f"site {site!r}")


def _warp_grid(shape, spacing, cfg: ChestCTConfig, g: torch.Generator) -> tuple[torch.Tensor, dict]:
    """``(1, X, Y, Z, 3)`` grid_sample coordinates (affine + smooth deformation, output -> source),
    and the drawn affine parameters."""
    axes = [(torch.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing, strict=False)]  # mm
    x, y, z = torch.meshgrid(*axes, indexing="ij")

    def uniform(lo: float, hi: float) -> float:
        return float(lo + (hi - lo) * torch.rand((), generator=g))

    angle = np.deg2rad(uniform(-cfg.rotation_deg, cfg.rotation_deg))
    scale = uniform(*cfg.scale_range)
    shift = [uniform(-cfg.shift_mm, cfg.shift_mm) for _ in range(3)]
    c, s = np.cos(angle), np.sin(angle)
    sx = (c * x - s * y) / scale + shift[0]
    sy = (s * x + c * y) / scale + shift[1]
    sz = z / scale + shift[2]
    k = cfg.deformation_points
    coarse = torch.randn((1, 3, k, k, k), generator=g) * cfg.deformation_mm
    disp = F.interpolate(coarse, size=tuple(shape), mode="trilinear", align_corners=True)[0]
    half = [(n - 1) / 2 * sp for n, sp in zip(shape, spacing, strict=False)]
    # grid_sample wants (W, H, D) order = (Z, Y, X) for an input laid out (X, Y, Z).
    grid = torch.stack(
        ((sz + disp[2]) / half[2], (sy + disp[1]) / half[1], (sx + disp[0]) / half[0]), -1
    )[None]
    params = {"rotation_deg": float(np.rad2deg(angle)), "scale": scale, "shift_mm": shift}
    return grid, params


def _intensity_maps() -> dict[str, IntensityMap]:
    """HU window for the CT family; US is already in [0, 1]."""
    maps = {k: ct_window() for k in CHEST_MODALITIES if k != "us"}
    maps["us"] = linear_unit("us", 0.0, 1.0, "a.u. (log-compressed echo)")
    return maps


def _subject_id(seed: int) -> str:
    return f"chest-{seed:07d}"


def simulate_chest_subject(seed: int, config: ChestCTConfig = ChestCTConfig()) -> Subject:
    """One simulated chest subject.

    Returns:
        :class:`Subject` with ``images`` = every name in :data:`CHEST_MODALITIES`, ``(X, Y, Z)``
        float32 in [0, 1]; ``labels`` ``"organs"`` (:data:`ORGAN_GROUPS`), ``"structures"``
        (:data:`STRUCTURES`, the finer map contrast uses) and ``"nodules"`` (instance ids 1..K, 0
        elsewhere); ``mask`` = body; ``meta`` with the drawn parameters and
        ``"nodules"``: a list of dicts (``center_vox``, ``radius_mm``, ``hu``, ``box_vox`` as
        ``[x0, y0, z0, x1, y1, z1]``, end exclusive).
    """
    check_count(seed, "seed", minimum=0)
    base = load_chest_base(config.in_plane_mm, config.slice_mm)
    g = torch.Generator().manual_seed(seed)
    grid, warp = _warp_grid(base.hu.shape, base.spacing_mm, config, g)
    hu_air = torch.from_numpy(base.hu + 1000.0)[None, None]  # zero padding = air
    hu = F.grid_sample(hu_air, grid, mode="bilinear", align_corners=True)[0, 0] - 1000.0
    organs = torch.from_numpy(base.organs.astype(np.float32))[None, None]
    organs = F.grid_sample(organs, grid, mode="nearest", align_corners=True)[0, 0].to(torch.uint8)
    structures = torch.from_numpy(base.structures.astype(np.float32))[None, None]
    structures = F.grid_sample(structures, grid, mode="nearest", align_corners=True)[0, 0]
    structures = structures.to(torch.uint8)  # same grid as organs: the two maps stay consistent
    hu, nodules, nodule_meta = insert_nodules(hu, organs, base.spacing_mm, config.nodules, g)
    rendered = render_modalities(hu, organs, base.spacing_mm, config, g, structures=structures)
    intensity = _intensity_maps()
    images = {k: intensity[k].forward(v).numpy().astype(np.float32) for k, v in rendered.items()}
    body = organs.numpy() > 0
    return Subject(
        subject_id=_subject_id(seed),
        images=images,
        intensity=intensity,
        spacing_mm=base.spacing_mm,
        labels={
            "organs": organs.numpy(),
            "structures": structures.numpy(),
            "nodules": nodules.numpy(),
        },
        mask=body,
        meta={
            "seed": seed,
            **warp,
            "nodules": nodule_meta,
            "n_nodules": len(nodule_meta),
            "simulated": True,
        },
    )


def _cache_key(seed: int, config: ChestCTConfig) -> str:
    text = json.dumps([SUBJECT_VERSION, seed, dataclasses.asdict(config)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _save(subject: Subject, path) -> None:
    arrays = {f"img_{k}": v.astype(np.float16) for k, v in subject.images.items()}
    arrays |= {f"lab_{k}": v for k, v in subject.labels.items()}
    with atomic_write(path) as fh:
        np.savez_compressed(fh, mask=subject.mask, meta=json.dumps(subject.meta), **arrays)


def _load(path, seed: int, spacing) -> Subject:
    with np.load(path) as f:
        images = {k[4:]: f[k].astype(np.float32) for k in f.files if k.startswith("img_")}
        labels = {k[4:]: f[k] for k in f.files if k.startswith("lab_")}
        meta = json.loads(str(f["meta"]))
        mask = f["mask"]
    if set(images) != set(CHEST_MODALITIES):
        raise ValueError(f"cached subject has modalities {sorted(images)}")
    return Subject(_subject_id(seed), images, _intensity_maps(), spacing, labels, mask, meta)


def load_chest_subjects(
    n_subjects: int,
    seed: int = 0,
    config: ChestCTConfig = ChestCTConfig(),
    progress: bool = True,
    site: str | None = None,
) -> list[Subject]:
    """``n_subjects`` simulated chest subjects (seeds ``seed * 100000 + i``), disk-cached.

    Each subject is cached by ``(subject seed, config)`` as a compressed ``.npz`` (~3 MB), written
    atomically; a corrupt or stale file is rebuilt with a warning. A subject just simulated is
    returned as the cache stores it (images rounded to float16), so a cold and a warm cache give
    identical arrays. ``site`` images them with a simulated site's CT settings
    (:meth:`ChestCTConfig.at_site`, applied on top of ``config``).
    """
    config = config.at_site(site)
    check_count(n_subjects, "n_subjects")
    check_count(seed, "seed", minimum=0)
    folder = cache_dir("chest_ct", "subjects")
    seeds = [seed * 100_000 + i for i in range(n_subjects)]
    iterator = seeds
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(seeds, desc="simulated chest subjects", leave=False)
    subjects = []
    for s in iterator:
        path = folder / f"{_cache_key(s, config)}.npz"
        subject = None
        if path.exists():
            try:
                base = load_chest_base(config.in_plane_mm, config.slice_mm)
                subject = _load(path, s, base.spacing_mm)
            except Exception as exc:  # truncated, foreign or stale: rebuild
                warnings.warn(
                    f"cached subject {path.name} is unreadable ({exc}); rebuilding", stacklevel=2
                )
        if subject is None:
            simulated = simulate_chest_subject(s, config)
            _save(simulated, path)
            subject = _load(path, s, simulated.spacing_mm)  # same rounding, cold or warm
        subjects.append(subject)
    return subjects


def chest_slice_datasets(
    sources: Sequence[str] | str,
    target: str | None = None,
    n_subjects: int = 12,
    size: int = 128,
    seed: int = 0,
    seg_key: str | None = None,
    label_from=None,
    config: ChestCTConfig = ChestCTConfig(),
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    min_foreground: float = 0.05,
    progress: bool = True,
    site: str | None = None,
) -> dict[str, SliceDataset]:
    """Axial slice datasets of simulated chest subjects, split by subject.

    Args:
        sources, target: names from :data:`CHEST_MODALITIES` (e.g. ``"cbct"`` -> ``"ct"``).
        seg_key: ``"organs"`` (mask -> image creation) or ``"nodules"`` (detection), or None.
        label_from: as in :class:`~medgen_nb.data.slices.SliceDataset` (``"seg_present"`` with
            ``seg_key="nodules"`` labels slices that hold a nodule).
        Others: see :func:`load_chest_subjects` and :class:`SliceDataset`.

    Returns:
        ``{"train", "val", "test"}`` -> :class:`SliceDataset` (items documented there); a split
        that gets no subject (fewer than three subjects) is left out.
    """
    asked = [sources] if isinstance(sources, str) else list(sources)
    for name in [*asked, *([target] if target else [])]:
        if canonical_or_self(name) not in CHEST_MODALITIES:
            raise ValueError(f"unknown chest modality {name!r}; choose from {CHEST_MODALITIES}")
    names = [canonical_or_self(n) for n in asked]
    target = canonical_or_self(target) if target else None
    if seg_key not in (None, "organs", "nodules"):
        raise ValueError(f"seg_key must be None, 'organs' or 'nodules', got {seg_key!r}")
    check_slice_args("axial", size, min_foreground, label_from, seg_key, names, target)
    fractions = check_fractions(fractions)  # all checked before the first subject is simulated
    subjects = load_chest_subjects(n_subjects, seed, config, progress, site=site)
    by_id = {s.subject_id: s for s in subjects}
    splits = split_subjects(list(by_id), fractions)
    return {
        split: SliceDataset(
            [by_id[i] for i in ids],
            names,
            target,
            "axial",
            size,
            seg_key,
            label_from,
            min_foreground,
        )
        for split, ids in splits.items()
        if ids
    }


def boxes_from_seg(seg: torch.Tensor) -> torch.Tensor:
    """``(S, S)`` instance map (0 = none) -> ``(K, 4)`` float boxes ``[x0, y0, x1, y1]`` in pixels.

    ``x`` runs along columns, ``y`` along rows; ends are exclusive, one box per instance id present.
    """
    if seg.ndim != 2:
        raise ValueError(f"seg must be a (S, S) instance map, got shape {tuple(seg.shape)}")
    boxes = []
    for k in torch.unique(seg):
        if k == 0:
            continue
        rows, cols = torch.nonzero(seg == k, as_tuple=True)
        boxes.append([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
    return torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)


class DRRPairDataset(Dataset):
    """Paired CT volume <-> X-ray (DRR) data, one item per simulated subject.

    Items: ``volume`` ``(1, V, V, V)`` CT in [0, 1] (ct_window; axes X, Y, Z), ``ap`` and
    ``lateral`` ``(1, S, S)`` simulated radiographs in [0, 1] (``xray_image`` log domain:
    line integral / ``P_MAX``; invert with ``self.xray_intensity``), ``subject`` ().
    """

    xray_intensity = linear_unit("xray", 0.0, P_MAX, "line integral of attenuation (unitless)")

    def __init__(
        self, volumes: torch.Tensor, ap: torch.Tensor, lateral: torch.Tensor, ids: list[str]
    ):
        self.volumes, self.ap, self.lateral, self.subject_ids = volumes, ap, lateral, ids

    def __len__(self) -> int:
        return len(self.volumes)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "volume": self.volumes[i].float(),
            "ap": self.ap[i].float(),
            "lateral": self.lateral[i].float(),
            "subject": torch.tensor(i),
        }


def drr_pairs(
    n_subjects: int = 12,
    seed: int = 0,
    size: int = 128,
    volume_size: int = 64,
    geometry: str = "cone",
    config: ChestCTConfig = ChestCTConfig(),
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    progress: bool = True,
    preset: str = "pa_chest",
    exposure: XRayExposure | None = CHEST_EXPOSURE,
    detector_size_mm: float = DETECTOR_SIZE_MM,
) -> dict[str, DRRPairDataset]:
    """CT <-> X-ray pairs for the X-ray notebook: ``{"train", "val", "test"}`` -> :class:`DRRPairDataset`.

    The frontal (PA for ``preset="pa_chest"``, AP for ``"linac_kv"``; stored as ``ap``) and lateral
    radiographs are projected from each subject's noisy CT (HU -> mu by
    :func:`~medgen_nb.data.ct_physics.hu_to_mu`) with :func:`~medgen_nb.data.drr.drr` in the cone
    geometry of ``preset`` (:data:`~medgen_nb.data.drr.XRAY_GEOMETRIES`) on a ``detector_size_mm``
    square detector, then detected by :func:`~medgen_nb.data.drr.expose` (default: chest SPR 2
    through an anti-scatter grid, quantum noise at ~1e6 photons/mm^2; ``exposure=None`` keeps the
    noiseless, scatter-free line integrals).
    """
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {GEOMETRIES}, got {geometry!r}")
    setup = xray_geometry(preset)
    if not detector_size_mm > 0:
        raise ValueError(f"detector_size_mm must be > 0, got {detector_size_mm!r}")
    check_count(volume_size, "volume_size", minimum=8)
    check_count(size, "size", minimum=2)
    fractions = check_fractions(fractions)  # all checked before the first subject is simulated
    subjects = load_chest_subjects(n_subjects, seed, config, progress)
    splits = split_subjects([s.subject_id for s in subjects], fractions)
    generator = torch.Generator().manual_seed(int(seed))  # quantum noise, one stream per call
    out = {}
    for split, ids in splits.items():
        chosen = [s for s in subjects if s.subject_id in ids]
        if not chosen:
            continue
        ct = torch.stack([torch.from_numpy(s.images["ct"]) for s in chosen])  # (B, X, Y, Z) [0, 1]
        mu = hu_to_mu(ct_window().inverse(ct))
        views = []
        for view in (setup.frontal_view, "lateral"):
            p = drr(
                mu,
                chosen[0].spacing_mm,
                geometry,
                view,
                size,
                setup.source_distance_mm,
                setup.detector_distance_mm,
                detector_size_mm,
            )
            if exposure is not None:
                p = expose(p, detector_size_mm / size, exposure, generator)
            views.append(xray_image(p)[:, None].half())
        vol = F.interpolate(
            ct[:, None], size=(volume_size,) * 3, mode="trilinear", align_corners=False
        )
        out[split] = DRRPairDataset(vol.clamp(0, 1).half(), *views, [s.subject_id for s in chosen])
    return out
