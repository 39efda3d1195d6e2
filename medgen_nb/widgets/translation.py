"""Notebook 04: compare image-to-image translation models slice by slice (review §6.1, Table 5)."""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
from matplotlib.figure import Figure

from medgen_nb.evaluation import predict
from medgen_nb.metrics.translation import psnr, ssim
from medgen_nb.models.base import Translator
from medgen_nb.viz import translation_comparison
from medgen_nb.widgets.base import Explorer


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
        for name, model in self.models.items():
            if not isinstance(model, Translator):
                raise ValueError(f"model {name!r} ({type(model).__name__}) has no translate()")
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
        if model not in self.models:
            raise ValueError(f"model must be one of {list(self.models)}, got {model!r}")
        if not 0 <= index < len(self.dataset):
            raise ValueError(f"slice index {index} out of range 0..{len(self.dataset) - 1}")
        item = self.dataset[index]
        pred = predict(self.models[model], item["image"][None])  # eval mode, no grad, its device
        return item["image"][None], pred, item["target"][None]

    def _render(self, model: str, index: int) -> Figure:
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
