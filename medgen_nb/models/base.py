"""The contract between every model and the one training loop (:func:`medgen_nb.train.fit`).

A model is an ``nn.Module`` that

* builds its optimizers in ``configure_optimizers()`` (a dict, e.g. ``{"g": ..., "d": ...}``);
* takes one optimisation step in ``train_step(batch, optimizers, ctx)`` and returns a dict of
  floats (losses, accuracies) for logging. GAN alternation (D then G) stays inside the step; the
  step calls ``ctx.optimize(loss, optimizer)`` instead of ``loss.backward(); opt.step()`` so that the
  loop can add gradient scaling (fp16 on CUDA) and clipping in one place;
* keeps no training state on ``self`` beyond parameters and registered buffers.

Image tensors going in and out of every public method are in [0, 1] (see
:mod:`medgen_nb.data.intensity`); models map to [-1, 1] internally where their output layer
(tanh) wants it. Inputs are checked on the way in (:mod:`._validate`): an integer dtype, NaN or
values outside [0, 1] (beyond a small tolerance) raise a ``ValueError`` that names the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
from torch import nn

Batch = dict[str, torch.Tensor]
Optimizers = dict[str, torch.optim.Optimizer]


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x * 2.0 - 1.0


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] (clamped)."""
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)


@dataclass
class StepContext:
    """What the loop lends a model's ``train_step``: gradient scaling, clipping, the step number.

    Attributes:
        step: global optimisation step (0-based) of this call.
        grad_clip: max global gradient norm per optimizer, or None.
        scaler: a ``torch.amp.GradScaler`` for fp16 on CUDA, or None.
        grad_norms: filled by :meth:`optimize`, optimizer name -> gradient norm before clipping.
    """

    step: int = 0
    grad_clip: float | None = None
    scaler: torch.amp.GradScaler | None = None
    grad_norms: dict[str, float] = field(default_factory=dict)

    def optimize(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        parameters: Iterable[nn.Parameter] | None = None,
        name: str | None = None,
        retain_graph: bool = False,
    ) -> None:
        """zero_grad -> backward -> (unscale, clip) -> step, for one optimizer."""
        if not torch.isfinite(loss.detach()).all():
            raise FloatingPointError(
                f"loss became {loss.item()} at step {self.step}; lower the learning rate or enable grad_clip"
            )
        params = (
            list(parameters)
            if parameters is not None
            else [p for group in optimizer.param_groups for p in group["params"]]
        )
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward(retain_graph=retain_graph)
            self.scaler.unscale_(optimizer)
        else:
            loss.backward(retain_graph=retain_graph)
        if self.grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
            self.grad_norms[name or str(id(optimizer))] = float(norm)
        if self.scaler is not None:
            self.scaler.step(optimizer)
        else:
            optimizer.step()


class GenerativeModel(nn.Module):
    """Base class: subclasses implement :meth:`configure_optimizers` and :meth:`train_step`.

    ``batch_keys`` names the batch keys ``train_step`` reads; :func:`medgen_nb.train.fit` checks
    every batch for them and says what is missing (none are checked by default).
    """

    batch_keys: tuple[str, ...] = ()

    def configure_optimizers(self) -> Optimizers:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement configure_optimizers()")

    def train_step(
        self, batch: Batch, optimizers: Optimizers, ctx: StepContext
    ) -> dict[str, float]:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} must implement train_step()")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


ModelFactory = Callable[..., GenerativeModel]


@runtime_checkable
class Translator(Protocol):
    """Anything that maps source images to target images: ``(B, C_in, S, S) -> (B, C_out, S, S)``,
    both in [0, 1] (Pix2Pix, CycleGAN, UNIT, a conditional diffusion model, the baselines)."""

    def translate(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Sampler(Protocol):
    """Anything that draws new images: ``sample(n, labels=None, generator=None) -> (n, C, S, S)``
    in [0, 1] (VAEs, GANs, diffusion models)."""

    def sample(
        self,
        n: int,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor: ...
