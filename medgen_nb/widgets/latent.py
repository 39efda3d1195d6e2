"""Notebook 02: latent traversal of a trained VAE (review §4.1)."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from medgen_nb.viz import panel
from medgen_nb.widgets.base import Explorer


class LatentTraversal(Explorer):
    """Move one latent coordinate of a VAE and watch the decoded image change.

    A latent traversal fixes a base code ``z`` and sweeps a single coordinate ``z_d`` (review
    §4.1: the smooth latent space of a VAE is what makes it useful for interpolation). Controls:
    ``dim`` (which coordinate), ``value`` (what ``z_d`` is set to, in prior standard deviations),
    ``seed`` (only when no base is given: the base code is a prior draw ``z ~ N(0, I)``) and
    ``label`` (conditional VAEs only). The figure shows the base decoding, the traversed decoding
    and their difference.

    Args:
        vae: a trained :class:`~medgen_nb.models.vae.ConvVAE` (or anything with ``latent_dim``,
            ``conditional``, ``num_classes``, ``encode(x, labels)`` and ``decode(z, labels)``).
        base: ``None`` (prior draw chosen by the ``seed`` control), a latent code ``(D,)`` or
            ``(1, D)``, or an image ``(C, S, S)`` / ``(1, C, S, S)`` in [0, 1] whose posterior mean
            becomes the base code.
        value_range: the ``value`` slider spans ``[-value_range, value_range]``.
        label: initial class for a conditional VAE (ignored by unconditional ones).
        title: defaults to a reminder that the training images were simulated.
    """

    def __init__(
        self,
        vae,
        base: torch.Tensor | None = None,
        *,
        value_range: float = 3.0,
        label: int = 0,
        title: str | None = None,
    ) -> None:
        if not value_range > 0:
            raise ValueError(f"value_range must be > 0, got {value_range!r}")
        self.vae = vae
        self.latent_dim = int(vae.latent_dim)
        self.conditional = bool(getattr(vae, "conditional", False))
        num_classes = int(getattr(vae, "num_classes", 0))
        if self.conditional and not 0 <= label < num_classes:
            raise ValueError(f"label must be in 0..{num_classes - 1}, got {label!r}")
        self.base_code = None if base is None else self._as_code(base, label)
        controls: dict[str, widgets.ValueWidget] = {
            "dim": widgets.IntSlider(value=0, min=0, max=self.latent_dim - 1, description="dim"),
            "value": widgets.FloatSlider(
                value=0.0, min=-value_range, max=value_range, step=0.1, description="z_d"
            ),
        }
        if base is None:
            controls["seed"] = widgets.IntSlider(value=0, min=0, max=99, description="seed")
        if self.conditional:
            controls["label"] = widgets.Dropdown(
                options=list(range(num_classes)), value=label, description="class"
            )
        super().__init__(
            self._render, controls, title or "Latent traversal (VAE trained on simulated slices)"
        )

    def _as_code(self, base: torch.Tensor, label: int) -> torch.Tensor:
        base = torch.as_tensor(base, dtype=torch.float32)
        if base.ndim in (1, 2) and base.numel() == base.shape[-1] == self.latent_dim:
            return base.reshape(-1).detach().cpu()
        if base.ndim not in (3, 4) or (base.ndim == 4 and base.shape[0] != 1):
            raise ValueError(
                f"base must be None, a latent code of shape ({self.latent_dim},) or an image "
                f"(C, S, S) / (1, C, S, S); got shape {tuple(base.shape)}"
            )
        x = base if base.ndim == 4 else base.unsqueeze(0)
        labels = torch.tensor([label]) if self.conditional else None
        with torch.no_grad():
            mu, _ = self.vae.encode(x, labels)  # posterior mean: the VAE's best code for x
        return mu[0].detach().float().cpu()

    def code(self, dim: int, value: float, seed: int | None = None, label: int = 0) -> torch.Tensor:
        """``(D,)`` base code with coordinate ``dim`` replaced by ``value``."""
        if not 0 <= dim < self.latent_dim:
            raise ValueError(f"dim must be in 0..{self.latent_dim - 1}, got {dim!r}")
        z = self.base(seed, label).clone()
        z[dim] = value
        return z

    def base(self, seed: int | None = None, label: int = 0) -> torch.Tensor:
        """``(D,)`` base code: the given one, or the prior draw of ``seed``."""
        if self.base_code is not None:
            return self.base_code
        g = torch.Generator().manual_seed(int(seed or 0))
        return torch.randn(self.latent_dim, generator=g)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, label: int = 0) -> np.ndarray:
        """``(D,)`` code -> decoded ``(S, S)`` image in [0, 1] (first channel)."""
        labels = torch.tensor([label]) if self.conditional else None
        x = self.vae.decode(z[None].to(self.vae.device), labels)  # (1, C, S, S)
        return x[0, 0].float().cpu().numpy()

    def current_image(
        self, dim: int, value: float, seed: int | None = None, label: int = 0
    ) -> np.ndarray:
        """The traversed image ``(S, S)`` in [0, 1] for these control values."""
        return self.decode(self.code(dim, value, seed, label), label)

    def _render(self, dim: int, value: float, seed: int | None = None, label: int = 0) -> Figure:
        z0 = self.base(seed, label)
        before = self.decode(z0, label)
        after = self.current_image(dim, value, seed, label)
        tag = f", class {label}" if self.conditional else ""
        return panel(
            {
                f"base (z_{dim} = {float(z0[dim]):+.2f}){tag}": before,
                f"z_{dim} = {value:+.2f}": after,
                "difference": after - before,
            },
            cmaps={"difference": "RdBu_r"},
            ranges={"difference": (-0.5, 0.5)},
            units={"difference": "[0, 1] units"},
            cell_inches=2.6,
        )


def latent_traversal_explorer(
    vae,
    base: torch.Tensor | None = None,
    *,
    value_range: float = 3.0,
    label: int = 0,
    title: str | None = None,
) -> LatentTraversal:
    """A :class:`LatentTraversal` widget for ``vae`` around ``base`` (see its docstring)."""
    return LatentTraversal(vae, base, value_range=value_range, label=label, title=title)
