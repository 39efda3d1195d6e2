"""Interactive explorers built with ipywidgets.

Every explorer is an :class:`Explorer`: a set of named controls and a render function that turns
the controls' values into a matplotlib figure, shown as a PNG in an ``ipywidgets.Image``. Changing a
control re-renders. The same objects work without a browser: set ``explorer.controls["x"].value``
and read ``explorer.image.value`` (PNG bytes) or the explorer's own state, which is how the tests
drive them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from medgen_nb.data.intensity import IntensityMap
from medgen_nb.viz import figure_to_png, panel

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
