"""Training of the medical feature network: ``python -m medgen_nb.evaluation.feature_net --train``.

The network learns to tell slices apart by what a generator must get right: contrast
(modality), anatomy (region / plane) and position (slice level). Its embedding then separates
realistic from unrealistic slices, and its modality head gives the p(y|x) of IS and MS.

Data: the package's simulated phantoms when available (brain: t1w, t2w, pd, flair, t1ce, ct,
cbct, pet; chest: ct, cbct, ce_arterial, ce_venous, us), imaged at several simulated scanner sites
(:mod:`medgen_nb.data.sites`: the default scanners and ``site_a``-``site_c``) and held out **by
subject**; every subject of one more site (``site_d``, never seen in training) is a second test
set, for a modality head that must name images from scanners it has never seen. Training adds
random contrast, brightness and gamma changes, so that no one intensity scale is learnt. Without them
(:func:`training_data` reports which it used) it falls back to the two real MNI152 T1 templates,
sliced along three planes, with held-out contiguous slabs of slices.

It lives here, above data and metrics, because it simulates phantoms: the metrics only load the
shipped weights (:func:`medgen_nb.metrics.load_feature_net`) and never import a simulator. The
loop is :func:`medgen_nb.train.fit`; :class:`FeatureNetTraining` gives the network the
``configure_optimizers`` / ``train_step`` contract.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from medgen_nb.metrics.features import ASSETS, INPUT_SIZE, MedicalFeatureNet, load_card, sha256_of
from medgen_nb.models.base import Batch, GenerativeModel, Optimizers, StepContext
from medgen_nb.train import fit
from medgen_nb.utils import atomic_write, seed_everything

N_LEVELS = 4  # slice-level bins along the slicing axis


@dataclass
class FeatureData:
    """Slices and labels for training: ``images`` (N, 1, 64, 64) in [0, 1]; ``labels`` task -> (N,)."""

    images: torch.Tensor
    labels: dict[str, torch.Tensor]
    classes: dict[str, list[str]]
    test: torch.Tensor  # (N,) bool: held-out slices (other subjects, or held-out slabs)
    description: str
    # (N,) bool: slices from a scanner site never used in training (None: no such set). They are
    # neither trained on nor part of ``test``.
    site_test: torch.Tensor | None = None
    site_test_name: str | None = None

    def train_mask(self) -> torch.Tensor:
        """(N,) bool: the slices training uses (neither held-out subjects nor the held-out site)."""
        out = ~self.test
        return out if self.site_test is None else out & ~self.site_test


def square_slices(volume: np.ndarray, axis: int, size: int = INPUT_SIZE) -> torch.Tensor:
    """(X, Y, Z) -> (N, size, size) slices along ``axis``, zero-padded square and resized."""
    t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(volume, axis, 0))).float()
    t = torch.rot90(t, 1, (1, 2))
    n, a, b = t.shape
    side = max(a, b)
    pad = ((side - b) // 2, side - b - (side - b) // 2, (side - a) // 2, side - a - (side - a) // 2)
    t = F.pad(t[:, None], pad)
    return F.interpolate(t, (size, size), mode="bilinear", antialias=True)[:, 0].clamp(0, 1)


def mni_data() -> FeatureData:
    """Fallback: real MNI152 T1 templates (brain-only 1 mm and full-head 2 mm), three planes.

    Labels: ``source`` (2), ``plane`` (3), ``level`` (4 bins). Slices with < 5 % foreground are
    dropped. Held out: the slabs at relative positions [0.30, 0.38) and [0.62, 0.70) of each axis.
    """
    from medgen_nb.data.intensity import mr_robust
    from medgen_nb.data.io import load_nifti
    from medgen_nb.data.sources import fetch

    names = ("mni152_2009a_t1", "fsl_mni152_t1_2mm")
    images, source, plane, level, test = [], [], [], [], []
    for s_id, name in enumerate(names):
        vol, _ = load_nifti(fetch(name))
        vol = np.asarray(mr_robust(vol, vol > np.percentile(vol, 50)).forward(vol), np.float32)
        for axis in range(3):
            sl = square_slices(vol, axis)
            pos = (torch.arange(len(sl)) + 0.5) / len(sl)
            keep = (sl > 0.05).float().mean((1, 2)) > 0.05
            images.append(sl[keep])
            source += [s_id] * int(keep.sum())
            plane += [axis] * int(keep.sum())
            level.append((pos[keep] * N_LEVELS).long().clamp_max(N_LEVELS - 1))
            p = pos[keep]
            test.append(((p >= 0.30) & (p < 0.38)) | ((p >= 0.62) & (p < 0.70)))
    return FeatureData(
        images=torch.cat(images)[:, None],
        labels={
            "source": torch.tensor(source),
            "plane": torch.tensor(plane),
            "level": torch.cat(level),
        },
        classes={
            "source": list(names),
            "plane": ["sagittal", "coronal", "axial"],
            "level": [f"bin{i}" for i in range(N_LEVELS)],
        },
        test=torch.cat(test),
        description="real MNI152 T1 templates (nilearn 2009a 1 mm, FSL 2 mm), 3 planes; "
        "held-out slabs at 30-38 % and 62-70 % of each axis",
    )


def _axial_slices(subject, stride: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Each modality's axial slices with >= 5 % foreground, and their level bin along the mask."""
    mask = subject.mask if subject.mask is not None else next(iter(subject.images.values())) > 0.05
    fg = mask.reshape(-1, mask.shape[2]).mean(0)  # foreground fraction per axial slice
    z_in = np.flatnonzero(fg > 0)
    z0, z1 = int(z_in.min()), int(z_in.max()) + 1
    z = np.arange(z0, z1, stride)
    z = z[fg[z] >= 0.05]
    level = torch.from_numpy(((z - z0 + 0.5) / (z1 - z0) * N_LEVELS).astype(np.int64))
    slices = {m: square_slices(vol[:, :, z], axis=2) for m, vol in subject.images.items()}
    return slices, level.clamp(0, N_LEVELS - 1)


