"""Turn a task declaration into datasets, by calling the data layer (phantoms or real loaders).

SMOKE builds use four subjects (two for training, one each for val and test), 32 px and coarse simulator grids, so every task
builds in seconds; lab builds use the task's own sizes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from medgen_nb.data.alignment import AlignmentConfig, check_alignment, misalign_subject
from medgen_nb.data.slices import (
    ModalityMix,
    SliceBuilder,
    SliceDataset,
    Subject,
    split_subjects,
)
from medgen_nb.tasks.base import (
    CreationTask,
    DownstreamTask,
    Task,
    TaskData,
    TranslationTask,
    brain_fraction_filter,
)
from medgen_nb.utils import atomic_write, cache_dir

SMOKE_SUBJECTS = 4  # two training subjects: unpaired models need one per domain
SMOKE_SIZE = 32


class ProjectionPairs(Dataset):
    """CT -> X-ray pairs as 2-D images: the CT's mean projection along the beam -> its DRR.

    Items: ``image`` ``(1, S, S)`` the windowed CT averaged along the anterior-posterior axis
    (what a parallel beam through the [0, 1] volume sees, oriented like the film), ``target``
    ``(1, S, S)`` the simulated radiograph (line integral / P_MAX, cone beam: magnified, with the
    physics of :mod:`medgen_nb.data.drr`), ``mask`` all ones, ``subject``.
    """

    def __init__(
        self, image: torch.Tensor, target: torch.Tensor, subject_ids: list[str], intensity
    ):
        self.image, self.target, self.subject_ids = image, target, subject_ids
        self.mask = torch.ones_like(target)
        self.subject = torch.arange(len(image))
        self.intensity = {sid: {"xray": intensity} for sid in subject_ids}

    def __len__(self) -> int:
        return len(self.image)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "image": self.image[i].float(),
            "target": self.target[i].float(),
            "mask": self.mask[i],
            "subject": self.subject[i],
        }

    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            "image": self.image.float(),
            "target": self.target.float(),
            "mask": self.mask,
            "subject": self.subject,
        }


def _brain_subjects(task, n: int, seed: int, modalities, site: str | None) -> list[Subject]:
    from medgen_nb.data.brain_phantom import BrainPhantomConfig, load_brain_subjects

    # Every modality is simulated (one cache entry per subject, shared by all brain tasks);
    # only the ones the task uses are kept in memory.
    config = BrainPhantomConfig(**dict(task.loader_kwargs))
    return load_brain_subjects(
        n, seed, config, progress=False, modalities=list(modalities), site=site
    )


def _chest_config(task, smoke: bool):
    from medgen_nb.data.chest_ct import ChestCTConfig
    from medgen_nb.data.ultrasound import UltrasoundConfig

    options = dict(task.loader_kwargs)
    if smoke:  # coarse voxels: the physics does not depend on the grid
        options.setdefault("in_plane_mm", 6.0)
        options.setdefault("slice_mm", 10.0)
        options.setdefault("ultrasound", UltrasoundConfig(n_lines=48, n_depth=64))
    return ChestCTConfig(**options)


def _split(subjects: list[Subject], fractions) -> dict[str, list[Subject]]:
    by_id = {s.subject_id: s for s in subjects}
    ids = split_subjects(list(by_id), fractions)
    return {split: [by_id[i] for i in members] for split, members in ids.items() if members}


def _phantom_subjects(task, n, seed, smoke, wanted, site) -> tuple[list[Subject], object]:
    if task.region == "brain":
        subjects = _brain_subjects(task, n, seed, wanted, site)
        keep = brain_fraction_filter(task.min_brain) if task.min_brain > 0 else None
        return subjects, keep
    from medgen_nb.data.chest_ct import load_chest_subjects

    return load_chest_subjects(n, seed, _chest_config(task, smoke), progress=False, site=site), None


def _brain_subjects_by_split(
    task: Task, n: int, seed: int, sources: list[str], target: str | None, site, test_site
) -> tuple[dict[str, list[str]], Iterator[tuple[str, int, Any]]]:
    """The brain phantom subjects of a task, one loaded (or simulated) at a time.

    Returns the split -> subject ids map and an iterator of ``(split, position, subject)``,
    each subject holding the ``sources`` and ``target`` volumes: imaged with ``site``'s scanners (the test subjects with ``test_site``'s, same
    anatomy and ids, when it differs) and, for translation tasks, with the sources misaligned
    to the target as ``task.alignment`` says. Slice and volume tasks share it, so a 3-D task's
    subjects are its 2-D twin's.
    """
    from medgen_nb.data.brain_phantom import (
        BrainPhantomConfig,
        brain_subject_ids,
        iter_brain_subjects,
    )

    wanted = list(dict.fromkeys([*sources, *([target] if target else [])]))
    config = BrainPhantomConfig(**dict(task.loader_kwargs))
    splits = {
        k: v for k, v in split_subjects(brain_subject_ids(n, seed), task.fractions).items() if v
    }
    where = {
        sid: (split, pos) for split, members in splits.items() for pos, sid in enumerate(members)
    }
    translation = isinstance(task, TranslationTask)
    alignment = AlignmentConfig.preset(task.alignment) if translation else None
    other_test_site = test_site != site and "test" in splits
    passes = [(site, "test" if other_test_site else None, None)]
    if other_test_site:
        passes.append((test_site, None, "test"))

    def subjects() -> Iterator[tuple[str, int, Any]]:
        for scanner_site, skip, only in passes:
            for subject in iter_brain_subjects(n, seed, config, wanted, scanner_site):
                split, position = where[subject.subject_id]
                if split == skip or (only is not None and split != only):
                    continue
                if alignment is not None:  # after the cache: only the sources move
                    subject = misalign_subject(subject, target, alignment, seed, moving=sources)
                yield split, position, subject

    return splits, subjects()


def _streamed_brain_slices(
    task, n, seed, size, sources, target, seg_key, label_from, site, test_site
) -> dict:
    """The brain splits of :func:`_phantom_slices`, cut one subject at a time.

    Each subject is loaded (or simulated), misaligned for translation tasks, sliced into its
    split's data sets and dropped, so a forty-subject task holds one subject's volumes at a time.
    The result equals slicing the whole population at once (tested).
    """
    splits, subjects = _brain_subjects_by_split(task, n, seed, sources, target, site, test_site)
    keep = brain_fraction_filter(task.min_brain) if task.min_brain > 0 else None
    mix = tuple(getattr(task, "modalities", ()))  # one part per modality, labelled by modality
    builders = {
        split: [SliceBuilder([m], None, "axial", size, seg_key, None, task.min_foreground, keep) for m in mix]
        if mix
        else [SliceBuilder(sources, target, "axial", size, seg_key, label_from, task.min_foreground, keep)]
        for split in splits
    }  # fmt: skip
    for split, position, subject in subjects:
        for builder in builders[split]:
            builder.add(subject, position)
    return {
        split: ModalityMix([b.finish() for b in parts]) if mix else parts[0].finish()
        for split, parts in builders.items()
    }


def _phantom_volumes(task: TranslationTask, n: int, seed: int, size: int, site, test_site) -> dict:
    """The splits of a 3-D brain task: whole volumes, one subject loaded at a time, from the
    same subjects, sites and misalignment as the slice tasks (:func:`_brain_subjects_by_split`)."""
    from medgen_nb.data.volumes import VolumeDataset

    if task.region != "brain":
        raise ValueError(
            f"task {task.name!r}: 3-D phantom tasks are built from the brain phantom; the chest "
            "phantom is sliced only"
        )
    sources, target = list(task.sources), task.target
    splits, subjects = _brain_subjects_by_split(task, n, seed, sources, target, site, test_site)
    out = {split: VolumeDataset([], sources, target, size) for split in splits}
    for split, position, subject in subjects:
        out[split].add(subject, position)
    return out


def _phantom_slices(
    task, n, seed, size, smoke, sources, target, seg_key, label_from, site=None, test_site=None
) -> dict:
    if task.region == "brain":
        return _streamed_brain_slices(
            task, n, seed, size, sources, target, seg_key, label_from, site, test_site
        )
    return _slices_at_once(
        task, n, seed, size, smoke, sources, target, seg_key, label_from, site, test_site
    )


def _slices_at_once(
    task, n, seed, size, smoke, sources, target, seg_key, label_from, site=None, test_site=None
) -> dict:
    """Load every subject, then slice the splits (chest tasks; the reference for brain streaming)."""
    wanted = [*sources, *([target] if target else [])]
    subjects, keep = _phantom_subjects(task, n, seed, smoke, wanted, site)
    splits = _split(subjects, task.fractions)
    if test_site != site and "test" in splits:
        # The same test subjects (same anatomy, same ids), imaged with another site's scanners.
        other, _ = _phantom_subjects(task, n, seed, smoke, wanted, test_site)
        by_id = {s.subject_id: s for s in other}
        splits["test"] = [by_id[s.subject_id] for s in splits["test"]]
    if isinstance(task, TranslationTask):
        # After the cache: the simulated subjects stay aligned; only the sources move.
        config = AlignmentConfig.preset(task.alignment)
        chest = task.region == "chest"
        splits = {
            split: [
                misalign_subject(s, target, config, seed, breathing=chest, moving=sources)
                for s in members
            ]
            for split, members in splits.items()
        }
    if getattr(task, "modalities", ()):  # one item per slice and modality, labelled by modality
        return {
            split: ModalityMix(
                [
                    SliceDataset(
                        members,
                        [m],
                        None,
                        "axial",
                        size,
                        seg_key,
                        None,
                        task.min_foreground,
                        keep_slices=keep,
                    )  # fmt: skip
                    for m in task.modalities
                ]
            )
            for split, members in splits.items()
        }
    return {
        split: SliceDataset(
            members,
            sources,
            target,
            "axial",
            size,
            seg_key,
            label_from,
            task.min_foreground,
            keep_slices=keep,
        )
        for split, members in splits.items()
    }


SLICE_CACHE_FORMAT = 1  # raise when what a cached file holds changes


def _slice_cache_path(record: dict) -> Path:
    blob = json.dumps(record | {"format": SLICE_CACHE_FORMAT}, sort_keys=True).encode()
    return (
        cache_dir("task_slices")
        / f"{record['task']['name']}-{hashlib.sha256(blob).hexdigest()[:16]}.npz"
    )


def _save_splits(path: Path, splits: dict) -> None:
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, dict] = {}
    for split, ds in splits.items():
        parts = ds.parts if isinstance(ds, ModalityMix) else (ds,)
        meta[split] = {"mix": isinstance(ds, ModalityMix), "parts": []}
        for k, part in enumerate(parts):
            values, part_meta = part.state()
            meta[split]["parts"].append(part_meta)
            arrays |= {f"{split}.{k}.{name}": v for name, v in values.items()}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_write(path) as fh:
        np.savez(fh, **arrays)


def _load_splits(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes())
        out = {}
        for split, m in meta.items():
            parts = []
            for k, part_meta in enumerate(m["parts"]):
                prefix = f"{split}.{k}."
                values = {n[len(prefix) :]: z[n] for n in z.files if n.startswith(prefix)}
                parts.append(SliceDataset.from_state(values, part_meta))
            out[split] = ModalityMix(parts) if m["mix"] else parts[0]
    return out


def _cached_slices(record: dict, make, *, enabled: bool) -> dict:
    """``make()``'s splits, read from the slice cache when this record was built before.

    Only SliceDataset splits (and mixes of them) are kept. A cache file that cannot be read is
    built again and replaced: it holds derived data only, so nothing is lost.
    """
    if not enabled:
        return make()
    path = _slice_cache_path(record)
    if path.is_file():
        try:
            return _load_splits(path)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as err:
            warnings.warn(f"rebuilding the unreadable slice cache {path} ({err})", stacklevel=3)
    splits = make()
    if all(isinstance(ds, SliceDataset | ModalityMix) for ds in splits.values()):
        _save_splits(path, splits)
    return splits


def _drr_splits(
    task: TranslationTask, n: int, seed: int, size: int, smoke: bool, site: str | None
) -> dict:
    from medgen_nb.data.chest_ct import DRRPairDataset, drr_pairs

    config = _chest_config(task, smoke).at_site(site)
    pairs = drr_pairs(
        n, seed, size, volume_size=size, geometry="cone", config=config,
        fractions=task.fractions, progress=False,
    )  # fmt: skip
    out = {}
    for split, ds in pairs.items():
        # (B, 1, X, Y, Z) -> mean over Y -> (B, 1, X, Z); rows = Z head up, columns = X reversed
        proj = ds.volumes.float().mean(3)
        proj = torch.flip(proj.transpose(2, 3), dims=(2, 3))
        proj = F.interpolate(proj, size=(size, size), mode="bilinear", align_corners=False)
        proj = proj / proj.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
        out[split] = ProjectionPairs(
            proj.clamp(0, 1).half(), ds.ap, ds.subject_ids, DRRPairDataset.xray_intensity
        )
    return out


def _real_slices(task, root, size, n, sources, target, seg_key) -> dict:
    from medgen_nb.data.realdata import load_dataset

    kwargs = dict(task.loader_kwargs)
    if task.data == "medmnist":
        flag = kwargs.pop("flag")
        limit = kwargs.pop("limit", None)
        return load_dataset(f"medmnist:{flag}", root, size=size, limit=limit, **kwargs)
    if seg_key is not None and task.data != "brats":
        raise ValueError(f"{task.data} has no label maps; seg_key={seg_key!r} needs BraTS")
    if task.data == "brats":
        kwargs.setdefault("with_seg", seg_key is not None)
    return load_dataset(
        task.data, root, sources=list(sources), target=target, size=size, subjects=n,
        fractions=task.fractions, min_foreground=task.min_foreground, **kwargs,
    )  # fmt: skip


def _slice_arguments(task) -> tuple[tuple[str, ...], str | None, str | None, str | None]:
    """``(sources, target, seg_key, label_from)`` of the slice data sets a task is built from."""
    if isinstance(task, TranslationTask):
        if task.data == "phantom" and task.region == "brain":
            return task.sources, task.target, "lesion", "seg_present"
        return task.sources, task.target, None, None
    if isinstance(task, CreationTask):
        return task.modalities or (task.modality,), None, task.seg_key, task.label_from
    if isinstance(task, DownstreamTask):
        return (task.modality,), None, task.seg_key, task.label_from
    raise ValueError(f"not a task: {task!r}")


def build(
    task: Task,
    *,
    smoke: bool = False,
    seed: int = 0,
    n_subjects: int | None = None,
    size: int | None = None,
    root: str | os.PathLike | None = None,
    alignment: str | None = None,
    site: str | None = None,
    test_site: str | None = None,
    cache: bool = True,
) -> TaskData:
    """Datasets for ``task``: ``TaskData.splits`` maps ``"train"``/``"val"``/``"test"`` to data.

    Args:
        smoke: four subjects at 32 px on coarse grids (seconds), for tests and SMOKE runs.
        seed: the phantom population (real data: unused).
        n_subjects, size: override the task's own (e.g. more subjects on a GPU).
        root: folder of a real data set (default: where its ``data_scripts`` command puts it).
        alignment: translation tasks: override ``task.alignment`` (e.g. ``"perfect"`` for the
            aligned ground truth); the record of the returned data holds the one used.
        site: phantom tasks: image every subject with a simulated site's scanners
            (:mod:`medgen_nb.data.sites`, e.g. ``"site_b"``; None: the default scanners).
        test_site: phantom slice tasks: image the *test* subjects at this site instead (default:
            ``site``), for generalisation across scanners; train and val stay at ``site``.
        cache: phantom slice tasks: keep the cut slices in ``cache_dir("task_slices")``, keyed
            by the data's record (task, sizes, population, sites, simulator versions), so a
            second build reads one file instead of loading and re-slicing every volume.
    """
    from medgen_nb.data import sites

    for name, value in (("site", site), ("test_site", test_site)):
        if value is not None:
            sites.get(value)  # a clear error naming the sites
            if task.data != "phantom":
                raise ValueError(
                    f"{name}={value!r} applies to simulated (phantom) tasks; {task.name!r} "
                    f"reads real data ({task.data!r}), whose scanners are what they are"
                )
    test_site = site if test_site is None else test_site
    if alignment is not None:
        check_alignment(alignment)
        if not isinstance(task, TranslationTask):
            raise ValueError(
                f"alignment={alignment!r} applies to translation tasks only; {task.name!r} is a "
                f"{task.kind} task (its single modality has nothing to align to)"
            )
        task = dataclasses.replace(task, alignment=alignment)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    n = n_subjects if n_subjects is not None else (SMOKE_SUBJECTS if smoke else task.n_subjects)
    side = size if size is not None else (SMOKE_SIZE if smoke else task.size)
    if isinstance(n, bool) or not isinstance(n, int) or n < 3:
        raise ValueError(f"n_subjects must be an int >= 3 (one per split), got {n!r}")
    sources, target, seg_key, label_from = _slice_arguments(task)

    if isinstance(task, TranslationTask) and task.spatial_dims == 3:
        if task.data != "phantom":
            raise ValueError(
                f"task {task.name!r}: 3-D tasks are built from the phantom (data='phantom'); "
                f"real {task.data!r} volumes are sliced by its 2-D task"
            )
        from medgen_nb.data.volumes import check_volume_size

        check_volume_size(side)
        splits = _phantom_volumes(task, n, seed, side, site, test_site)
    elif task.data == "phantom":
        if isinstance(task, TranslationTask) and task.target == "xray":
            if test_site != site:
                raise ValueError(
                    f"test_site is not supported for the projection task {task.name!r}; "
                    "build it twice with site= instead"
                )
            splits = _drr_splits(task, n, seed, side, smoke, site)
        else:
            record = TaskData(task, {}, side, n, seed, site, test_site).record()
            splits = _cached_slices(
                record,
                lambda: _phantom_slices(
                    task, n, seed, side, smoke, list(sources), target, seg_key, label_from,
                    site, test_site,
                ),
                enabled=cache and not callable(label_from),
            )  # fmt: skip
    else:
        splits = _real_slices(task, root, side, n, list(sources), target, seg_key)
    return TaskData(dataclasses.replace(task), splits, side, n, seed, site, test_site)
