"""Training recipes of the zoo: steps, batch, learning-rate schedule, EMA, augmentation, seed.

A :class:`Recipe` is plain data (it is stored in the manifest). :class:`RecipeTrainee` wraps a
freshly created model for :func:`medgen_nb.train.fit`: its ``train_step`` sets each optimizer's
learning rate for the step, augments the batch, runs the model's own step and then updates an
exponential moving average (EMA) of one of its sub-networks. Everything is a function of the
step index and the recipe's seed, so one recipe on one CPU gives the same weights every time.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn

from medgen_nb.models.base import Batch, GenerativeModel, Optimizers, StepContext

LRSchedule = Literal["constant", "linear", "cosine"]
LR_SCHEDULES: tuple[str, ...] = ("constant", "linear", "cosine")
Augmentation = Literal["none", "hflip"]
AUGMENTATIONS: tuple[str, ...] = ("none", "hflip")
# Batch keys that are images of the same slice: a flip moves all of them together, so a pair
# stays pixel-for-pixel registered.
SPATIAL_KEYS: tuple[str, ...] = ("image", "target", "mask")


@dataclass(frozen=True)
class Recipe:
    """How a zoo entry is trained.

    Attributes:
        steps: optimisation steps (one batch each).
        batch_size: images per step.
        lr_schedule: ``"constant"``, ``"linear"`` (to 0 at the last step) or ``"cosine"`` (half a
            cosine from the model's own learning rate to 0), after ``warmup_steps`` of linear rise.
        warmup_steps: steps of linear warm-up from 0 (0: none).
        ema_decay: decay d of the weight average theta_ema <- d theta_ema + (1 - d) theta, with
            the usual warm-up min(d, (1 + step) / (10 + step)); None: no EMA.
        ema_module: the sub-network that is averaged and shipped averaged (e.g. ``"generator"``).
        augmentation: ``"none"`` or ``"hflip"`` (left-right mirror of half the batch, the same
            flip for the source, the target and the mask; a mirrored head is a plausible head).
        seed: seeds the initial weights, the batch order and the augmentation.
        precision: of :func:`medgen_nb.train.fit` (``"bf16"`` autocast on CPUs that have it).
    """

    steps: int
    batch_size: int = 16
    lr_schedule: LRSchedule = "cosine"
    warmup_steps: int = 0
    ema_decay: float | None = None
    ema_module: str | None = None
    augmentation: Augmentation = "none"
    seed: int = 0
    precision: str = "auto"

    def __post_init__(self) -> None:
        for name, minimum in (("steps", 1), ("batch_size", 1), ("warmup_steps", 0), ("seed", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
                raise ValueError(f"recipe {name} must be an int >= {minimum}, got {v!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"recipe lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}"
            )
        if self.augmentation not in AUGMENTATIONS:
            raise ValueError(
                f"recipe augmentation must be one of {AUGMENTATIONS}, got {self.augmentation!r}"
            )
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"recipe ema_decay must be in (0, 1) or None, got {self.ema_decay!r}")
        if (self.ema_decay is None) != (self.ema_module is None):
            raise ValueError(
                "recipe ema_decay and ema_module go together: give both (EMA of that module) or "
                f"neither, got ema_decay={self.ema_decay!r}, ema_module={self.ema_module!r}"
            )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown recipe keys {unknown}; a recipe has {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lr_factor(recipe: Recipe, step: int) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based), in [0, 1]."""
    if step < recipe.warmup_steps:
        return (step + 1) / recipe.warmup_steps
    span = max(1, recipe.steps - recipe.warmup_steps)
    t = min(1.0, (step - recipe.warmup_steps) / span)  # 0 at the end of warm-up, 1 at the end
    if recipe.lr_schedule == "linear":
        return 1.0 - t
    if recipe.lr_schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    return 1.0


@torch.no_grad()
def ema_update(average: nn.Module, live: nn.Module, decay: float) -> None:
    """theta_ema <- decay * theta_ema + (1 - decay) * theta; buffers (BatchNorm statistics) copied."""
    for p_ema, p in zip(average.parameters(), live.parameters(), strict=True):
        p_ema.lerp_(p.detach(), 1.0 - decay)
    for b_ema, b in zip(average.buffers(), live.buffers(), strict=True):
        b_ema.copy_(b)


def hflip_half(batch: Batch, generator: torch.Generator) -> Batch:
    """Mirror a random half of the batch left-right; every key in :data:`SPATIAL_KEYS` alike."""
    first = batch["image"]
    flip = torch.rand(len(first), generator=generator) < 0.5  # (B,) on the CPU
    flip = flip.to(first.device)[:, None, None, None]
    return {
        k: torch.where(flip, v.flip(-1), v) if k in SPATIAL_KEYS and torch.is_tensor(v) else v
        for k, v in batch.items()
    }


class RecipeTrainee(nn.Module):
    """``model`` trained under ``recipe``: what :func:`medgen_nb.train.fit` drives.

    ``trainee.model`` is the live model; ``trainee.average`` (if the recipe has an EMA) the
    averaged copy of ``model.<recipe.ema_module>``. :meth:`shipped` returns the model with the
    averaged weights in place, which is what the zoo stores. Not a registered model, so fit runs
    it without checkpoints (a zoo training that is interrupted starts again).
    """

    def __init__(self, model: GenerativeModel, recipe: Recipe) -> None:
        super().__init__()
        self.model, self.recipe = model, recipe
        self.batch_keys = tuple(getattr(model, "batch_keys", ()))
        self.average: nn.Module | None = None
        if recipe.ema_module is not None:
            live = getattr(model, recipe.ema_module, None)
            if not isinstance(live, nn.Module):
                raise ValueError(
                    f"recipe ema_module={recipe.ema_module!r} is not a sub-network of "
                    f"{type(model).__name__}; choose one of {[n for n, _ in model.named_children()]}"
                )
            self.average = copy.deepcopy(live).requires_grad_(False)

    def configure_optimizers(self) -> Optimizers:
        optimizers = self.model.configure_optimizers()
        for opt in optimizers.values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])  # the model's own rate: factor 1
        return optimizers

    def train_step(
        self, batch: Batch, optimizers: Optimizers, ctx: StepContext
    ) -> dict[str, float]:
        factor = lr_factor(self.recipe, ctx.step)
        for opt in optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * factor
        if self.recipe.augmentation == "hflip":
            g = torch.Generator().manual_seed(self.recipe.seed * 1_000_003 + ctx.step)
            batch = hflip_half(batch, g)
        logs = dict(self.model.train_step(batch, optimizers, ctx))
        if self.average is not None:
            decay = min(self.recipe.ema_decay, (1.0 + ctx.step) / (10.0 + ctx.step))
            ema_update(self.average, getattr(self.model, self.recipe.ema_module), decay)
        return logs | {"lr_factor": factor}

    def shipped(self) -> GenerativeModel:
        """The model as the zoo stores it: the EMA sub-network (if any) in place of the live one."""
        out = copy.deepcopy(self.model)
        if self.average is not None:
            getattr(out, self.recipe.ema_module).load_state_dict(self.average.state_dict())
        return out.eval()
