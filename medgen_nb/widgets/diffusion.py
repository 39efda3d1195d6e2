"""Notebook 05: diffusion explorers (review §4.3 forward/reverse processes; §7.1.2 steps vs quality).

Each keeps what it last showed (``last_*`` attributes) so tests and learners can check the
picture against the package functions.
"""

from __future__ import annotations

import time

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from medgen_nb.viz import panel
from medgen_nb.widgets.base import (
    Explorer,
    SampleGridExplorer,
    check_class_names,
    check_count,
    class_dropdown,
    seeded,
)


class ForwardProcessExplorer(Explorer):
    """A t slider over q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) for one image.

    The noise eps ``(1, C, H, W)`` is drawn once (seeded), so moving t shows one trajectory:
    ``last_noisy == schedule.add_noise(2 * image - 1, self.noise, t)`` in model space [-1, 1].
    The status line reads out the signal and noise coefficients of the current t.
    """

    def __init__(self, schedule, image, seed: int = 0, t: int | None = None) -> None:
        img = torch.as_tensor(image, dtype=torch.float32)
        if img.ndim == 2:
            img = img[None]
        if img.ndim != 3 or float(img.min()) < 0.0 or float(img.max()) > 1.0:
            raise ValueError(
                f"image must be (C, H, W) or (H, W) in [0, 1], got shape {tuple(img.shape)} "
                f"with range [{float(img.min()):.3g}, {float(img.max()):.3g}]"
            )
        self.schedule = schedule
        self.x0 = img[None] * 2.0 - 1.0  # (1, C, H, W) in [-1, 1], the model space of x_0
        self.noise = torch.randn(self.x0.shape, generator=seeded(seed))  # eps ~ N(0, I), fixed
        self.last_noisy = self.x0
        T = schedule.timesteps
        slider = widgets.IntSlider(
            value=T // 4 if t is None else t, min=0, max=T - 1, description="t",
            continuous_update=False,
        )  # fmt: skip
        super().__init__(self._render, {"t": slider}, "Forward process q(x_t | x_0)")

    def _render(self, t: int) -> Figure:
        x_t = self.schedule.add_noise(self.x0, self.noise, t)  # (1, C, H, W)
        self.last_noisy = x_t
        sqrt_ab = float(self.schedule.sqrt_alphas_cumprod[t])
        sqrt_1m = float(self.schedule.sqrt_one_minus_alphas_cumprod[t])
        self.readout = (
            f"t = {t}: sqrt(alpha_bar_t) = {sqrt_ab:.4f} (signal), "
            f"sqrt(1 - alpha_bar_t) = {sqrt_1m:.4f} (noise), SNR = {sqrt_ab**2 / sqrt_1m**2:.3g}"
        )
        return panel(
            {
                "x_0 (simulated)": self.x0[0, 0],
                f"x_t, t = {t}": x_t[0, 0],
                "noise eps": self.noise[0, 0],
            },
            suptitle=f"sqrt(alpha_bar_t) = {sqrt_ab:.3f}, sqrt(1 - alpha_bar_t) = {sqrt_1m:.3f}",
            ranges={
                "x_0 (simulated)": (-1.0, 1.0),
                f"x_t, t = {t}": (-2.5, 2.5),
                "noise eps": (-2.5, 2.5),
            },
            units={f"x_t, t = {t}": "model space [-1, 1] + noise"},
            cell_inches=2.4,
        )


def forward_process_explorer(
    schedule, image, seed: int = 0, t: int | None = None
) -> ForwardProcessExplorer:
    """t slider -> x_t of ``image`` ``(C, H, W)`` in [0, 1] under ``schedule`` (a NoiseSchedule)."""
    return ForwardProcessExplorer(schedule, image, seed, t)


