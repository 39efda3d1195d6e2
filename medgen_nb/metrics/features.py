"""A small medical feature network: the embedding behind FID/KID/MMD/PR and the classifier behind IS/MS.

Why not Inception-v3: it was trained on colour photographs at 299 x 299, its weights cannot be
downloaded offline here, and its features respond to ImageNet textures rather than to anatomy and
contrast. Review Table 1's metrics only need *some* fixed embedding and *some* classifier; this
network supplies both for grey-scale slices in [0, 1].

Architecture (``(B, 1, H, W)`` in [0, 1], any H, W >= 32): resize to 64 x 64 -> four stride-2
stages of two 3x3 conv + GroupNorm + SiLU (16, 32, 64, 64 channels: 32, 16, 8, 4 px) -> the
embedding is the concatenated spatial means of stages 3 and 4 (``num_features = 128``; two scales,
so it sees fine texture such as noise as well as layout). One linear head per training task.

Shipped weights: ``medgen_nb/assets/feature_net.safetensors`` plus ``feature_net.json`` (its
sha256, heads, class names, held-out accuracy, training data). Retrain with::

    python -m medgen_nb.evaluation.feature_net --train

which writes both files atomically (see :mod:`medgen_nb.evaluation.feature_net`, above data and
metrics because it simulates phantoms): it simulates 8 brain and 6 chest subjects (cached), trains on the axial slices of 3/4 of them to predict the
modality (13 classes) and slice level (4 bins), and reports accuracy on the held-out subjects
(shipped weights: modality 0.61, chance 0.10, the errors being T1w vs T1ce, CT vs CBCT and the
chest CT contrast phases, which differ by a few per cent of the CT window; level 0.87, chance 0.25).
About 4 CPU-minutes on 2 cores.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load as load_safetensors
from torch import nn

ASSETS = Path(__file__).resolve().parent.parent / "assets"
WEIGHTS_PATH = ASSETS / "feature_net.safetensors"
CARD_PATH = ASSETS / "feature_net.json"
INPUT_SIZE = 64  # every image is resized to this side before the convolutions
MIN_SIZE = 32
WIDTHS: tuple[int, ...] = (16, 32, 64, 64)


def _stage(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=2, padding=1),
        nn.GroupNorm(8, c_out),
        nn.SiLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.GroupNorm(8, c_out),
        nn.SiLU(),
    )


class MedicalFeatureNet(nn.Module):
    """CNN embedding of grey-scale slices with one classification head per task.

    Args:
        heads: task name -> number of classes, e.g. ``{"modality": 8, "level": 5}``.
    Attributes:
        num_features: embedding size (128); torchmetrics' FID/KID accept this module as ``feature``.
    """

    def __init__(self, heads: dict[str, int]) -> None:
        super().__init__()
        if not heads or any(not isinstance(k, int) or k < 2 for k in heads.values()):
            raise ValueError(f"heads must map task names to class counts >= 2, got {heads!r}")
        chans = (1, *WIDTHS)
        self.stages = nn.ModuleList(
            _stage(a, b) for a, b in zip(chans[:-1], chans[1:], strict=True)
        )
        self.num_features = WIDTHS[2] + WIDTHS[3]
        self.heads = nn.ModuleDict({k: nn.Linear(self.num_features, n) for k, n in heads.items()})

    @staticmethod
    def prepare(x: torch.Tensor) -> torch.Tensor:
        """Check ``(B, 1, H, W)`` in [0, 1] and resize to 64 x 64, mapped to [-1, 1]."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 1:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"images must be a (B, 1, H, W) tensor, got {shape}")
        if min(x.shape[-2:]) < MIN_SIZE:
            raise ValueError(
                f"images must be at least {MIN_SIZE} px per side, got {tuple(x.shape[-2:])}"
            )
        if not torch.isfinite(x).all():
            raise ValueError("images contain NaN or infinite values")
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(f"images must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]")
        x = x.float()
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            big = min(x.shape[-2:]) > INPUT_SIZE
            x = F.interpolate(x, (INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=big)
        return x * 2 - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)`` in [0, 1] -> embedding ``(B, num_features)``."""
        h = self.prepare(x)
        pooled = []
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if i >= 2:
                pooled.append(h.mean((2, 3)))
        return torch.cat(pooled, 1)

    def logits(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Task name -> ``(B, K)`` logits."""
        z = self(x)
        return {k: head(z) for k, head in self.heads.items()}

    def class_probs(self, x: torch.Tensor, head: str | None = None) -> torch.Tensor:
        """p(y|x) of one head (default: the first), ``(B, K)``; IS / MS use :data:`SCORE_HEAD`."""
        head = next(iter(self.heads)) if head is None else head
        if head not in self.heads:
            raise ValueError(f"head must be one of {tuple(self.heads)}, got {head!r}")
        return torch.softmax(self.heads[head](self(x)).double(), 1)  # float64: rows sum to 1


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_card(card_path: Path = CARD_PATH) -> dict:
    """The model card: sha256, heads, class names, held-out accuracy, data and training settings."""
    if not Path(card_path).is_file():
        raise FileNotFoundError(
            f"{card_path} is missing; train the feature network with "
            "`python -m medgen_nb.evaluation.feature_net --train`"
        )
    return json.loads(Path(card_path).read_text())