TRAIN_SITES: tuple[str | None, ...] = (None, "site_a", "site_b", "site_c")
HELD_OUT_SITE = "site_d"


def phantom_data(
    n_brain: int = 8,
    n_chest: int = 4,
    seed: int = 0,
    train_sites: tuple[str | None, ...] = TRAIN_SITES,
    held_out_site: str | None = HELD_OUT_SITE,
) -> FeatureData:
    """Simulated brain and chest subjects (all modalities), axial slices, held out by subject.

    ``n_brain`` brain and ``n_chest`` chest subjects per site of ``train_sites`` (None: the default
    scanners), each site with its own population (other people, other scanners); a quarter of the
    subjects of each region and site (by :func:`split_subjects`) is held out for the accuracy
    report. ``held_out_site`` adds the same number of subjects imaged at a site used nowhere in
    training (``FeatureData.site_test``).

    Labels: ``modality`` (13 = 8 brain + 5 chest; the head IS/MS use) and ``level`` (4 bins of
    the slice's position between the lowest and highest foreground slice).
    """
    from medgen_nb.data.brain_phantom import BRAIN_MODALITIES, load_brain_subjects
    from medgen_nb.data.chest_ct import CHEST_MODALITIES, load_chest_subjects
    from medgen_nb.data.slices import split_subjects

    modality_names = [f"brain_{m}" for m in BRAIN_MODALITIES] + [
        f"chest_{m}" for m in CHEST_MODALITIES
    ]
    every_site = [*train_sites, *([held_out_site] if held_out_site else [])]
    images, modality, level, test, site_test = [], [], [], [], []
    for k, site in enumerate(every_site):
        population = seed * 1000 + k  # each site scans its own people
        groups = (
            # 2 mm brains: every 2nd slice; 5 mm chests: every slice
            ("brain", load_brain_subjects(n_brain, population, progress=False, site=site), 2),
            ("chest", load_chest_subjects(n_chest, population, progress=False, site=site), 1),
        )
        unseen = site is not None and site == held_out_site
        for region, subjects, stride in groups:
            ids = [s.subject_id for s in subjects]
            held_out = set(split_subjects(ids, (0.75, 0.0, 0.25))["test"]) if not unseen else set()
            for subject in subjects:
                slices, lv = _axial_slices(subject, stride)
                for name, sl in slices.items():
                    images.append(sl)
                    modality += [modality_names.index(f"{region}_{name}")] * len(sl)
                    level.append(lv)
                    test += [subject.subject_id in held_out] * len(sl)
                    site_test += [unseen] * len(sl)
    names = ", ".join(s or "default" for s in train_sites)
    return FeatureData(
        images=torch.cat(images)[:, None],
        labels={"modality": torch.tensor(modality), "level": torch.cat(level)},
        classes={"modality": modality_names, "level": [f"bin{i}" for i in range(N_LEVELS)]},
        test=torch.tensor(test),
        description=f"simulated phantoms at sites {names}: {n_brain} brain subjects (8 "
        f"modalities, every 2nd axial slice) and {n_chest} chest subjects (5 modalities) per "
        f"site, seed {seed}; a quarter of each region's subjects per site held out"
        + (
            f"; all subjects of {held_out_site} held out as an unseen site" if held_out_site else ""
        ),
        site_test=torch.tensor(site_test) if held_out_site else None,
        site_test_name=held_out_site,
    )


