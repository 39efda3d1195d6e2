"""Residual misalignment between the modalities of a subject, as registered clinical pairs have.

The simulators render every modality on one grid, so their pairs are perfectly aligned. Real
paired data are not: SynthRAD2023 (Thummerer et al. 2023) co-registered MR/CBCT to CT with rigid
and deformable registration and still reports residual misalignments of a few millimetres, and
CBCT differs anatomically from its planning CT (positioning, breathing). :func:`misalign_subject`
moves every modality except the ``reference`` (the target of a translation task keeps the true
geometry, so scoring in the target's frame stays exact) by a seeded transform in mm:

    u(x) = (R - I)(x - c) + t + e(x) [+ b(x) for CBCT],     moved(x) = image(x - u(x))

with ``R`` a small rotation about the volume centre ``c``, ``t`` a shift, ``e`` a smooth elastic
field (random vectors on control points ``control_mm`` apart, trilinearly interpolated, scaled to
RMS ``elastic_mm``) and ``b`` CBCT's anatomical change. For small ``u`` the content moves by
``+u``. Labels and the mask stay on the reference grid.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from medgen_nb.data.slices import Subject

ALIGNMENTS: tuple[str, ...] = ("perfect", "registered", "unregistered")


@dataclass(frozen=True)
class AlignmentConfig:
    """Sizes of the residual misalignment (all in mm or degrees, standard deviations per axis).

    The ``"registered"`` defaults are residuals of the order SynthRAD2023 reports after
    registration (a millimetre or two, about a degree); ``"unregistered"`` is pairs aligned only by
    the scanner's coordinates (several mm and degrees).

    Attributes:
        shift_sd_mm: sd of the rigid shift ``t`` along each axis.
        rotation_sd_deg: sd of the rotation angle about each axis.
        elastic_mm: RMS length of the smooth elastic residual ``e`` over the volume.
        control_mm: spacing of the elastic field's control points (its smoothness scale).
        cbct_mm: CBCT's anatomical change: RMS of a smooth deformation, and for a chest the peak
            superior-inferior breathing displacement at the lung base.
    """

    shift_sd_mm: float = 1.5
    rotation_sd_deg: float = 1.0
    elastic_mm: float = 2.0
    control_mm: float = 30.0
    cbct_mm: float = 3.0

    def __post_init__(self) -> None:
        for name in ("shift_sd_mm", "rotation_sd_deg", "elastic_mm", "cbct_mm"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < math.inf:
                raise ValueError(f"AlignmentConfig.{name} must be a finite number >= 0, got {v!r}")
        c = self.control_mm
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c < math.inf:
            raise ValueError(
                f"AlignmentConfig.control_mm must be a positive spacing in mm, got {c!r}"
            )

    @classmethod
    def preset(cls, alignment: str) -> AlignmentConfig | None:
        """The config of a named alignment (``None`` for ``"perfect"``: nothing moves)."""
        check_alignment(alignment)
        if alignment == "perfect":
            return None
        if alignment == "registered":
            return cls()
        return cls(shift_sd_mm=6.0, rotation_sd_deg=5.0, elastic_mm=3.0, cbct_mm=5.0)


def check_alignment(alignment: str) -> str:
    if alignment not in ALIGNMENTS:
        raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {alignment!r}")
    return alignment


def _rng(seed: int, subject_id: str, modality: str) -> np.random.Generator:
    # A stable hash (Python's hash() is salted per process) so draws reproduce across runs.
    digest = hashlib.sha256(f"{seed}/{subject_id}/{modality}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _rotation(angles_rad: np.ndarray) -> np.ndarray:
    ax, ay, az = angles_rad
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _positions(shape, spacing_mm) -> torch.Tensor:
    """``(X, Y, Z, 3)`` voxel positions in mm relative to the volume centre."""
    axes = [
        (torch.arange(n, dtype=torch.float32) - (n - 1) / 2) * s
        for n, s in zip(shape, spacing_mm, strict=True)
    ]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


def _smooth_field(shape, spacing_mm, control_mm: float, rms_mm: float, rng) -> torch.Tensor:
    """``(X, Y, Z, 3)`` random vectors on a lattice ``control_mm`` apart, interpolated, RMS ``rms_mm``."""
    if rms_mm == 0:
        return torch.zeros(*shape, 3)
    lattice = [
        max(2, math.ceil(n * s / control_mm) + 1) for n, s in zip(shape, spacing_mm, strict=True)
    ]
    coarse = torch.from_numpy(rng.standard_normal((1, 3, *lattice)).astype(np.float32))
    field = F.interpolate(coarse, size=tuple(shape), mode="trilinear", align_corners=True)[0]
    field = field.permute(1, 2, 3, 0)
    return field * (rms_mm / field.square().sum(-1).mean().sqrt().clamp_min(1e-12))


def _breathing(pos: torch.Tensor, amplitude_mm: float) -> torch.Tensor:
    """Breathing-phase difference: the lung base moves most along superior-inferior (Z)."""
    z = pos[..., 2]
    span = (z.max() - z.min()).clamp_min(1e-6)
    base = 1 - (z - z.min()) / span  # 1 at the inferior end (diaphragm), 0 at the apex
    xy = pos[..., :2] / pos[..., :2].abs().amax(dim=(0, 1, 2)).clamp_min(1e-6)
    taper = torch.exp(-xy.square().sum(-1))  # less motion at the body wall than in the lungs
    u = torch.zeros_like(pos)
    u[..., 2] = amplitude_mm * base * taper
    u[..., 1] = 0.25 * amplitude_mm * base * taper  # the chest wall also moves anteriorly
    return u


def displacement(
    shape: tuple[int, int, int],
    spacing_mm: tuple[float, float, float],
    config: AlignmentConfig,
    rng: np.random.Generator,
    *,
    cbct: bool = False,
    breathing: bool = False,
) -> tuple[torch.Tensor, dict]:
    """Draw one displacement ``u`` ``(X, Y, Z, 3)`` in mm and its parameters (plain floats)."""
    t = rng.normal(0.0, config.shift_sd_mm, 3)
    angles = rng.normal(0.0, config.rotation_sd_deg, 3)
    pos = _positions(shape, spacing_mm)
    rot = torch.from_numpy(_rotation(np.deg2rad(angles)) - np.eye(3)).float()
    u = pos @ rot.T + torch.from_numpy(t).float()
    u = u + _smooth_field(shape, spacing_mm, config.control_mm, config.elastic_mm, rng)
    params = {
        "shift_mm": t.tolist(),
        "rotation_deg": angles.tolist(),
        "elastic_mm": config.elastic_mm,
    }
    if cbct:
        u = u + _smooth_field(shape, spacing_mm, 2 * config.control_mm, config.cbct_mm / 2, rng)
        params["cbct_deformation_mm"] = config.cbct_mm / 2
        if breathing:
            amplitude = float(config.cbct_mm * rng.uniform(0.5, 1.0))
            u = u + _breathing(pos, amplitude)
            params["breathing_mm"] = amplitude
    return u, params


def warp(volume: np.ndarray, u: torch.Tensor, spacing_mm) -> np.ndarray:
    """``moved(x) = volume(x - u(x))``, trilinear, edges replicated. ``(X, Y, Z)`` -> same."""
    shape = volume.shape
    idx = torch.stack(
        torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in shape], indexing="ij"), -1
    )
    src = idx - u / torch.tensor(spacing_mm, dtype=torch.float32)
    # grid_sample wants (x, y, z) = (W, H, D) order in [-1, 1]; the volume is (D, H, W) = (X, Y, Z).
    norm = 2 * src / torch.tensor([max(n - 1, 1) for n in shape], dtype=torch.float32) - 1
    grid = norm.flip(-1)[None]
    vol = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None, None]
    out = F.grid_sample(vol, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out[0, 0].clamp(0, 1).numpy()


def misalign_subject(
    subject: Subject,
    reference: str,
    config: AlignmentConfig | None,
    seed: int,
    *,
    breathing: bool = False,
    moving: Sequence[str] | None = None,
) -> Subject:
    """A copy of ``subject`` whose images except ``reference`` carry a residual misalignment.

    Args:
        reference: the modality that keeps the true geometry (a translation task's target).
        config: the residual sizes; ``None`` (``"perfect"``) returns ``subject`` unchanged.
        seed: with the subject id and modality name, fixes every draw.
        breathing: a chest subject: CBCT also differs by a breathing phase.
        moving: the modalities to move (default: every image but ``reference``); the others are
            kept as they are (saves a warp per modality a task does not use).

    Returns:
        A new :class:`Subject` with the same labels and mask (on the reference grid) and
        ``meta["alignment"][modality]`` holding the drawn parameters and ``rms_mm``, the RMS length
        of the applied displacement over the mask (whole grid when there is no mask).
    """
    if reference not in subject.images:
        raise ValueError(
            f"subject {subject.subject_id}: reference {reference!r} is not one of its images "
            f"{sorted(subject.images)}"
        )
    if config is None:
        return subject
    if not isinstance(config, AlignmentConfig):
        raise TypeError(
            f"config must be an AlignmentConfig or None, got {type(config).__name__}; "
            "use AlignmentConfig.preset(name)"
        )
    moving = [m for m in subject.images if m != reference] if moving is None else list(moving)
    unknown = sorted(set(moving) - set(subject.images) | ({reference} & set(moving)))
    if unknown:
        raise ValueError(
            f"subject {subject.subject_id}: cannot move {unknown}: moving must name its images "
            f"{sorted(subject.images)} other than the reference {reference!r}"
        )
    images, record = dict(subject.images), {}
    inside = None if subject.mask is None else torch.from_numpy(subject.mask.astype(bool))
    for name in moving:
        volume = subject.images[name]
        rng = _rng(seed, subject.subject_id, name)
        u, params = displacement(
            volume.shape, subject.spacing_mm, config, rng, cbct=name == "cbct", breathing=breathing
        )
        images[name] = warp(volume, u, subject.spacing_mm)
        length2 = u.square().sum(-1)
        params["rms_mm"] = float((length2[inside] if inside is not None else length2).mean().sqrt())
        record[name] = params
    meta = {**subject.meta, "alignment": {"reference": reference, **record}}
    return replace(subject, images=images, meta=meta)