def load_feature_net(
    weights_path: Path = WEIGHTS_PATH, card_path: Path = CARD_PATH
) -> MedicalFeatureNet:
    """Load the shipped network in eval mode after checking the weights' sha256 against the card."""
    card = load_card(card_path)
    data = Path(weights_path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != card["sha256"]:
        raise ValueError(
            f"{weights_path} has sha256 {digest}, but {card_path} expects {card['sha256']}: the "
            "weights are corrupt or stale; retrain with `python -m medgen_nb.evaluation.feature_net --train`"
        )
    net = MedicalFeatureNet({k: len(v) for k, v in card["classes"].items()})
    net.load_state_dict(load_safetensors(data))
    return net.eval()


@functools.lru_cache(maxsize=1)
def default_feature_net() -> MedicalFeatureNet:
    """The shipped network, loaded once per process (do not modify it in place)."""
    return load_feature_net()


@torch.no_grad()
def extract_features(
    images: torch.Tensor, net: MedicalFeatureNet | None = None, *, batch_size: int = 256
) -> torch.Tensor:
    """Embed ``(N, 1, H, W)`` images in [0, 1] -> ``(N, 128)`` float64 features, in batches."""
    net = default_feature_net() if net is None else net
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    out = [
        net(images[i : i + batch_size].to(device)).double().cpu()
        for i in range(0, len(images), batch_size)
    ]
    net.train(was_training)
    if not out:
        raise ValueError("images is empty")
    return torch.cat(out)


# The head behind the inception and mode scores. Not "modality": a generator of one modality (what
# every course model is) gets one confident modality class for every sample, so p(y|x) = p(y) and
# IS = 1 whatever its quality. Slice level varies within a modality and is the head IS can read.
SCORE_HEAD = "level"


@torch.no_grad()
def class_probabilities(
    images: torch.Tensor,
    net: MedicalFeatureNet | None = None,
    *,
    head: str = SCORE_HEAD,
    batch_size: int = 256,
) -> torch.Tensor:
    """``(N, 1, H, W)`` in [0, 1] -> ``(N, K)`` p(y|x) of ``head``, for IS and MS.

    ``head`` defaults to :data:`SCORE_HEAD` (the slice level, 4 bins in the shipped network); pass
    ``head="modality"`` for the modality probabilities (e.g. to separate CT from CBCT).
    """
    net = default_feature_net() if net is None else net
    device = next(net.parameters()).device
    net.eval()
    out = [
        net.class_probs(images[i : i + batch_size].to(device), head).double().cpu()
        for i in range(0, len(images), batch_size)
    ]
    if not out:
        raise ValueError("images is empty")
    return torch.cat(out)