def training_data() -> FeatureData:
    """The simulated brain + chest phantoms (:func:`phantom_data`); the real MNI templates
    (:func:`mni_data`) only if the phantom modules are missing."""
    try:
        import medgen_nb.data.brain_phantom  # noqa: F401
        import medgen_nb.data.chest_ct  # noqa: F401
    except ImportError:
        return mni_data()
    return phantom_data()


def augment(x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    """Left-right flips, +-3 px shifts, random contrast, brightness and gamma.

    The intensity changes (contrast x0.75-1.25, brightness +-0.08 of the foreground, gamma with
    log-sd 0.25) stand in for scanners, vendors and normalisations never simulated, so the
    modality head has to read anatomy-specific contrast rather than one absolute intensity.

    ``x`` ``(B, 1, H, W)`` in [0, 1]; ``g`` a generator on ``x``'s device (None: the global RNG,
    which :func:`medgen_nb.train.fit` seeds).
    """
    b = x.shape[0]
    flip = torch.rand(b, generator=g, device=x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    dx, dy = (int(v) for v in torch.randint(-3, 4, (2,), generator=g, device=x.device))
    x = torch.roll(x, (dy, dx), (2, 3))
    gamma = torch.exp(0.25 * torch.randn(b, 1, 1, 1, generator=g, device=x.device))
    contrast = 0.75 + 0.5 * torch.rand(b, 1, 1, 1, generator=g, device=x.device)
    brightness = 0.16 * (torch.rand(b, 1, 1, 1, generator=g, device=x.device) - 0.5)
    foreground = (x > 0.02).float()  # keep the air black: only tissue changes brightness
    x = x.clamp_min(0) ** gamma * contrast + brightness * foreground
    return x.clamp(0, 1)


def one_cycle(step: int, total: int, peak: float) -> tuple[float, float]:
    """Learning rate and Adam's beta1 at ``step`` of the one-cycle schedule (Smith & Topin 2019).

    As ``torch.optim.lr_scheduler.OneCycleLR`` with its defaults: over the first 30 % of the
    ``total`` steps the rate rises on a half cosine from ``peak / 25`` to ``peak`` while beta1
    falls from 0.95 to 0.85; then the rate falls to ``peak / 25 / 1e4`` and beta1 climbs back.
    Computed from the step alone, so a resumed run continues on the same curve.
    """
    lr_0, lr_end = peak / 25.0, peak / 25.0 / 1e4
    warm = max(1.0, 0.3 * total - 1.0)  # last step of the rising phase

    def cos(a: float, b: float, t: float) -> float:  # a -> b on a half cosine, t in [0, 1]
        return b + (a - b) * (1.0 + math.cos(math.pi * min(max(t, 0.0), 1.0))) / 2.0

    if step <= warm:
        t = step / warm
        return cos(lr_0, peak, t), cos(0.95, 0.85, t)
    t = (step - warm) / max(1.0, total - 1.0 - warm)
    return cos(peak, lr_end, t), cos(0.85, 0.95, t)


class LabelledSlices(Dataset):
    """``images`` ``(N, 1, 64, 64)`` and ``labels`` head -> ``(N,)`` as ``{"image", head...}`` items."""

    def __init__(self, images: torch.Tensor, labels: dict[str, torch.Tensor]) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i], **{k: v[i] for k, v in self.labels.items()}}


