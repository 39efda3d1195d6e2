"""Whole co-registered volumes, the cubic patches 3-D models train on, and tiled prediction.

A 3-D translation model sees a patch of ``P x P x P`` voxels, not a whole head: at 64³ a 3-D U-Net
already needs several times the memory of its 2-D twin at 64², so 3-D work trains on patches and
predicts whole volumes tile by tile (as MONAI's ``sliding_window_inference`` does).

* :class:`VolumeDataset`: one item per subject, its volumes padded to a cube and resampled to
  ``size``³ voxels (the 3-D counterpart of :class:`~medgen_nb.data.slices.SliceDataset`);
* :class:`PatchDataset`: a fixed, seeded set of patches cut from a :class:`VolumeDataset`, each
  holding at least ``min_foreground`` of head;
* :func:`sliding_window`: runs a patch model over whole volumes on overlapping tiles and blends
  the overlaps with Gaussian (or uniform) weights.

Items, as in :class:`~medgen_nb.data.slices.SliceDataset` with one more spatial axis:

=========  ========================  ================================================
key        shape                     meaning
=========  ========================  ================================================
image      (C, S, S, S) float32      the ``sources`` volumes stacked, in [0, 1]
target     (1, S, S, S) float32      the ``target`` volume, in [0, 1]
mask       (1, S, S, S) float32      foreground (head) mask, {0, 1}
subject    () int64                  index into ``dataset.subject_ids``
corner     (3,) int64                patches only: the patch's first voxel in the volume
=========  ========================  ================================================

Axes stay in the subjects' RAS order (X, Y, Z); :func:`axial_view` turns one axial plane the way
radiologists view it, as the slice data sets do.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from medgen_nb.data.intensity import IntensityMap, check_unit_range
from medgen_nb.data.modalities import resolve as resolve_modality
from medgen_nb.data.slices import Subject

VOLUME_SIZES: tuple[int, ...] = (32, 48, 64, 96, 128)
BLENDS: tuple[str, ...] = ("gaussian", "constant")
# MONAI's default Gaussian importance map: sigma = 1/8 of the patch side, so a tile's centre
# weighs most and its border, where a network sees the least context, least.
GAUSSIAN_SIGMA_SCALE = 0.125


def _to_cube(volume: np.ndarray, size: int, kind: str) -> torch.Tensor:
    """``(X, Y, Z)`` -> ``(size, size, size)``: zero-padded to a cube, then resampled.

    Images are area-averaged when shrinking (each output voxel the mean of the input voxels it
    covers, which avoids aliasing as the antialiased 2-D resize of the slice data sets does) and
    trilinear when growing; a mask is resampled like an image and thresholded at one half.
    """
    t = torch.from_numpy(np.ascontiguousarray(volume)).float()[None, None]  # (1, 1, X, Y, Z)
    side = max(t.shape[2:])
    pad: list[int] = []
    for n in reversed(t.shape[2:]):  # F.pad lists the last axis first
        pad += [(side - n) // 2, side - n - (side - n) // 2]
    t = F.pad(t, pad, value=0.0)
    if side > size:
        t = F.adaptive_avg_pool3d(t, size)
    elif side < size:
        t = F.interpolate(t, size=(size,) * 3, mode="trilinear", align_corners=False)
    t = t[0, 0]
    return t > 0.5 if kind == "mask" else t.clamp(0.0, 1.0)


def check_volume_size(size: object, name: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size not in VOLUME_SIZES:
        raise ValueError(f"{name} must be one of {VOLUME_SIZES} voxels per side, got {size!r}")
    return size


class VolumeDataset(Dataset):
    """Co-registered volumes, one item per subject, resampled to ``size``³ voxels.

    Args:
        subjects: the subjects of one split.
        sources: modality names stacked as ``image`` channels (aliases as in
            :mod:`medgen_nb.data.modalities`).
        target: the modality returned as ``target``, or None.
        size: voxels per side, one of :data:`VOLUME_SIZES`; the longest axis of the subject's
            grid is resampled to it (a 91 x 109 x 91 phantom at 2 mm becomes 64³ voxels of 3.4 mm).

    Volumes are kept as float16, as the slice data sets keep their slices. Pass no subjects and
    call :meth:`add` to build one subject at a time (for populations too large to hold at once).
    """

    def __init__(
        self,
        subjects: Sequence[Subject],
        sources: Sequence[str] | str,
        target: str | None = None,
        size: int = 64,
    ) -> None:
        self._requested = ([sources] if isinstance(sources, str) else list(sources), target)
        if not self._requested[0]:
            raise ValueError("sources must name at least one modality")
        self.size = check_volume_size(size)
        self.sources: list[str] = []
        self.target: str | None = None
        self.subject_ids: list[str] = []
        self.intensity: dict[str, dict[str, IntensityMap]] = {}
        self.spacing_mm: list[float] = []  # isotropic voxel size of each resampled volume
        self._positions: list[int] = []
        self._image: list[torch.Tensor] = []
        self._target: list[torch.Tensor] = []
        self._mask: list[torch.Tensor] = []
        for k, subject in enumerate(subjects):
            self.add(subject, k)

    def add(self, subject: Subject, position: int | None = None) -> None:
        """Resample ``subject`` and insert it as the ``position``-th item (default: the last).

        Positions order the items, whatever order the subjects arrive in (a split's order is not
        the order a population is simulated in).
        """
        if not self.subject_ids:
            available = list(subject.images)
            sources, target = self._requested
            self.sources = [resolve_modality(name, available) for name in sources]
            self.target = resolve_modality(target, available) if target else None
            if self.target in self.sources:
                raise ValueError(f"the target {self.target!r} is also a source")
        if subject.subject_id in self.subject_ids:
            raise ValueError(f"subject {subject.subject_id} was already added")
        position = (
            (self._positions[-1] + 1 if self._positions else 0) if position is None else position
        )
        if position in self._positions:
            raise ValueError(f"position {position} was already added")
        for name in dict.fromkeys([*self.sources, *([self.target] if self.target else [])]):
            if name not in subject.images:
                raise ValueError(
                    f"subject {subject.subject_id} has no {name!r} image; it has "
                    f"{sorted(subject.images)}"
                )
            check_unit_range(subject.images[name], f"subject {subject.subject_id}: image {name!r}")
        mask = subject.mask if subject.mask is not None else np.ones(subject.shape, bool)
        k = bisect.bisect(self._positions, position)
        self._positions.insert(k, position)
        self._image.insert(
            k,
            torch.stack(
                [_to_cube(subject.images[s], self.size, "image") for s in self.sources]
            ).half(),
        )
        if self.target:
            cube = _to_cube(subject.images[self.target], self.size, "image")
            self._target.insert(k, cube[None].half())
        self._mask.insert(k, _to_cube(mask.astype(np.float32), self.size, "mask")[None])
        self.subject_ids.insert(k, subject.subject_id)
        self.intensity[subject.subject_id] = subject.intensity
        self.spacing_mm.insert(k, max(subject.shape) * max(subject.spacing_mm) / self.size)

    def subset(self, indices: Sequence[int]) -> VolumeDataset:
        """The items ``indices`` as a data set of their own (sharing the stored volumes)."""
        indices = list(indices)
        if not indices or any(not 0 <= k < len(self) for k in indices):
            raise ValueError(f"indices must be in [0, {len(self)}), got {indices}")
        out = VolumeDataset([], self.sources, self.target, self.size)
        out.sources, out.target = list(self.sources), self.target
        for name in ("_image", "_mask", "spacing_mm", "subject_ids") + (
            ("_target",) if self.target else ()
        ):
            setattr(out, name, [getattr(self, name)[k] for k in indices])
        out._positions = list(range(len(indices)))
        out.intensity = {sid: self.intensity[sid] for sid in out.subject_ids}
        return out

    def __len__(self) -> int:
        return len(self._image)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {
            "image": self._image[i].float(),
            "mask": self._mask[i].float(),
            "subject": torch.tensor(i),
        }
        if self.target:
            item["target"] = self._target[i].float()
        return item

    def tensors(self) -> dict[str, torch.Tensor]:
        """All volumes at once: ``image`` ``(N, C, S, S, S)``, ``target``, ``mask``, ``subject``."""
        if not len(self):
            raise ValueError("this VolumeDataset holds no subjects yet")
        out = {
            "image": torch.stack(self._image).float(),
            "mask": torch.stack(self._mask).float(),
            "subject": torch.arange(len(self)),
        }
        if self.target:
            out["target"] = torch.stack(self._target).float()
        return out


class PatchDataset(Dataset):
    """``patches_per_volume`` cubic patches of side ``patch_size`` from each volume of ``volumes``.

    The patches are drawn once, at construction, from ``seed``: item ``i`` is always the same
    patch, so a run is reproducible whatever order the loader visits the items in, and resuming
    or sharding over ranks sees the same data. A drawn corner is kept only if at least
    ``min_foreground`` of its patch lies in the head mask (background-only patches teach nothing).

    Args:
        volumes: a :class:`VolumeDataset` (with a target, for paired training).
        patch_size: patch side in voxels, a power of two no larger than the volumes.
        patches_per_volume: patches per subject.
        min_foreground: least fraction of head in a patch, in [0, 1).
        seed: of the corners.
    """

    def __init__(
        self,
        volumes: VolumeDataset,
        patch_size: int = 32,
        patches_per_volume: int = 64,
        *,
        min_foreground: float = 0.1,
        seed: int = 0,
    ) -> None:
        if not isinstance(volumes, VolumeDataset):
            raise ValueError(
                f"volumes must be a VolumeDataset (e.g. a 3-D task's split), got "
                f"{type(volumes).__name__}"
            )
        side = volumes.size
        if (
            isinstance(patch_size, bool)
            or not isinstance(patch_size, int)
            or patch_size < 8
            or patch_size & (patch_size - 1)
            or patch_size > side
        ):
            raise ValueError(
                f"patch_size must be a power of two in [8, {side}] (the volumes' side), got "
                f"{patch_size!r}"
            )
        if (
            isinstance(patches_per_volume, bool)
            or not isinstance(patches_per_volume, int)
            or (patches_per_volume < 1)
        ):
            raise ValueError(f"patches_per_volume must be an int >= 1, got {patches_per_volume!r}")
        if not 0.0 <= min_foreground < 1.0:
            raise ValueError(f"min_foreground must be in [0, 1), got {min_foreground!r}")
        if not len(volumes):
            raise ValueError("volumes holds no subjects; check the split")
        self.volumes, self.patch_size = volumes, patch_size
        self.patches_per_volume, self.min_foreground, self.seed = (
            patches_per_volume,
            min_foreground,
            seed,
        )
        rng = np.random.default_rng([seed, patch_size, patches_per_volume])
        corners = []
        p, span = patch_size, side - patch_size + 1
        for k, mask in enumerate(volumes._mask):
            m = mask[0].float()
            # Foreground share of every possible patch, from a summed-volume table.
            table = F.pad(m.cumsum(0).cumsum(1).cumsum(2), (1, 0, 1, 0, 1, 0))
            share = (
                table[p:, p:, p:] - table[:-p, p:, p:] - table[p:, :-p, p:] - table[p:, p:, :-p]
                + table[:-p, :-p, p:] + table[:-p, p:, :-p] + table[p:, :-p, :-p]
                - table[:-p, :-p, :-p]
            ) / p**3  # fmt: skip
            allowed = np.flatnonzero((share >= min_foreground - 1e-6).numpy().reshape(-1))
            if len(allowed) == 0:
                raise ValueError(
                    f"subject {volumes.subject_ids[k]}: no {p}³ patch holds "
                    f"{min_foreground:.0%} foreground; lower min_foreground"
                )
            picks = rng.choice(
                allowed, size=patches_per_volume, replace=len(allowed) < patches_per_volume
            )
            for flat in picks:
                corners.append((k, *np.unravel_index(int(flat), (span, span, span))))
        self.corners = torch.tensor(corners, dtype=torch.int64)  # (N, 4): volume, x, y, z

    def __len__(self) -> int:
        return len(self.corners)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        k, x, y, z = (int(v) for v in self.corners[i])
        window = (slice(None), slice(x, x + self.patch_size), slice(y, y + self.patch_size),
                  slice(z, z + self.patch_size))  # fmt: skip
        v = self.volumes
        item = {
            "image": v._image[k][window].float(),
            "mask": v._mask[k][window].float(),
            "subject": torch.tensor(k),
            "corner": self.corners[i, 1:].clone(),
        }
        if v.target:
            item["target"] = v._target[k][window].float()
        return item


def tile_starts(length: int, patch: int, overlap: float) -> list[int]:
    """First voxels of tiles of side ``patch`` covering ``[0, length)``, overlapping by about
    ``overlap`` of a tile; the last tile ends at ``length``."""
    if patch > length:
        raise ValueError(f"a tile of {patch} voxels does not fit an axis of {length}")
    stride = max(1, int(round(patch * (1.0 - overlap))))
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] != length - patch:
        starts.append(length - patch)
    return starts


def blend_weights(patch: int, spatial_dims: int = 3, blend: str = "gaussian") -> torch.Tensor:
    """Importance of each voxel of a tile, ``(patch,) * spatial_dims``, maximum 1.

    ``"gaussian"``: a separable Gaussian of std ``GAUSSIAN_SIGMA_SCALE * patch`` around the
    centre, floored at its smallest positive value so the tile's corners still count; ``"constant"``:
    all ones (a plain average of the overlapping predictions).
    """
    if blend not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got {blend!r}")
    if blend == "constant":
        return torch.ones((patch,) * spatial_dims)
    x = torch.arange(patch, dtype=torch.float64) - (patch - 1) / 2
    g = torch.exp(-(x**2) / (2 * (GAUSSIAN_SIGMA_SCALE * patch) ** 2))
    w = g
    for _ in range(spatial_dims - 1):
        w = w[..., None] * g
    w = w / w.max()
    return w.clamp_min(float(w[w > 0].min())).float()


@torch.no_grad()
def sliding_window(
    fn: Callable[[torch.Tensor], torch.Tensor],
    volumes: torch.Tensor,
    patch_size: int,
    *,
    overlap: float = 0.5,
    batch_size: int = 8,
    blend: str = "gaussian",
) -> torch.Tensor:
    """Apply a patch model ``fn`` to whole volumes, tile by tile, and blend the tiles.

    Args:
        fn: ``(b, C, P, P, P) -> (b, C_out, P, P, P)``, e.g. ``model.translate``.
        volumes: ``(N, C, D, H, W)``, every side at least ``patch_size``.
        patch_size: the tile side ``P`` (the model's input size).
        overlap: fraction of a tile shared with its neighbour along each axis, in [0, 1).
        batch_size: tiles per call of ``fn``.
        blend: ``"gaussian"`` (centre-weighted, fewer seams) or ``"constant"``.

    Returns:
        ``(N, C_out, D, H, W)`` float32 on the CPU: at each voxel the weighted mean of the
        predictions of every tile that covers it. A voxelwise ``fn`` is reproduced exactly.
    """
    if not isinstance(volumes, torch.Tensor) or volumes.ndim != 5 or len(volumes) == 0:
        got = tuple(volumes.shape) if isinstance(volumes, torch.Tensor) else type(volumes).__name__
        raise ValueError(f"volumes must be a non-empty (N, C, D, H, W) tensor, got {got}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    spatial = tuple(volumes.shape[2:])
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"patch_size must be an int >= 1, got {patch_size!r}")
    if min(spatial) < patch_size:
        raise ValueError(
            f"volumes of size {spatial} are smaller than the {patch_size}³ tiles of the model"
        )
    p = patch_size
    corners = list(itertools.product(*(tile_starts(n, p, overlap) for n in spatial)))
    w = blend_weights(p, 3, blend)
    total = torch.zeros(spatial)
    for x, y, z in corners:
        total[x : x + p, y : y + p, z : z + p] += w
    out: torch.Tensor | None = None
    for n in range(len(volumes)):
        for i in range(0, len(corners), batch_size):
            batch = corners[i : i + batch_size]
            tiles = torch.stack(
                [volumes[n, :, x : x + p, y : y + p, z : z + p] for x, y, z in batch]
            )
            pred = fn(tiles).float().cpu()
            if pred.ndim != 5 or len(pred) != len(batch) or tuple(pred.shape[2:]) != (p, p, p):
                raise ValueError(
                    f"fn must map ({len(batch)}, C, {p}, {p}, {p}) tiles to "
                    f"({len(batch)}, C_out, {p}, {p}, {p}), got {tuple(pred.shape)}"
                )
            if out is None:
                out = torch.zeros((len(volumes), pred.shape[1], *spatial))
            for (x, y, z), tile in zip(batch, pred, strict=True):
                out[n, :, x : x + p, y : y + p, z : z + p] += tile * w
    assert out is not None
    return out / total


def axial_view(volume: torch.Tensor | np.ndarray, z: int | None = None) -> np.ndarray:
    """One axial plane of an ``(X, Y, Z)`` RAS volume (default: the middle one), anterior up."""
    v = np.asarray(volume)
    if v.ndim != 3:
        raise ValueError(f"volume must be (X, Y, Z), got shape {v.shape}")
    k = v.shape[2] // 2 if z is None else z
    if not 0 <= k < v.shape[2]:
        raise ValueError(f"z must be in [0, {v.shape[2]}), got {z!r}")
    return np.rot90(v[:, :, k])
