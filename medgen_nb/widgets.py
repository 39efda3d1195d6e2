"""Interactive explorers built with ipywidgets.

Every explorer is an :class:`Explorer`: a set of named controls and a render function that turns
the controls' values into a matplotlib figure, shown as a PNG in an ``ipywidgets.Image``. Changing a
control re-renders. The same objects work without a browser: set ``explorer.controls["x"].value``
and read ``explorer.image.value`` (PNG bytes) or the explorer's own state, which is how the tests
drive them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from medgen_nb.data.intensity import IntensityMap
from medgen_nb.viz import figure_to_png, image_grid, panel

_PLANE_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}


class Explorer:
    """Controls plus a render function ``render(**values) -> Figure``.

    Args:
        render: called with each control's current value as a keyword argument.
        controls: name -> ipywidgets control (anything with a ``value`` trait).
        title: shown above the controls.
    """

    def __init__(
        self,
        render: Callable[..., Figure],
        controls: Mapping[str, widgets.ValueWidget],
        title: str | None = None,
    ) -> None:
        self.render = render
        self.controls = dict(controls)
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML()
        self.title = title
        self.renders = 0
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.update()

    def values(self) -> dict[str, object]:
        """Current value of every control."""
        return {name: control.value for name, control in self.controls.items()}

    def update(self) -> None:
        """Re-render with the current control values; an error is shown, not raised, so the UI survives."""
        try:
            fig = self.render(**self.values())
        except ValueError as exc:
            self.status.value = f"<span style='color:#b00'>{exc}</span>"
            return
        self.status.value = ""
        self.image.value = figure_to_png(fig)
        self.renders += 1

    def _on_change(self, _change: dict) -> None:
        self.update()

    @property
    def widget(self) -> widgets.VBox:
        """The assembled UI: title, controls, status line and image."""
        children: list[widgets.Widget] = []
        if self.title:
            children.append(widgets.HTML(f"<b>{self.title}</b>"))
        children += [
            widgets.HBox(list(self.controls.values()), layout=widgets.Layout(flex_flow="row wrap")),
            self.status,
            self.image,
        ]
        return widgets.VBox(children)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


class SliceViewer(Explorer):
    """Browse co-registered volumes: modality, plane, slice, and window/level in physical units.

    Args:
        volumes: modality -> ``(X, Y, Z)`` array in [0, 1] (RAS order), e.g. ``Subject.images``.
        intensity: modality -> :class:`IntensityMap`, so window and level are shown in HU, SUV...
        title: defaults to a reminder that phantom data are simulated.
    """

    def __init__(
        self,
        volumes: Mapping[str, np.ndarray],
        intensity: Mapping[str, IntensityMap] | None = None,
        title: str | None = None,
    ) -> None:
        if not volumes:
            raise ValueError("SliceViewer needs at least one volume")
        shapes = {k: v.shape for k, v in volumes.items()}
        if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 3:
            raise ValueError(f"volumes must be 3-D and share one grid, got {shapes}")
        self.volumes = dict(volumes)
        self.intensity = dict(intensity or {})
        first = next(iter(self.volumes))
        controls = {
            "modality": widgets.Dropdown(
                options=list(self.volumes), value=first, description="modality"
            ),
            "plane": widgets.ToggleButtons(
                options=list(_PLANE_AXIS), value="axial", description="plane"
            ),
            "index": widgets.IntSlider(
                value=self.volumes[first].shape[2] // 2,
                min=0,
                max=self.volumes[first].shape[2] - 1,
                description="slice",
            ),
            "window": widgets.FloatSlider(
                value=1.0, min=0.01, max=1.0, step=0.01, description="window", readout_format=".2f"
            ),
            "level": widgets.FloatSlider(
                value=0.5, min=0.0, max=1.0, step=0.01, description="level", readout_format=".2f"
            ),
        }
        controls["plane"].observe(self._on_plane, names="value")
        super().__init__(
            self._render, controls, title or "Slice viewer (phantom images are simulated)"
        )

    def _on_plane(self, change: dict) -> None:
        n = self.volumes[self.controls["modality"].value].shape[_PLANE_AXIS[change["new"]]]
        slider = self.controls["index"]
        slider.max = n - 1
        slider.value = min(slider.value, n - 1)

    def current_image(
        self, modality: str, plane: str, index: int, window: float, level: float
    ) -> np.ndarray:
        """The displayed 2-D image in [0, 1] after windowing (window/level in [0, 1] units)."""
        vol = self.volumes[modality]
        axis = _PLANE_AXIS[plane]
        if not 0 <= index < vol.shape[axis]:
            raise ValueError(
                f"slice index {index} out of range 0..{vol.shape[axis] - 1} for plane {plane!r}"
            )
        img = np.rot90(np.take(vol, index, axis=axis))
        lo, hi = level - window / 2, level + window / 2
        return np.clip((img - lo) / max(hi - lo, 1e-6), 0.0, 1.0)

    def _physical(self, modality: str, value: float) -> str:
        imap = self.intensity.get(modality)
        return f"{value:.2f}" if imap is None else f"{float(imap.inverse(value)):.0f} {imap.unit}"

    def _render(self, modality: str, plane: str, index: int, window: float, level: float) -> Figure:
        img = self.current_image(modality, plane, index, window, level)
        lo, hi = (
            self._physical(modality, level - window / 2),
            self._physical(modality, level + window / 2),
        )
        return panel({f"{modality}, {plane} {index}\nwindow {lo} to {hi}": img}, cell_inches=3.2)


# --- notebook 02 ---


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


# --- notebook 03 ---
# Samplers for trained GANs (review §4.2, Fig. 5 b and d): a class-conditional sampler (cGAN,
# ACGAN) and InfoGAN's latent-code sliders. Both draw z from a CPU generator seeded by the seed
# slider, so the displayed batch is exactly ``model.sample(...)`` with that seed.


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


class ClassSampler(Explorer):
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
        if len(class_names) != num_classes:
            raise ValueError(
                f"class_names must name all {num_classes} classes of the model, got {list(class_names)}"
            )
        if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
            raise ValueError(f"max_samples must be an int >= 1, got {max_samples!r}")
        self.model, self.class_names, self.ncols = model, list(class_names), ncols
        self.samples: torch.Tensor | None = None
        controls = {
            "label": widgets.Dropdown(
                options=[(name, k) for k, name in enumerate(self.class_names)],
                value=0,
                description="class",
            ),
            "seed": widgets.IntSlider(value=0, min=0, max=99, description="seed"),
            "n": widgets.IntSlider(
                value=min(8, max_samples), min=1, max=max_samples, description="samples"
            ),
        }
        super().__init__(
            self._render, controls, title or f"{type(model).__name__}: samples of one class"
        )

    def _render(self, label: int, seed: int, n: int) -> Figure:
        labels = torch.full((n,), int(label), dtype=torch.long)
        self.samples = self.model.sample(n, labels=labels, generator=_seeded(seed)).cpu()
        return image_grid(
            self.samples,
            ncols=self.ncols,
            suptitle=f"simulated-data GAN samples, class '{self.class_names[label]}' "
            f"(seed {seed}; intensities in [0, 1])",
        )


def class_sampler_explorer(
    model, class_names: Sequence[str], *, max_samples: int = 16, ncols: int = 8
) -> ClassSampler:
    """Explorer for a trained cGAN/ACGAN: pick a class, a seed and how many samples to draw."""
    return ClassSampler(model, class_names, max_samples=max_samples, ncols=ncols)


class InfoGANCodeExplorer(Explorer):
    """Categorical-code dropdown, one slider per continuous code, and a seed, for a trained InfoGAN.

    Shows ``n`` samples (``n`` noise vectors z from the seed) that all share the chosen codes, so
    moving a slider shows what that code controls. ``self.samples`` is the displayed batch
    ``(n, C, S, S)`` in [0, 1], equal to ``model.sample(n, codes=..., generator=seeded)``.
    The sliders span [-2, 2], twice the U(-1, 1) prior, to show extrapolation as well.
    """

    def __init__(self, model, *, n: int = 8, ncols: int = 8, title: str | None = None) -> None:
        if not hasattr(model, "categorical_dim") or not hasattr(model, "continuous_dim"):
            raise ValueError(f"model must be an InfoGAN ('infogan'), got {type(model).__name__}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        self.model, self.n, self.ncols = model, n, ncols
        self.samples: torch.Tensor | None = None
        controls: dict[str, widgets.ValueWidget] = {
            "categorical": widgets.Dropdown(
                options=list(range(model.categorical_dim)), value=0, description="c_cat"
            )
        }
        for k in range(model.continuous_dim):
            controls[f"continuous_{k}"] = widgets.FloatSlider(
                value=0.0, min=-2.0, max=2.0, step=0.1, description=f"c_cont {k}"
            )
        controls["seed"] = widgets.IntSlider(value=0, min=0, max=99, description="seed")
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
        self.samples = self.model.sample(self.n, codes=codes, generator=_seeded(seed)).cpu()
        cont = ", ".join(f"{v:+.1f}" for v in codes["continuous"][0].tolist())
        return image_grid(
            self.samples,
            ncols=self.ncols,
            suptitle=f"simulated-data InfoGAN samples: c_cat = {categorical}, c_cont = ({cont}) "
            f"(seed {seed}; intensities in [0, 1])",
        )


def infogan_code_explorer(model, *, n: int = 8, ncols: int = 8) -> InfoGANCodeExplorer:
    """Explorer for a trained InfoGAN: categorical code, continuous-code sliders and seed."""
    return InfoGANCodeExplorer(model, n=n, ncols=ncols)


# --- notebook 05 ---
# Diffusion explorers (Pang et al. 2025 §4.3: the forward/reverse processes; §7.1.2: sampling
# steps vs quality). Each keeps what it last showed (``last_*`` attributes) so tests and learners
# can check the picture against the package functions.


class ForwardProcessExplorer(Explorer):
    """A t slider over q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) for one image.

    The noise eps ``(1, C, H, W)`` is drawn once (seeded), so moving t shows one trajectory:
    ``last_noisy == schedule.add_noise(2 * image - 1, self.noise, t)`` in model space [-1, 1].
    """

    def __init__(self, schedule, image, seed: int = 0, t: int | None = None) -> None:
        import torch

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
        g = torch.Generator().manual_seed(seed)
        self.noise = torch.randn(self.x0.shape, generator=g)  # eps ~ N(0, I), fixed
        self.last_noisy = self.x0
        self.readout = ""
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

    def update(self) -> None:
        super().update()  # clears the status line on success; show the readout there instead
        if not self.status.value:
            self.status.value = self.readout


def forward_process_explorer(
    schedule, image, seed: int = 0, t: int | None = None
) -> ForwardProcessExplorer:
    """t slider -> x_t of ``image`` ``(C, H, W)`` in [0, 1] under ``schedule`` (a NoiseSchedule)."""
    return ForwardProcessExplorer(schedule, image, seed, t)


class DDIMStepsExplorer(Explorer):
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
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        self.model, self.n = model, n
        self.last_samples = None
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
        import time

        import torch

        g = torch.Generator(device=self.model.device).manual_seed(int(seed))
        start = time.perf_counter()
        self.last_samples = self.model.sample(
            self.n, sampler="ddim", steps=steps, eta=float(eta), generator=g
        )
        self.last_seconds = time.perf_counter() - start
        from medgen_nb.viz import image_grid

        return image_grid(
            self.last_samples,
            ncols=min(self.n, 8),
            suptitle=f"DDIM {steps} steps, eta = {eta:.1f}: {self.last_seconds:.2f} s "
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


class GuidanceExplorer(Explorer):
    """Class, guidance scale and seed -> class-conditional samples with classifier-free guidance.

    Scale s: 0 = unconditional, 1 = plain conditional, > 1 pushes towards the class (Ho & Salimans
    2022). The same seed gives the same x_T for every setting, so only s and the class change.
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
        if len(class_names) != k:
            raise ValueError(
                f"class_names must name the model's {k} classes, got {list(class_names)}"
            )
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        self.model, self.n, self.steps = model, n, steps
        self.class_names = list(class_names)
        self.last_samples = None
        controls = {
            "label": widgets.Dropdown(
                options=[(name, i) for i, name in enumerate(self.class_names)], value=k - 1,
                description="class",
            ),
            "scale": widgets.FloatSlider(
                value=2.0, min=0.0, max=max_scale, step=0.5, description="guidance s",
                continuous_update=False,
            ),
            "seed": widgets.IntText(value=seed, description="seed"),
        }  # fmt: skip
        super().__init__(self._render, controls, "Classifier-free guidance")

    def _render(self, label: int, scale: float, seed: int) -> Figure:
        import torch

        from medgen_nb.viz import image_grid

        g = torch.Generator(device=self.model.device).manual_seed(int(seed))
        labels = torch.full((self.n,), int(label), dtype=torch.long)
        self.last_samples = self.model.sample(
            self.n, labels=labels, sampler="ddim", steps=self.steps, guidance_scale=float(scale),
            generator=g,
        )  # fmt: skip
        return image_grid(
            self.last_samples,
            ncols=min(self.n, 8),
            suptitle=f"class '{self.class_names[label]}', guidance s = {scale:.1f}, "
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


# --- notebook 04 ---


class TranslationExplorer(Explorer):
    """Compare translation models slice by slice: source, prediction, target and error map.

    Args:
        models: name -> trained model (or baseline) with ``translate((B, C, S, S)) -> (B, 1, S, S)``,
            all in [0, 1]; each is put in eval mode.
        dataset: paired items with ``"image"`` ``(C, S, S)`` and ``"target"`` ``(1, S, S)`` in [0, 1],
            e.g. a test :class:`~medgen_nb.data.slices.SliceDataset`.
        names: display names of source and target contrast, e.g. ``("T1w", "T2w")``.
        title: defaults to a reminder that the phantom images are simulated.

    Controls: ``model`` (dropdown) and ``index`` (slice slider). The figure's title carries the
    slice's PSNR (dB) and SSIM over the whole slice, with ``data_range=1``.
    """

    def __init__(
        self,
        models: Mapping[str, object],
        dataset,
        names: tuple[str, str] = ("source", "target"),
        title: str | None = None,
    ) -> None:
        if not models:
            raise ValueError("models must name at least one model, got an empty mapping")
        if len(dataset) == 0:
            raise ValueError("dataset is empty; pass a split with at least one slice")
        if "target" not in dataset[0]:
            raise ValueError("dataset items need a 'target' (build it with target=...)")
        self.models = dict(models)
        for model in self.models.values():
            model.eval()
        self.dataset, self.names = dataset, names
        controls = {
            "model": widgets.Dropdown(
                options=list(self.models), value=next(iter(self.models)), description="model"
            ),
            "index": widgets.IntSlider(value=0, min=0, max=len(dataset) - 1, description="slice"),
        }
        super().__init__(
            self._render,
            controls,
            title or "Translate a simulated slice (phantom images are simulated)",
        )

    def prediction(self, model: str, index: int):
        """``(source, prediction, target)``, each ``(1, C, S, S)`` in [0, 1], for one slice."""
        import torch

        if model not in self.models:
            raise ValueError(f"model must be one of {list(self.models)}, got {model!r}")
        if not 0 <= index < len(self.dataset):
            raise ValueError(f"slice index {index} out of range 0..{len(self.dataset) - 1}")
        item = self.dataset[index]
        net = self.models[model]
        device = next(iter(net.parameters())).device if hasattr(net, "parameters") else "cpu"
        with torch.no_grad():
            pred = net.translate(item["image"][None].to(device)).cpu()
        return item["image"][None], pred, item["target"][None]

    def _render(self, model: str, index: int) -> Figure:
        from medgen_nb.metrics.translation import psnr, ssim
        from medgen_nb.viz import translation_comparison

        source, pred, target = self.prediction(model, index)
        p = float(psnr(pred, target, data_range=1.0))
        s = float(ssim(pred, target, data_range=1.0))
        return translation_comparison(
            source,
            pred,
            target,
            names=self.names,
            suptitle=f"{model}, simulated test slice {index}: PSNR {p:.2f} dB, SSIM {s:.3f}",
        )


def translate_explorer(
    models: Mapping[str, object],
    dataset,
    names: tuple[str, str] = ("source", "target"),
    title: str | None = None,
) -> TranslationExplorer:
    """A :class:`TranslationExplorer` (model dropdown, slice slider) over ``dataset``."""
    return TranslationExplorer(models, dataset, names, title)