class FeatureNetTraining(GenerativeModel):
    """:class:`MedicalFeatureNet` under the ``configure_optimizers`` / ``train_step`` contract.

    Loss: the sum over heads of the cross-entropy of each head's logits on augmented slices.
    AdamW with weight decay ``weight_decay``; learning rate and beta1 follow :func:`one_cycle`
    over ``total_steps`` steps, peaking at ``lr``.
    """

    def __init__(
        self,
        heads: dict[str, int],
        *,
        total_steps: int,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
    ) -> None:
        super().__init__()
        self.net = MedicalFeatureNet(heads)  # built here, so the config is plain values
        self.total_steps, self.lr, self.weight_decay = total_steps, lr, weight_decay
        self.batch_keys = ("image", *self.net.heads)

    def configure_optimizers(self) -> Optimizers:
        return {
            "net": torch.optim.AdamW(
                self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay
            )
        }

    def train_step(
        self, batch: Batch, optimizers: Optimizers, ctx: StepContext
    ) -> dict[str, float]:
        opt = optimizers["net"]
        lr, beta1 = one_cycle(ctx.step, self.total_steps, self.lr)
        for group in opt.param_groups:
            group["lr"], group["betas"] = lr, (beta1, group["betas"][1])
        logits = self.net.logits(augment(batch["image"]))
        losses = {k: F.cross_entropy(v, batch[k]) for k, v in logits.items()}
        loss = sum(losses.values())
        ctx.optimize(loss, opt, name="net")
        return {"loss": loss.item(), "lr": lr, **{f"loss_{k}": v.item() for k, v in losses.items()}}


