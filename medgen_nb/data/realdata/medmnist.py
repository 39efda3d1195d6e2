"""MedMNIST v2 / MedMNIST+ 2-D sets (Yang et al., Scientific Data 10:41, 2023) as slice datasets.

One ``.npz`` per set and size, named ``{flag}.npz`` (28 px) or ``{flag}_{size}.npz`` (64, 128,
224), with keys ``{train,val,test}_images`` (uint8, ``(N, H, W)`` or ``(N, H, W, 3)``) and
``{train,val,test}_labels`` (``(N, L)``; L = 1 except ChestMNIST, 14 findings, multi-label).
The official splits are kept. Small labelled 2-D sets suit image *creation* for classification
(Pang et al. 2025, §5.2 and Table 2). Items use the keys of :class:`~medgen_nb.data.slices.SliceDataset`:
``image`` ``(C, S, S)`` float32 in [0, 1] and ``label`` (``()`` int64, or ``(L,)`` for multi-label).

The table below (channels, task, licence, MD5 per size) was read from the ``INFO`` table of the
official ``medmnist==3.0.2`` package on PyPI: the MD5s are the publisher's, not measured here.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from medgen_nb.data.checks import check_count
from medgen_nb.data.realdata.common import as_path, not_found
from medgen_nb.data.slices import SPLITS

MEDMNIST_SIZES: tuple[int, ...] = (28, 64, 128, 224)
MEDMNIST_URL = "https://zenodo.org/records/10519652/files/{file}?download=1"
MEDMNIST_CITATION = (
    "Yang J. et al., MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical "
    "image classification, Scientific Data 10:41, 2023, doi:10.1038/s41597-022-01721-8"
)
# flag -> (channels, task, licence, {size: MD5}); from medmnist 3.0.2 medmnist/info.py
MEDMNIST_2D: dict[str, tuple[int, str, str, dict[int, str]]] = {
    "pathmnist": (
        3,
        "multi-class",
        "CC BY 4.0",
        {
            28: "a8b06965200029087d5bd730944a56c1",
            64: "55aa9c1e0525abe5a6b9d8343a507616",
            128: "ac42d08fb904d92c244187169d1fd1d9",
            224: "2c51a510bcdc9cf8ddb2af93af1eadec",
        },
    ),
    "chestmnist": (
        1,
        "multi-label, binary-class",
        "CC BY 4.0",
        {
            28: "02c8a6516a18b556561a56cbdd36c4a8",
            64: "9de6cd0b934ebb5b7426cfba5efbae16",
            128: "db107e5590b27930b62dbaf558aebee3",
            224: "45bd33e6f06c3e8cdb481c74a89152aa",
        },
    ),
    "dermamnist": (
        3,
        "multi-class",
        "CC BY-NC 4.0",
        {
            28: "0744692d530f8e62ec473284d019b0c7",
            64: "b70a2f5635c6199aeaa28c31d7202e1f",
            128: "2defd784463fa5243564e855ed717de1",
            224: "8974907d8e169bef5f5b96bc506ae45d",
        },
    ),
    "octmnist": (
        1,
        "multi-class",
        "CC BY 4.0",
        {
            28: "c68d92d5b585d8d81f7112f81e2d0842",
            64: "e229e9440236b774d9f0dfef9d07bdaf",
            128: "0a97e76651ace45c5d943ee3f65b63ae",
            224: "abc493b6d529d5de7569faaef2773ba3",
        },
    ),
    "pneumoniamnist": (
        1,
        "binary-class",
        "CC BY 4.0",
        {
            28: "28209eda62fecd6e6a2d98b1501bb15f",
            64: "8f4eceb4ccffa70c672198ea285246c6",
            128: "05b46931834c231683c68f40c47b2971",
            224: "d6a3c71de1b945ea11211b03746c1fe1",
        },
    ),
    "retinamnist": (
        3,
        "ordinal-regression",
        "CC BY 4.0",
        {
            28: "bd4c0672f1bba3e3a89f0e4e876791e4",
            64: "afda852cc34dcda56f86ad2b2457dbcc",
            128: "e48e916a24454daf90583d4e6efb1a18",
            224: "eae7e3b6f3fcbda4ae613ebdcbe35348",
        },
    ),
    "breastmnist": (
        1,
        "binary-class",
        "CC BY 4.0",
        {
            28: "750601b1f35ba3300ea97c75c52ff8f6",
            64: "742edef2a1fd1524b2efff4bd7ba9364",
            128: "363e4b3f8d712e9b5de15470a2aaadf1",
            224: "b56378a6eefa9fed602bb16d192d4c8b",
        },
    ),
    "bloodmnist": (
        3,
        "multi-class",
        "CC BY 4.0",
        {
            28: "7053d0359d879ad8a5505303e11de1dc",
            64: "2b94928a2ae4916078ca51e05b6b800b",
            128: "adace1e0ed228fccda1f39692059dd4c",
            224: "b718ff6835fcbdb22ba9eacccd7b2601",
        },
    ),
    "tissuemnist": (
        1,
        "multi-class",
        "CC BY 4.0",
        {
            28: "ebe78ee8b05294063de985d821c1c34b",
            64: "123ece2eba09d0aa5d698fda57103344",
            128: "61b955355d7425a89687b06cca3ce0c2",
            224: "b077128c4a949f0a4eb01517f9037b9c",
        },
    ),
    "organamnist": (
        1,
        "multi-class",
        "CC BY 4.0",
        {
            28: "68e3f8846a6bd62f0c9bf841c0d9eacc",
            64: "2dcccc29b88e6da5a01161ef20cda288",
            128: "eeae80d0a227a8d099027e1b3cfd3b60",
            224: "50747347e05c87dd3aaf92c49f9f3170",
        },
    ),
    "organcmnist": (
        1,
        "multi-class",
        "CC BY 4.0",
        {
            28: "b9ceb9546e10131b32923c5bbeaea2b1",
            64: "3ce34a8724ea6f548e6db4744d03b6a9",
            128: "773c1f009daa3fe5d9a2a201b2a7ed94",
            224: "050f5e875dc056f6768abf94ec9995d1",
        },
    ),
    "organsmnist": (
        1,
        "multi-class",
        "CC BY 4.0",
        {
            28: "9ab87b696fb54e2a387ebe992d6ed5f1",
            64: "53a6d115339d874c25e309a994ff46d3",
            128: "ded0c5fa01a95dc4978b956f613e9b8e",
            224: "b354719e553fbbb2513d5533f52a4cb1",
        },
    ),
}


def _check_flag_size(flag: str, size: int) -> None:
    if flag not in MEDMNIST_2D:
        raise ValueError(f"flag must be one of {sorted(MEDMNIST_2D)}, got {flag!r}")
    if isinstance(size, bool) or size not in MEDMNIST_SIZES:
        raise ValueError(f"size must be one of {MEDMNIST_SIZES}, got {size!r}")


def medmnist_filename(flag: str, size: int = 28) -> str:
    """``("pneumoniamnist", 28)`` -> ``"pneumoniamnist.npz"``; 64 -> ``"pneumoniamnist_64.npz"``."""
    _check_flag_size(flag, size)
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def medmnist_url(flag: str, size: int = 28) -> str:
    """The Zenodo URL of one set and size."""
    return MEDMNIST_URL.format(file=medmnist_filename(flag, size))


def medmnist_md5(flag: str, size: int = 28) -> str:
    """The publisher's MD5 of one set and size (from ``medmnist`` 3.0.2)."""
    _check_flag_size(flag, size)
    return MEDMNIST_2D[flag][3][size]


