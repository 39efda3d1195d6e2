"""The explorer base class, the slice viewer and the scaffolding every notebook's explorer shares.

Shared scaffolding lives here so the per-notebook modules hold only what differs: seeded
generators, count and class-name checks, the class dropdown, and :class:`SampleGridExplorer` for
explorers whose figure is a grid of model samples. An explorer sets ``self.readout`` in its render
function to show a line of numbers under the controls.
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
        self.readout = ""  # HTML shown in the status line after a successful render
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
        self.status.value = self.readout
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


# --- shared by the sampler explorers (notebooks 03 and 05) ---


def seeded(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh generator on ``device`` seeded with ``seed``: the same seed redraws the same batch."""
    return torch.Generator(device=device).manual_seed(int(seed))


def check_count(name: str, value: object) -> int:
    """``value`` as a positive int, else a ValueError naming ``name`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def check_class_names(class_names: Sequence[str], num_classes: int) -> list[str]:
    """``class_names`` as a list, after checking it names each of the model's classes once."""
    if len(class_names) != num_classes:
        raise ValueError(
            f"class_names must name all {num_classes} classes of the model, got {list(class_names)}"
        )
    return list(class_names)


def class_dropdown(class_names: Sequence[str], value: int = 0) -> widgets.Dropdown:
    """Dropdown showing class names; its value is the class index."""
    return widgets.Dropdown(
        options=[(name, k) for k, name in enumerate(class_names)], value=value, description="class"
    )


class SampleGridExplorer(Explorer):
    """An explorer whose figure is a grid of samples drawn by a model.

    Subclasses draw a batch in their render function and return :meth:`show_samples`, which keeps
    it as ``self.samples`` ``(n, C, S, S)`` in [0, 1] (on the CPU) so tests and learners can check
    the picture against ``model.sample``. ``last_samples`` is the same tensor under the name the
    diffusion explorers of notebook 05 use.
    """

    samples: torch.Tensor | None = None
    ncols: int = 8

    @property
    def last_samples(self) -> torch.Tensor | None:
        return self.samples

    def show_samples(self, samples: torch.Tensor, suptitle: str) -> Figure:
        """Keep ``samples`` ``(n, C, S, S)`` in [0, 1] and draw them in a grid titled ``suptitle``."""
        self.samples = samples.detach().cpu()
        return image_grid(self.samples, ncols=self.ncols, suptitle=suptitle)