def train_feature_net(
    data: FeatureData,
    *,
    epochs: int = 24,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> MedicalFeatureNet:
    """Train all heads jointly on the non-held-out slices with :func:`medgen_nb.train.fit`.

    ``epochs`` passes over the training slices (incomplete last batches dropped); the initial
    weights and the batch order follow ``seed``. Returns the network in eval mode, on CPU.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    seed_everything(seed)
    heads = {k: len(v) for k, v in data.classes.items()}
    train_idx = data.train_mask().nonzero().flatten()
    slices = LabelledSlices(
        data.images[train_idx], {k: v[train_idx] for k, v in data.labels.items()}
    )
    steps = epochs * max(1, len(slices) // batch_size)
    model = FeatureNetTraining(
        heads, total_steps=steps, lr=lr
    )  # weights drawn right after the seed
    net = model.net
    # fp32: the shipped weights were trained in fp32, and bf16 autocast would change the recipe.
    fit(model, slices, steps, device=device, batch_size=batch_size, seed=seed, precision="fp32",
        progress=False)  # fmt: skip
    return net.cpu().eval()


@torch.no_grad()
def held_out_accuracy(
    net: MedicalFeatureNet, data: FeatureData, where: torch.Tensor | None = None
) -> dict[str, float]:
    """Accuracy of each head on the held-out slices (and the chance level = majority class).

    ``where`` (N,) bool picks other slices (e.g. ``data.site_test``); default ``data.test``.
    """
    idx = (data.test if where is None else where).nonzero().flatten()
    net.eval()
    logits = net.logits(data.images[idx])
    out = {}
    for k, v in logits.items():
        y = data.labels[k][idx]
        out[k] = round(float((v.argmax(1) == y).float().mean()), 4)
        out[f"{k}_chance"] = round(float(torch.bincount(y).max() / len(y)), 4)
    return out


@torch.no_grad()
def confusion(
    net: MedicalFeatureNet, data: FeatureData, head: str, where: torch.Tensor | None = None
) -> list[list[int]]:
    """Held-out confusion matrix of one head: rows = true class, columns = predicted class."""
    idx = (data.test if where is None else where).nonzero().flatten()
    k = len(data.classes[head])
    pred = net.eval().logits(data.images[idx])[head].argmax(1)
    flat = data.labels[head][idx] * k + pred
    return torch.bincount(flat, minlength=k * k).reshape(k, k).tolist()


def per_class_accuracy(matrix: list[list[int]], classes: list[str]) -> dict[str, float | None]:
    """Recall of each class from a confusion matrix (None for a class with no slices)."""
    out: dict[str, float | None] = {}
    for name, row in zip(classes, matrix, strict=True):
        total = sum(row)
        out[name] = round(row[classes.index(name)] / total, 4) if total else None
    return out


@torch.no_grad()
def pair_accuracy(
    net: MedicalFeatureNet, data: FeatureData, a: str, b: str, where: torch.Tensor | None = None
) -> float:
    """Accuracy of telling class ``a`` from ``b`` of the modality head (a two-way decision between
    their logits) on the held-out slices of those two classes."""
    names = data.classes.get("modality", [])
    if a not in names or b not in names:
        raise ValueError(f"{a!r} and {b!r} must be classes of the modality head, got {names}")
    ia, ib = names.index(a), names.index(b)
    y = data.labels["modality"]
    pick = (data.test if where is None else where) & ((y == ia) | (y == ib))
    idx = pick.nonzero().flatten()
    if len(idx) == 0:
        raise ValueError(f"no held-out slices of {a!r} or {b!r}")
    logits = net.eval().logits(data.images[idx])["modality"]
    says_a = logits[:, ia] > logits[:, ib]
    return round(float((says_a == (y[idx] == ia)).float().mean()), 4)


def _site_report(net: MedicalFeatureNet, data: FeatureData) -> dict:
    """The unseen-site and T1w-vs-T1ce figures of the card (those the data allow)."""
    out: dict = {}
    names = data.classes.get("modality", [])
    pair = ("brain_t1w", "brain_t1ce")
    if all(p in names for p in pair):
        out["held_out_t1w_vs_t1ce_accuracy"] = pair_accuracy(net, data, *pair)
    if data.site_test is not None and bool(data.site_test.any()):
        matrices = {k: confusion(net, data, k, data.site_test) for k in data.classes}
        out["unseen_site"] = {
            "site": data.site_test_name,
            "n": int(data.site_test.sum()),
            "accuracy": held_out_accuracy(net, data, data.site_test),
            "per_class_accuracy": {
                k: per_class_accuracy(m, data.classes[k]) for k, m in matrices.items()
            },
            "confusion": matrices,
        }
        if all(p in names for p in pair):
            out["unseen_site"]["t1w_vs_t1ce_accuracy"] = pair_accuracy(
                net, data, *pair, where=data.site_test
            )
    return out


def train_and_save(out_dir: Path, *, epochs: int | None = None, seed: int = 0) -> dict:
    """Train, evaluate and write ``feature_net.safetensors`` + ``feature_net.json`` atomically."""
    from safetensors.torch import save as save_safetensors

    start = time.time()
    data = training_data()
    kwargs = {} if epochs is None else {"epochs": epochs}
    net = train_feature_net(data, seed=seed, **kwargs)
    accuracy = held_out_accuracy(net, data)
    out_dir = Path(out_dir)
    weights = out_dir / "feature_net.safetensors"
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    with atomic_write(weights) as fh:
        fh.write(save_safetensors(state))
    matrices = {k: confusion(net, data, k) for k in data.classes}
    card = {
        "sha256": sha256_of(weights),
        "classes": data.classes,
        "held_out_accuracy": accuracy,
        "held_out_per_class_accuracy": {
            k: per_class_accuracy(m, data.classes[k]) for k, m in matrices.items()
        },
        "held_out_confusion": matrices,
        "data": data.description,
        "n_train": int(data.train_mask().sum()),
        "n_held_out": int(data.test.sum()),
        "seed": seed,
        **_site_report(net, data),
        "train_seconds": round(time.time() - start, 1),
        "torch": torch.__version__,
    }
    with atomic_write(out_dir / "feature_net.json", "w") as fh:
        fh.write(json.dumps(card, indent=2) + "\n")
    return card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="train and write the two asset files")
    parser.add_argument("--out", type=Path, default=ASSETS, help="folder for the two asset files")
    parser.add_argument("--epochs", type=int, default=None, help="override the default epochs")
    args = parser.parse_args(argv)
    if not args.train:
        card = load_card()
        print(json.dumps({k: card[k] for k in ("held_out_accuracy", "data", "sha256")}, indent=2))
        return
    card = train_and_save(args.out, epochs=args.epochs)
    print(json.dumps(card["held_out_accuracy"], indent=2))


if __name__ == "__main__":
    main()