def read_medmnist_npz(path: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of one split, checked: images uint8 ``(N, H, W[, 3])``, labels ``(N, L)``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            need = {f"{split}_images", f"{split}_labels"}
            if not need <= keys:
                raise ValueError(
                    f"{path.name} lacks {sorted(need - keys)}; a MedMNIST .npz has "
                    f"{{train,val,test}}_{{images,labels}}, this one has {sorted(keys)}"
                )
            images, labels = npz[f"{split}_images"], npz[f"{split}_labels"]
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"could not read {path} ({exc}); download it again") from exc
    if (
        images.dtype != np.uint8
        or images.ndim not in (3, 4)
        or (images.ndim == 4 and images.shape[-1] != 3)
    ):
        raise ValueError(
            f"{path.name}: {split}_images must be uint8 (N, H, W) or (N, H, W, 3), got "
            f"{images.dtype} {images.shape}"
        )
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2 or len(labels) != len(images):
        raise ValueError(
            f"{path.name}: {split}_labels must be (N, L) with N = {len(images)}, got {labels.shape}"
        )
    return images, labels


class MedMNISTDataset(Dataset):
    """One official split of a MedMNIST 2-D set.

    Items: ``image`` ``(C, S, S)`` float32 in [0, 1] (C = 1 or 3), ``label`` ``()`` int64 (or
    ``(L,)`` for multi-label sets), ``index`` ``()`` int64. ``size`` resamples (bilinear,
    antialiased) from the stored side, e.g. 28 -> 32 for power-of-two networks.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, size: int | None = None) -> None:
        x = torch.from_numpy(np.ascontiguousarray(images))
        x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)  # (N, C, H, W)
        self.native_size = int(x.shape[-1])
        if size is not None and size != self.native_size:
            check_count(size, "size", minimum=8, none_ok=True)
            x = (
                F.interpolate(
                    x.float(),
                    size=(size, size),
                    mode="bilinear",
                    align_corners=False,
                    antialias=size < self.native_size,
                )
                .round()
                .clamp(0, 255)
                .to(torch.uint8)
            )
        self._images = x  # uint8 keeps memory at 1 byte per pixel
        self.multi_label = labels.shape[1] > 1
        lab = torch.from_numpy(labels.astype(np.int64))
        self._labels = lab if self.multi_label else lab[:, 0]

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "image": self._images[i].float() / 255.0,
            "label": self._labels[i],
            "index": torch.tensor(i),
        }

    @property
    def num_classes(self) -> int:
        """Classes (single-label) or findings (multi-label)."""
        return int(self._labels.shape[1]) if self.multi_label else int(self._labels.max()) + 1

    def tensors(self) -> dict[str, torch.Tensor]:
        """All items at once: ``image`` ``(N, C, S, S)`` float32 in [0, 1], ``label``."""
        return {"image": self._images.float() / 255.0, "label": self._labels}


def load_medmnist(
    flag: str,
    root: str | os.PathLike | None = None,
    *,
    size: int = 28,
    resize_to: int | None = None,
    limit: int | None = None,
) -> dict[str, MedMNISTDataset]:
    """Official ``train``/``val``/``test`` splits of MedMNIST set ``flag`` at stored ``size``.

    Args:
        flag: e.g. ``"pneumoniamnist"`` (see :data:`MEDMNIST_2D`).
        root: folder with the ``.npz`` (default: where ``data_scripts/medmnist.py`` puts it).
        size: stored side, one of :data:`MEDMNIST_SIZES`.
        resize_to: resample items to this side (e.g. 32 or 64 for power-of-two networks).
        limit: keep only the first ``limit`` items of each split (quick runs).
    """
    _check_flag_size(flag, size)
    check_count(limit, "limit", none_ok=True)
    check_count(resize_to, "resize_to", minimum=8, none_ok=True)
    root = as_path(root, "medmnist")
    path = root / medmnist_filename(flag, size)
    if not path.is_file():
        raise not_found(
            "MedMNIST",
            root,
            f"no {path.name}",
            f"python data_scripts/medmnist.py {flag} --size {size} --dest {root}",
        )
    out = {}
    for split in SPLITS:
        images, labels = read_medmnist_npz(path, split)
        out[split] = MedMNISTDataset(images[:limit], labels[:limit], resize_to)
    return out