class DDIMStepsExplorer(SampleGridExplorer):
    """Steps slider (and eta, seed) -> a grid of DDIM samples and the wall time it took.

    ``last_samples`` ``(n, C, S, S)`` in [0, 1] and ``last_seconds`` hold the latest draw. With a
    class-conditional model the samples are unconditional (null class).
    """

    def __init__(
        self,
        model,
        steps_options: tuple[int, ...] = (5, 10, 25, 50),
        n: int = 8,
        seed: int = 0,
        eta: float = 0.0,
    ) -> None:
        T = model.schedule.timesteps
        bad = [s for s in steps_options if not isinstance(s, int) or not 1 <= s <= T]
        if not steps_options or bad:
            raise ValueError(
                f"steps_options must be ints in [1, timesteps={T}], got {steps_options!r}"
            )
        self.model, self.n = model, check_count("n", n)
        self.last_seconds = float("nan")
        options = sorted(set(steps_options))
        controls = {
            "steps": widgets.SelectionSlider(
                options=options, value=options[len(options) // 2], description="DDIM steps",
                continuous_update=False,
            ),
            "eta": widgets.FloatSlider(
                value=eta, min=0.0, max=1.0, step=0.1, description="eta", continuous_update=False
            ),
            "seed": widgets.IntText(value=seed, description="seed"),
        }  # fmt: skip
        super().__init__(self._render, controls, "DDIM: fewer steps, faster sampling")

    def _render(self, steps: int, eta: float, seed: int) -> Figure:
        g = seeded(seed, self.model.device)
        start = time.perf_counter()
        samples = self.model.sample(
            self.n, sampler="ddim", steps=steps, eta=float(eta), generator=g
        )
        self.last_seconds = time.perf_counter() - start
        return self.show_samples(
            samples,
            f"DDIM {steps} steps, eta = {eta:.1f}: {self.last_seconds:.2f} s "
            f"for {self.n} images (samples of a model trained on simulated slices)",
        )


def ddim_steps_explorer(
    model,
    steps_options: tuple[int, ...] = (5, 10, 25, 50),
    n: int = 8,
    seed: int = 0,
    eta: float = 0.0,
) -> DDIMStepsExplorer:
    """Steps / eta / seed controls -> DDIM samples of ``model`` (a DiffusionModel) and their time."""
    return DDIMStepsExplorer(model, steps_options, n, seed, eta)


class GuidanceExplorer(SampleGridExplorer):
    """Class, guidance scale and seed -> class-conditional samples with classifier-free guidance.

    Scale s: 0 = unconditional, 1 = plain conditional, > 1 pushes towards the class (Ho & Salimans
    2022). The same seed gives the same x_T for every setting, so only s and the class change.
    ``last_samples`` ``(n, C, S, S)`` in [0, 1] holds the latest draw.
    """

    def __init__(
        self,
        model,
        class_names: tuple[str, ...] | list[str],
        n: int = 8,
        steps: int = 25,
        seed: int = 0,
        max_scale: float = 5.0,
    ) -> None:
        k = model.config["num_classes"]
        if k < 1:
            raise ValueError("guidance_explorer needs a model built with num_classes > 0")
        self.class_names = check_class_names(class_names, k)
        self.model, self.n, self.steps = model, check_count("n", n), steps
        controls = {
            "label": class_dropdown(self.class_names, value=k - 1),
            "scale": widgets.FloatSlider(
                value=2.0, min=0.0, max=max_scale, step=0.5, description="guidance s",
                continuous_update=False,
            ),
            "seed": widgets.IntText(value=seed, description="seed"),
        }  # fmt: skip
        super().__init__(self._render, controls, "Classifier-free guidance")

    def _render(self, label: int, scale: float, seed: int) -> Figure:
        labels = torch.full((self.n,), int(label), dtype=torch.long)
        samples = self.model.sample(
            self.n, labels=labels, sampler="ddim", steps=self.steps, guidance_scale=float(scale),
            generator=seeded(seed, self.model.device),
        )  # fmt: skip
        return self.show_samples(
            samples,
            f"class '{self.class_names[label]}', guidance s = {scale:.1f}, "
            f"DDIM {self.steps} steps (model trained on simulated slices)",
        )


def guidance_explorer(
    model,
    class_names: tuple[str, ...] | list[str],
    n: int = 8,
    steps: int = 25,
    seed: int = 0,
    max_scale: float = 5.0,
) -> GuidanceExplorer:
    """Class / guidance scale / seed -> classifier-free-guided DDIM samples of ``model``."""
    return GuidanceExplorer(model, class_names, n, steps, seed, max_scale)
