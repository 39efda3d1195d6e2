"""Notebook 03: samplers for trained GANs (review §4.2, Fig. 5 b and d).

A class-conditional sampler (cGAN, ACGAN) and InfoGAN's latent-code sliders. Both draw z from a
CPU generator seeded by the seed slider, so the displayed batch is exactly ``model.sample(...)``
with that seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from medgen_nb.models.gan_info import InfoGAN
from medgen_nb.widgets.base import (
    SampleGridExplorer,
    check_class_names,
    check_count,
    class_dropdown,
    seeded,
)


def _seed_slider() -> widgets.IntSlider:
    return widgets.IntSlider(value=0, min=0, max=99, description="seed")


class ClassSampler(SampleGridExplorer):
    """Class dropdown, seed slider and sample count for a class-conditional GAN.

    ``self.samples`` holds the displayed batch ``(n, C, S, S)`` in [0, 1]: it equals
    ``model.sample(n, labels=torch.full((n,), label), generator=torch.Generator().manual_seed(seed))``.
    """

    def __init__(
        self,
        model,
        class_names: Sequence[str],
        *,
        max_samples: int = 16,
        ncols: int = 8,
        title: str | None = None,
    ) -> None:
        num_classes = getattr(model, "num_classes", 0)
        if not getattr(model, "conditional", False) or not num_classes:
            raise ValueError(
                f"model must be a class-conditional GAN ('cgan' or 'acgan'), got {type(model).__name__}"
            )
        self.class_names = check_class_names(class_names, num_classes)
        check_count("max_samples", max_samples)
        self.model, self.ncols = model, ncols
        controls = {
            "label": class_dropdown(self.class_names),
            "seed": _seed_slider(),
            "n": widgets.IntSlider(
                value=min(8, max_samples), min=1, max=max_samples, description="samples"
            ),
        }
        super().__init__(
            self._render, controls, title or f"{type(model).__name__}: samples of one class"
        )

    def _render(self, label: int, seed: int, n: int) -> Figure:
        labels = torch.full((n,), int(label), dtype=torch.long)
        return self.show_samples(
            self.model.sample(n, labels=labels, generator=seeded(seed)),
            f"simulated-data GAN samples, class '{self.class_names[label]}' "
            f"(seed {seed}; intensities in [0, 1])",
        )


def class_sampler_explorer(
    model, class_names: Sequence[str], *, max_samples: int = 16, ncols: int = 8
) -> ClassSampler:
    """Explorer for a trained cGAN/ACGAN: pick a class, a seed and how many samples to draw."""
    return ClassSampler(model, class_names, max_samples=max_samples, ncols=ncols)


class InfoGANCodeExplorer(SampleGridExplorer):
    """Categorical-code dropdown, one slider per continuous code, and a seed, for a trained InfoGAN.

    Shows ``n`` samples (``n`` noise vectors z from the seed) that all share the chosen codes, so
    moving a slider shows what that code controls. ``self.samples`` is the displayed batch
    ``(n, C, S, S)`` in [0, 1], equal to ``model.sample(n, codes=..., generator=seeded)``.
    The sliders span [-2, 2], twice the U(-1, 1) prior, to show extrapolation as well.
    """

    def __init__(self, model, *, n: int = 8, ncols: int = 8, title: str | None = None) -> None:
        if not isinstance(model, InfoGAN):
            raise ValueError(f"model must be an InfoGAN ('infogan'), got {type(model).__name__}")
        self.model, self.n, self.ncols = model, check_count("n", n), ncols
        controls: dict[str, widgets.ValueWidget] = {
            "categorical": widgets.Dropdown(
                options=list(range(model.categorical_dim)), value=0, description="c_cat"
            )
        }
        for k in range(model.continuous_dim):
            controls[f"continuous_{k}"] = widgets.FloatSlider(
                value=0.0, min=-2.0, max=2.0, step=0.1, description=f"c_cont {k}"
            )
        controls["seed"] = _seed_slider()
        super().__init__(self._render, controls, title or "InfoGAN: what each latent code controls")

    def codes(self, categorical: int, **continuous: float) -> dict[str, torch.Tensor]:
        """The ``codes`` dict passed to ``model.sample`` for the current control values."""
        values = [float(continuous[f"continuous_{k}"]) for k in range(self.model.continuous_dim)]
        return {
            "categorical": torch.full((self.n,), int(categorical), dtype=torch.long),
            "continuous": torch.tensor([values] * self.n, dtype=torch.float32),
        }

    def _render(self, categorical: int, seed: int, **continuous: float) -> Figure:
        codes = self.codes(categorical, **continuous)
        cont = ", ".join(f"{v:+.1f}" for v in codes["continuous"][0].tolist())
        return self.show_samples(
            self.model.sample(self.n, codes=codes, generator=seeded(seed)),
            f"simulated-data InfoGAN samples: c_cat = {categorical}, c_cont = ({cont}) "
            f"(seed {seed}; intensities in [0, 1])",
        )


def infogan_code_explorer(model, *, n: int = 8, ncols: int = 8) -> InfoGANCodeExplorer:
    """Explorer for a trained InfoGAN: categorical code, continuous-code sliders and seed."""
    return InfoGANCodeExplorer(model, n=n, ncols=ncols)
