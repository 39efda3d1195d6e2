"""Simulated, perfectly paired multi-modal brain data from the real MNI152 template.

A BrainWeb-style simulator (Kwan, Evans & Pike, IEEE TMI 18:1085-1097, 1999): real tissue maps
(:mod:`medgen_nb.data.brain_anatomy`) become a population of **simulated** subjects, each imaged in
every modality of the review's translation chord diagram that a head exam uses (Pang et al. 2025,
Fig. 8: MRI, CT, CBCT, PET) plus MR contrasts and contrast enhancement, all co-registered, with labels.
Physics-based generation is named as under-explored in the review (§7.2); here it makes real paired
data that cannot be downloaded at run time.

Modalities (:data:`BRAIN_MODALITIES`), all ``(X, Y, Z)`` float32 in [0, 1], RAS order:
``t1w``, ``t2w``, ``pd`` (spin echo), ``flair`` (inversion recovery nulling CSF), ``t1ce`` (T1w after
gadolinium), ``ct`` and ``cbct`` (HU through :func:`~medgen_nb.data.intensity.ct_window`), ``pet``
(FDG SUV through :func:`~medgen_nb.data.intensity.pet_suv`). MR uses
:func:`~medgen_nb.data.intensity.mr_robust` inside the head mask. ``Subject.intensity`` inverts each.

Labels: ``"tissue"``: 0 background, 1 CSF, 2 GM, 3 WM, 4 skull (bone), 5 scalp/soft tissue;
``"lesion"`` (BraTS 2023 style): 0 none, 1 necrotic core, 2 oedema, 3 enhancing tumour, plus
4 small white-matter lesion. ``meta["has_lesion"]`` is 1 if the subject has any lesion.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medgen_nb.data import brain_anatomy as anatomy
from medgen_nb.data import brain_enhancement, mr_acquisition, sites
from medgen_nb.data import brain_imaging as imaging
from medgen_nb.data import brain_lesions as lesions
from medgen_nb.data.brain_imaging import MRSequence
from medgen_nb.data.brain_real import REAL_EXAMPLES, RealExample, load_real_examples
from medgen_nb.data.checks import check_count, check_fractions, min_subjects
from medgen_nb.data.ct_physics import CBCTArtefacts, CTProtocol
from medgen_nb.data.intensity import IntensityMap, ct_window, mr_robust, pet_suv
from medgen_nb.data.modalities import canonical_or_self
from medgen_nb.data.pet_physics import PET_RECON_PRESETS, PETRecon, global_uptake_scale
from medgen_nb.data.slices import (
    SliceBuilder,
    SliceDataset,
    Subject,
    check_slice_args,
    split_subjects,
)
from medgen_nb.utils import atomic_write, cache_dir, trim_memory

BRAIN_MODALITIES: tuple[str, ...] = ("t1w", "t2w", "pd", "flair", "t1ce", "ct", "cbct", "pet")
MR_MODALITIES: tuple[str, ...] = ("t1w", "t2w", "pd", "flair", "t1ce")
RESOLUTIONS_MM: tuple[float, ...] = (1.0, 2.0)
FIELD_STRENGTHS_T: tuple[float, ...] = (1.5, 3.0)
SIMULATOR_VERSION = "3"  # bump when the simulation changes, so old cache entries are not reused


@dataclass(frozen=True)
class BrainPhantomConfig:
    """Parameters of the simulated population and scanners (hashable: it keys the disk cache).

    Attributes:
        resolution_mm: grid spacing, 1.0 (181x217x181) or 2.0 (91x109x91, the default: ~8x faster
            and enough for 64-128 px slices of a ~180 mm head; 1 mm needs ~1.5 GB RAM per subject).
        field_strength_t: 1.5 or 3.0 T (picks the relaxation-time table).
        snr: MR signal-to-noise ratio at the 1.5 T reference (mean CSF/GM/WM signal of each
            protocol / noise sigma per coil, default 20); at a fixed protocol the SNR grows
            linearly with B0, so 3 T images have about twice this SNR.
        glioma_probability, wm_lesion_probability: chance that a subject has each lesion kind.
        deformation_mm: sd of the smooth random displacement per axis.
        rotation_deg, scale_jitter, translation_mm: ranges of the random affine change.
        tissue_jitter: relative sd of per-subject tissue parameters (PD, T1, T2; SUV 2.5x that).
        bias_field: sd of the log MR bias field (smooth multiplicative coil inhomogeneity).
        t1w, t2w, pd, flair, t1ce: protocols (:class:`MRSequence`, timings in ms); None (default)
            takes the typical clinical protocol at ``field_strength_t`` from
            :data:`medgen_nb.data.mr_acquisition.DEFAULT_PROTOCOL` (MPRAGE, T2 TSE, PD TSE,
            T2 FLAIR, MPRAGE after gadolinium). FLAIR's ``ti_ms=None`` nulls CSF.
        gd_mM: gadolinium concentration in the enhancing tumour for T1ce (mM, default 0.4).
        gd_blood_mM: gadolinium in blood for T1ce (mM, default 1.0, a few minutes after 0.1
            mmol/kg); dura, sinuses, choroid plexus and soft tissue take their share of it
            (:mod:`medgen_nb.data.brain_enhancement`). 0 turns that off.
        mr_matrix: MR acquisition matrix over the field of view per grid axis (X, Y, Z); None
            (default) acquires the grid itself; a smaller one gives coarser voxels and Gibbs ringing.
        mr_acceleration: undersampling factor along the phase-encode axis (Y), zero-filled
            (default 1); mr_undersampling: ``"regular"`` or ``"random"`` lines.
        mr_coils: receive channels, sum-of-squares reconstruction (default 8, an 8-channel head
            coil; 12-32 are common at 3 T).
        mr_b1_inhomogeneity: peak relative B1+ (flip angle) deviation, centre-bright; None
            (default) means 0.05 at 1.5 T and 0.25 at 3 T (Vaughan et al., MRM 46:24, 2001;
            Bernstein et al., JMRI 24:735, 2006).
        mr_prescan_normalize: divide by the receive-coil profile (default True).
        mr_intensity_scale: vendor intensity scale of the physical MR values (default 1.0).
        ct_noise_hu: deprecated override of ``ct.noise_hu`` (default ``None``: use ``ct``).
        ct: CT protocol (kVp, reconstruction kernel, dose as noise at 120 kVp / standard kernel);
            default 120 kVp, the soft kernel of head CT, 6 HU -> ~3.9 HU image noise.
        cbct: CBCT acquisition and reconstruction (shared CBCT code); default full-fan 125 mm
            field-of-view radius.
        pet_fwhm_mm: PET system resolution FWHM (mm, default 4.5; ~4.4 mm at the centre of a
            current PET/CT, Jakoby et al., Phys Med Biol 56:2375, 2011); the reconstruction adds
            its post-filter, giving the clinical 4-6+ mm.
        pet_voxel_mm: PET reconstruction grid (mm, default 4).
        pet_counts_per_suv: expected detected counts from one PET voxel of SUV 1, all projection
            angles, before attenuation (default 200: ~12 % voxel noise in white matter).
        pet_recon: OSEM settings (:class:`~medgen_nb.data.pet_physics.PETRecon`; default the
            ``"osem"`` preset of :data:`~medgen_nb.data.pet_physics.PET_RECON_PRESETS`).
        pet_global_uptake_sd: relative sd of the per-subject global FDG uptake (default 0.15;
            glucose and uptake time, Boellaard, J Nucl Med 50:11S, 2009).
        modalities: which modalities to simulate (a subset is faster).

    Anatomy (issue 14; see :func:`medgen_nb.data.brain_anatomy.subject_fractions`):
        head_scale_sd: sd of a global head-size scale (linear). 0.03 gives an intracranial-volume
            CV of ~9 %, ~10 % with ``scale_jitter``: adult TIV is 1469 +- 102 mL (men) and
            1289 +- 111 mL (women), pooled CV ~10 % (Matsumae et al. 1996, J Neurosurg 84:982).
        age_range_years: subject ages, uniform (default 20-80). The template is a 25-year-old
            brain (ICBM152, 18-44 y); younger subjects are not rejuvenated.
        ventricle_growth_per_year: log-rate of ventricular enlargement past 25 y, 0.018 = +20 % per
            decade (Kaye et al. 1992, J Am Geriatr Soc 40:225, who find ~20 %/decade and faster
            growth after the fifth decade): 2.7x at 80 y.
        ventricle_factor_sd: log-sd of an individual ventricle-size factor at a given age (0.25;
            approx.: healthy lateral ventricles vary ~40-50 % between adults).
        cortical_thinning_mm_per_year: cortex lost past 25 y (GM becomes sulcal CSF), 0.009 mm/y =
            0.35 %/y of a 2.5 mm cortex (Storsve et al. 2014, J Neurosci 34:8488; thickness
            ~2.5 mm, Fischl & Dale 2000, PNAS 97:11050): ~0.5 mm at 80 y.
        glioma_multifocal_probability: chance of 1-2 satellite foci (0.15; multiple lesions in
            0.5-35 % of glioblastomas, Patil et al. 2012, J Neurooncol 106:361).
        partial_volume_samples: hard-label samples per axis per voxel (2: 8 samples, fractions in
            steps of 1/8; 1: hard labels, no partial volume; 3: 27 samples, ~3x slower).
    """

    resolution_mm: float = 2.0
    field_strength_t: float = 3.0
    snr: float = 20.0
    glioma_probability: float = 0.5
    wm_lesion_probability: float = 0.3
    deformation_mm: float = 2.5
    rotation_deg: float = 4.0
    scale_jitter: float = 0.04
    translation_mm: float = 3.0
    tissue_jitter: float = 0.03
    bias_field: float = 0.08
    t1w: MRSequence | None = None
    t2w: MRSequence | None = None
    pd: MRSequence | None = None
    flair: MRSequence | None = None
    t1ce: MRSequence | None = None
    gd_mM: float = 0.4
    gd_blood_mM: float = 1.0
    mr_matrix: tuple[int, int, int] | None = None
    mr_acceleration: int = 1
    mr_undersampling: str = "regular"
    mr_coils: int = 8
    mr_b1_inhomogeneity: float | None = None
    mr_prescan_normalize: bool = True
    mr_intensity_scale: float = 1.0
    ct_noise_hu: float | None = None
    cbct: CBCTArtefacts = field(default_factory=CBCTArtefacts)
    ct: CTProtocol = CTProtocol(kvp=120, kernel="soft", noise_hu=6.0)
    pet_fwhm_mm: float = 4.5
    pet_voxel_mm: float = 4.0
    pet_counts_per_suv: float = 200.0
    pet_recon: PETRecon = field(default_factory=lambda: PET_RECON_PRESETS["osem"])
    pet_global_uptake_sd: float = 0.15
    modalities: tuple[str, ...] = BRAIN_MODALITIES
    head_scale_sd: float = 0.03
    age_range_years: tuple[float, float] = (20.0, 80.0)
    ventricle_growth_per_year: float = 0.018
    ventricle_factor_sd: float = 0.25
    cortical_thinning_mm_per_year: float = 0.009
    glioma_multifocal_probability: float = 0.15
    partial_volume_samples: int = 2

    def __post_init__(self) -> None:
        if self.resolution_mm not in RESOLUTIONS_MM:
            raise ValueError(
                f"resolution_mm must be one of {RESOLUTIONS_MM}, got {self.resolution_mm!r}"
            )
        if self.field_strength_t not in FIELD_STRENGTHS_T:
            raise ValueError(
                f"field_strength_t must be one of {FIELD_STRENGTHS_T}, got {self.field_strength_t!r}"
            )
        for name in (
            "glioma_probability",
            "wm_lesion_probability",
            "glioma_multifocal_probability",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)!r}")
        positive = ("snr", "pet_fwhm_mm", "pet_voxel_mm", "pet_counts_per_suv")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        nonneg = ("deformation_mm", "rotation_deg", "scale_jitter", "translation_mm")
        if self.ct_noise_hu is not None and not self.ct_noise_hu >= 0:
            raise ValueError(f"ct_noise_hu must be >= 0, got {self.ct_noise_hu!r}")
        if not isinstance(self.ct, CTProtocol):
            raise ValueError(f"ct must be a CTProtocol, got {self.ct!r}")
        if not isinstance(self.pet_recon, PETRecon):
            raise ValueError(f"pet_recon must be a PETRecon, got {self.pet_recon!r}")
        if not 0 <= self.pet_global_uptake_sd <= 0.5:
            raise ValueError(
                f"pet_global_uptake_sd must lie in [0, 0.5], got {self.pet_global_uptake_sd!r}"
            )
        mr_nonneg = ("gd_mM", "gd_blood_mM")
        for name in (*nonneg, "tissue_jitter", "bias_field", *mr_nonneg):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        anatomy_rates = ("ventricle_growth_per_year", "ventricle_factor_sd")
        for name in (*anatomy_rates, "cortical_thinning_mm_per_year"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.head_scale_sd <= 0.1:
            raise ValueError(f"head_scale_sd must lie in [0, 0.1], got {self.head_scale_sd!r}")
        ages = self.age_range_years
        if not (len(ages) == 2 and 0.0 <= ages[0] <= ages[1] <= 120.0):
            raise ValueError(
                f"age_range_years must be (low, high) with 0 <= low <= high <= 120, got {ages!r}"
            )
        if self.partial_volume_samples not in (1, 2, 3, 4) or isinstance(
            self.partial_volume_samples, bool
        ):
            raise ValueError(
                f"partial_volume_samples must be one of (1, 2, 3, 4), "
                f"got {self.partial_volume_samples!r}"
            )
        for name in MR_MODALITIES:
            if not isinstance(getattr(self, name), MRSequence | None):
                raise ValueError(
                    f"{name} must be an MRSequence or None, got {getattr(self, name)!r}"
                )
        if not self.protocol("flair").inversion:
            raise ValueError("flair must be an inversion-recovery MRSequence (inversion=True)")
        self._check_mr_scanner()
        check_modalities(self.modalities, "modalities")
        if "cbct" in self.modalities and "ct" not in self.modalities:
            raise ValueError("modalities with 'cbct' must include 'ct' (CBCT is simulated from CT)")

    def _check_mr_scanner(self) -> None:
        m = self.mr_matrix
        if m is not None and (len(m) != 3 or not all(isinstance(v, int) and v >= 8 for v in m)):
            raise ValueError(f"mr_matrix must be None or 3 ints >= 8, got {m!r}")
        if not (isinstance(self.mr_acceleration, int) and 1 <= self.mr_acceleration <= 8):
            raise ValueError(
                f"mr_acceleration must be an int in [1, 8], got {self.mr_acceleration!r}"
            )
        if self.mr_undersampling not in mr_acquisition.UNDERSAMPLING:
            raise ValueError(
                f"mr_undersampling must be one of {mr_acquisition.UNDERSAMPLING}, "
                f"got {self.mr_undersampling!r}"
            )
        if not (isinstance(self.mr_coils, int) and 1 <= self.mr_coils <= 64):
            raise ValueError(f"mr_coils must be an int in [1, 64], got {self.mr_coils!r}")
        b1 = self.mr_b1_inhomogeneity
        if b1 is not None and not 0.0 <= b1 <= 0.5:
            raise ValueError(f"mr_b1_inhomogeneity must be None or lie in [0, 0.5], got {b1!r}")
        if not self.mr_intensity_scale > 0:
            raise ValueError(f"mr_intensity_scale must be > 0, got {self.mr_intensity_scale!r}")

    def at_site(self, site: str | None) -> BrainPhantomConfig:
        """This configuration with the scanner settings of a simulated ``site``
        (:data:`medgen_nb.data.sites.SITES`) replaced; ``None`` returns it unchanged."""
        if site is None:
            return self
        preset = sites.get(site)
        return sites.apply_overrides(
            self, preset.brain_overrides(self.resolution_mm), f"site {site!r}"
        )

    def protocol(self, name: str) -> MRSequence:
        """The MR protocol of contrast ``name`` (the field's default protocol where None)."""
        seq = getattr(self, name)
        if seq is None:
            seq = mr_acquisition.protocol(
                mr_acquisition.DEFAULT_PROTOCOL[name], self.field_strength_t
            )
        return seq

    def mr_scanner(self) -> mr_acquisition.MRScanner:
        """The scanner-side MR settings of this configuration."""
        b1 = self.mr_b1_inhomogeneity
        if b1 is None:
            b1 = 0.05 if self.field_strength_t < 2 else 0.25
        return mr_acquisition.MRScanner(
            n_coils=self.mr_coils,
            matrix=self.mr_matrix,
            acceleration=self.mr_acceleration,
            undersampling=self.mr_undersampling,
            b1_amplitude=b1,
            prescan_normalize=self.mr_prescan_normalize,
            intensity_scale=self.mr_intensity_scale,
        )

    def cache_key(self) -> str:
        """16 hex digits identifying these parameters (and the simulator version)."""
        return hashlib.sha256(f"{SIMULATOR_VERSION}|{self!r}".encode()).hexdigest()[:16]


def check_modalities(names: Sequence[str], argument: str) -> tuple[str, ...]:
    """Validate modality names (any alias of :mod:`medgen_nb.data.modalities`); returns the
    canonical names as a tuple."""
    if isinstance(names, str):
        names = (names,)
    names = tuple(canonical_or_self(n) for n in names)
    unknown = [n for n in names if n not in BRAIN_MODALITIES]
    if unknown or not names:
        raise ValueError(
            f"{argument} must name modalities from {BRAIN_MODALITIES}, got {tuple(names)!r}"
        )
    return tuple(names)


def _streams(seed: int, n: int) -> list[np.random.Generator]:
    """Independent generators, so that e.g. adding PET does not change the MR noise."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def simulate_brain_subject(seed: int, config: BrainPhantomConfig | None = None) -> Subject:
    """Simulate one subject (no cache). Same ``seed`` and ``config`` give bit-identical volumes.

    Returns a :class:`~medgen_nb.data.slices.Subject` with ``images`` (each ``(X, Y, Z)`` float32 in
    [0, 1]) for ``config.modalities``, ``intensity`` maps back to physical units, ``labels``
    ``"tissue"`` and ``"lesion"`` (uint8), the head ``mask`` and ``meta`` (``has_lesion``,
    ``has_glioma``, ``n_wm_lesions``, ``affine``, drawn warp parameters, ``seed``).
    """
    check_count(seed, "seed", minimum=0)
    cfg = config or BrainPhantomConfig()
    template = anatomy.load_template(cfg.resolution_mm)
    sp = template.spacing_mm
    r_anat, r_lesion, r_tissue, r_bias, *r_mod = _streams(int(seed), 4 + len(BRAIN_MODALITIES))
    rng_of = dict(zip(BRAIN_MODALITIES, r_mod, strict=True))

    frac, ventricles, warp = anatomy.subject_fractions(
        template,
        r_anat,
        deformation_mm=cfg.deformation_mm,
        rotation_deg=cfg.rotation_deg,
        scale_jitter=cfg.scale_jitter,
        translation_mm=cfg.translation_mm,
        head_scale_sd=cfg.head_scale_sd,
        age_range_years=cfg.age_range_years,
        ventricle_growth_per_year=cfg.ventricle_growth_per_year,
        ventricle_factor_sd=cfg.ventricle_factor_sd,
        cortical_thinning_mm_per_year=cfg.cortical_thinning_mm_per_year,
        samples_per_axis=cfg.partial_volume_samples,
    )
    tissue = anatomy.tissue_labels(frac)  # healthy anatomy, before lesions replace tissue
    meta: dict = {"seed": int(seed), **warp, "has_glioma": 0, "n_wm_lesions": 0}
    if r_lesion.random() < cfg.glioma_probability:
        glioma = lesions.add_glioma(frac, sp, r_lesion, cfg.glioma_multifocal_probability)
        meta.update(glioma, has_glioma=1)
    if r_lesion.random() < cfg.wm_lesion_probability:
        meta["n_wm_lesions"] = lesions.add_wm_lesions(frac, sp, r_lesion, ventricles)
    lesion = anatomy.lesion_labels(frac)
    meta["has_lesion"] = int(lesion.any())
    meta["affine"] = template.affine.tolist()
    mask = frac[anatomy.T["air"]] < 0.5

    table = imaging.tissue_table(cfg.field_strength_t, r_tissue, cfg.tissue_jitter)
    bias = np.exp(cfg.bias_field * imaging.smooth_field(frac.shape[1:], r_bias)).astype(np.float32)
    physical: dict[str, np.ndarray] = {}
    scanner = cfg.mr_scanner()
    structures = None
    if "t1ce" in cfg.modalities and cfg.gd_blood_mM > 0:
        # Its own stream (not one of _streams'), so the other modalities' draws stay as they were.
        vein_rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6D]))
        structures = brain_enhancement.enhancing_structures(frac, template.affine, vein_rng)
    for name in cfg.modalities:
        rng = rng_of[name]
        if name in MR_MODALITIES:
            contrast = name == "t1ce"
            physical[name] = imaging.simulate_mr(
                frac,
                table,
                cfg.protocol(name),
                cfg.field_strength_t,
                bias,
                cfg.snr,
                rng,
                cfg.gd_mM if contrast else 0.0,
                spacing_mm=sp,
                scanner=scanner,
                structures=structures if contrast else None,
                gd_blood_mM=cfg.gd_blood_mM if contrast else 0.0,
            )
        elif name == "ct":
            physical[name] = imaging.simulate_ct(frac, table, sp, cfg.ct_noise_hu, rng, cfg.ct)
    if "cbct" in cfg.modalities:
        physical["cbct"] = imaging.simulate_cbct_volume(
            physical["ct"], cfg.cbct, rng_of["cbct"], spacing_mm=sp
        )
    if "pet" in cfg.modalities:
        uptake = global_uptake_scale(rng_of["pet"], cfg.pet_global_uptake_sd)
        meta["pet_uptake_scale"] = uptake
        physical["pet"] = imaging.simulate_pet(
            frac,
            table,
            sp,
            cfg.pet_fwhm_mm,
            cfg.pet_voxel_mm,
            cfg.pet_counts_per_suv,
            rng_of["pet"],
            cfg.pet_recon,
            uptake,
        )
    images, maps = {}, {}
    for name in cfg.modalities:  # keep the configured order
        vol = physical[name]
        if name in MR_MODALITIES:
            maps[name] = mr_robust(vol, mask)
        elif name == "pet":
            maps[name] = pet_suv()
        else:
            maps[name] = ct_window()
        images[name] = np.asarray(maps[name].forward(vol), dtype=np.float32)
    return Subject(
        subject_id=f"phantom-{int(seed)}",
        images=images,
        intensity=maps,
        spacing_mm=(sp, sp, sp),
        labels={"tissue": tissue, "lesion": lesion},
        mask=mask,
        meta=meta,
    )


# ---------------------------------------------------------------------------- disk cache


def _subject_seed(seed: int, k: int) -> int:
    """Seed of the ``k``-th subject of the population ``seed`` (distinct populations don't overlap)."""
    return int(np.random.SeedSequence([seed, k]).generate_state(1, np.uint64)[0] >> 2)


def _cache_file(subject_seed: int, cfg: BrainPhantomConfig) -> Path:
    return cache_dir("brain_phantom", cfg.cache_key()) / f"{subject_seed}.npz"


def _save(subject: Subject, path: Path) -> None:
    arrays = {f"image_{k}": v.astype(np.float16) for k, v in subject.images.items()}
    arrays |= {f"label_{k}": v.astype(np.uint8) for k, v in subject.labels.items()}
    arrays["mask"] = subject.mask.astype(np.uint8)
    header = {
        "subject_id": subject.subject_id,
        "spacing_mm": list(subject.spacing_mm),
        "meta": subject.meta,
        "intensity": {k: [m.kind, m.lo, m.hi, m.unit] for k, m in subject.intensity.items()},
    }
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    # np.savez_compressed uses zlib level 6; level 1 is ~4x faster on noisy images, ~10 % larger.
    with (
        atomic_write(path) as fh,
        zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z,
    ):
        for key, arr in arrays.items():
            with z.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)


def _load(path: Path, modalities: Sequence[str]) -> Subject:
    """Read a cached subject; any defect raises ``ValueError`` (zip CRCs catch garbled bytes)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(bytes(z["header"]).decode())
            images = {m: z[f"image_{m}"].astype(np.float32) for m in modalities}
            labels = {k: z[f"label_{k}"] for k in ("tissue", "lesion")}
            mask = z["mask"].astype(bool)
        intensity = {m: IntensityMap(*header["intensity"][m]) for m in modalities}
        return Subject(
            header["subject_id"],
            images,
            intensity,
            tuple(header["spacing_mm"]),
            labels,
            mask,
            header["meta"],
        )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise ValueError(f"corrupt cache entry {path}: {type(e).__name__}: {e}") from e


def load_brain_subjects(
    n_subjects: int,
    seed: int = 0,
    config: BrainPhantomConfig | None = None,
    progress: bool = True,
    modalities: Sequence[str] | None = None,
    site: str | None = None,
) -> list[Subject]:
    """``n_subjects`` simulated subjects of population ``seed``, cached on disk per (seed, config).

    Each subject is one compressed ``.npz`` (images float16, labels uint8) under
    ``cache_dir("brain_phantom", config.cache_key())``, written atomically. A corrupt entry is
    reported with a warning and simulated again, never used. ``modalities`` keeps only those images
    in memory (default: all of ``config.modalities``). Shows a tqdm progress bar if ``progress``.
    ``site`` images the same population with a simulated site's scanners
    (:meth:`BrainPhantomConfig.at_site`, applied on top of ``config``).
    """
    from tqdm.auto import tqdm

    stream = iter_brain_subjects(n_subjects, seed, config, modalities, site)  # checks first
    return list(
        tqdm(stream, total=n_subjects, desc="simulated brain subjects", disable=not progress)
    )


def brain_subject_ids(n_subjects: int, seed: int = 0) -> list[str]:
    """The ids :func:`load_brain_subjects` gives population ``seed``, without loading anyone."""
    check_count(n_subjects, "n_subjects")
    check_count(seed, "seed", minimum=0)
    return [f"phantom-{_subject_seed(seed, k)}" for k in range(n_subjects)]


def iter_brain_subjects(
    n_subjects: int,
    seed: int = 0,
    config: BrainPhantomConfig | None = None,
    modalities: Sequence[str] | None = None,
    site: str | None = None,
) -> Iterator[Subject]:
    """The subjects of :func:`load_brain_subjects`, one at a time (simulated and cached as needed).

    Everything is checked before the first subject is loaded. A caller that slices each subject
    and drops it holds one subject in memory instead of the population (forty subjects of four
    modalities are about 0.7 GB as float32 volumes).
    """
    cfg = (config or BrainPhantomConfig()).at_site(site)
    check_count(n_subjects, "n_subjects")
    check_count(seed, "seed", minimum=0)
    keep = check_modalities(modalities or cfg.modalities, "modalities")
    missing = [m for m in keep if m not in cfg.modalities]
    if missing:
        raise ValueError(f"modalities {missing} are not simulated by config.modalities")
    return _iter_brain_subjects(n_subjects, seed, cfg, keep)


def _iter_brain_subjects(n_subjects, seed, cfg, keep) -> Iterator[Subject]:
    for k in range(n_subjects):
        s_seed = _subject_seed(seed, k)
        path = _cache_file(s_seed, cfg)
        subject = None
        if path.exists():
            try:
                subject = _load(path, keep)
            except ValueError as err:
                warnings.warn(f"{err}; simulating it again", stacklevel=3)
        if subject is None:
            full = simulate_brain_subject(s_seed, cfg)
            _save(full, path)
            del full  # the simulation's arrays go before the cached copy is read back
            trim_memory()  # and their pages go back to the system (glibc keeps them otherwise)
            subject = _load(path, keep)  # same float16 rounding whether cold or warm
        yield subject


def brain_slice_datasets(
    sources: Sequence[str],
    target: str | None = None,
    n_subjects: int = 20,
    size: int = 128,
    plane: str = "axial",
    seed: int = 0,
    seg_key: str | None = None,
    label_from: str | Callable | None = None,
    config: BrainPhantomConfig | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    min_foreground: float = 0.05,
    progress: bool = True,
    site: str | None = None,
) -> dict[str, SliceDataset]:
    """Train/val/test :class:`SliceDataset` of simulated brains, split by subject.

    Example: ``brain_slice_datasets(["t1w"], target="t2w", size=128)["train"][0]["image"]`` is a
    ``(1, 128, 128)`` float32 tensor in [0, 1]. ``seg_key`` is ``"tissue"`` or ``"lesion"``;
    ``label_from="seg_present"`` with ``seg_key="lesion"`` labels slices with/without lesion.
    ``site`` names a simulated scanner site (:mod:`medgen_nb.data.sites`).
    """
    # Everything is checked before the first subject is simulated.
    sources = check_modalities(sources, "sources")
    if target is not None:
        check_modalities([target], "target")
    if seg_key not in (None, "tissue", "lesion"):
        raise ValueError(f"seg_key must be None, 'tissue' or 'lesion', got {seg_key!r}")
    check_slice_args(plane, size, min_foreground, label_from, seg_key, sources, target)
    fractions = check_fractions(fractions)
    check_count(n_subjects, "n_subjects")
    check_count(seed, "seed", minimum=0)
    needed = min_subjects(fractions)
    if n_subjects < needed:
        raise ValueError(
            f"n_subjects must be >= {needed} to fill every split of fractions {fractions}, "
            f"got {n_subjects!r}"
        )
    from tqdm.auto import tqdm

    cfg = (config or BrainPhantomConfig()).at_site(site)
    wanted = tuple(dict.fromkeys([*sources, *([target] if target else [])]))
    splits = {
        k: v for k, v in split_subjects(brain_subject_ids(n_subjects, seed), fractions).items() if v
    }
    where = {sid: (split, pos) for split, ids in splits.items() for pos, sid in enumerate(ids)}
    builders = {
        split: SliceBuilder(sources, target, plane, size, seg_key, label_from, min_foreground)
        for split in splits
    }
    # One subject in memory at a time: each is sliced into its split, then dropped.
    stream = iter_brain_subjects(n_subjects, seed, cfg, wanted)
    for subject in tqdm(
        stream, total=n_subjects, desc="simulated brain subjects", disable=not progress
    ):
        split, position = where[subject.subject_id]
        builders[split].add(subject, position)
    return {split: builder.finish() for split, builder in builders.items()}


def save_subject_nifti(subject: Subject, folder: str | Path) -> dict[str, Path]:
    """Write every image (in physical units: a.u., HU, SUV), label map and mask as NIfTI files.

    Files are ``{subject_id}_{name}.nii.gz`` in ``folder`` with the MNI affine of the subject grid.
    """
    from medgen_nb.data.io import save_nifti

    if "affine" not in subject.meta:
        raise ValueError(f"subject {subject.subject_id} has no meta['affine']; not a brain phantom")
    affine = np.asarray(subject.meta["affine"])
    folder = Path(folder)
    out = {}
    for name, vol in subject.images.items():
        phys = subject.intensity[name].inverse(vol).astype(np.float32)
        out[name] = save_nifti(phys, affine, folder / f"{subject.subject_id}_{name}.nii.gz")
    for name, lab in {**subject.labels, "mask": subject.mask.astype(np.uint8)}.items():
        out[name] = save_nifti(lab, affine, folder / f"{subject.subject_id}_{name}.nii.gz")
    return out


__all__ = [
    "BRAIN_MODALITIES",
    "SIMULATOR_VERSION",
    "BrainPhantomConfig",
    "MRSequence",
    "REAL_EXAMPLES",
    "RealExample",
    "brain_slice_datasets",
    "brain_subject_ids",
    "iter_brain_subjects",
    "load_brain_subjects",
    "load_real_examples",
    "save_subject_nifti",
    "simulate_brain_subject",
]
