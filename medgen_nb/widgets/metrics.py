"""Notebook 01: the metric response explorer (review §6.1 and Table 5; the data-range pitfall).

One target slice is degraded by one typical translation failure
(:func:`medgen_nb.metrics.apply_failure`) and scored against the original with
:mod:`medgen_nb.metrics`, so a learner sees which of MAE, RMSE, PSNR and SSIM reacts to noise,
blur, a shift or an intensity-scaling error, what a head mask changes, and how far PSNR moves when
``data_range`` is taken from the image.
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from medgen_nb.metrics import apply_failure, check_unit_range
from medgen_nb.metrics.translation import mae, psnr, rmse, ssim
from medgen_nb.viz import panel
from medgen_nb.widgets.base import Explorer

# The level each failure reaches at strength 1 (strength 0 = no failure). Chosen so that the
# strongest setting is clearly visible on a 64-128 px slice without erasing it.
FULL_STRENGTH: dict[str, float] = {"noise": 0.2, "blur": 4.0, "shift": 4.0, "scale": 0.5}
DATA_RANGES: tuple[str, ...] = ("fixed", "per-image")
_KIND_LABELS = {"noise": "noise", "blur": "blur", "shift": "shift", "scale": "intensity scaling"}
# Title of the degraded panel, with the failure's level in its unit.
_LEVEL_TITLES = {
    "noise": "noise std {:.3g} ([0, 1] units)",
    "blur": "blur, sigma {:.3g} px",
    "shift": "shifted {:.0f} px right",
    "scale": "intensity x {:.3g}",
}
_ERROR_TITLE = "|degraded - target|"


def _as_slice(image: torch.Tensor, name: str) -> torch.Tensor:
    """One slice ``(H, W)``, ``(1, H, W)`` or ``(1, 1, H, W)`` in [0, 1] as float64 ``(1, 1, H, W)``."""
    t = torch.as_tensor(image, dtype=torch.float64)
    if t.ndim not in (2, 3, 4) or t.numel() != t.shape[-1] * t.shape[-2]:
        raise ValueError(
            f"target {name!r} must be one slice (H, W), (1, H, W) or (1, 1, H, W), "
            f"got shape {tuple(t.shape)}"
        )
    t = t.reshape(1, 1, *t.shape[-2:])
    check_unit_range(t, f"target {name!r}")
    return t


def failure_level(kind: str, strength: float) -> float:
    """Map a control ``strength`` in [0, 1] to the ``level`` of :func:`apply_failure` for ``kind``.

    noise std 0-0.2 ([0, 1] units), blur sigma 0-4 px, shift 0-4 whole px, scale factor 1-0.5.
    """
    if kind not in FULL_STRENGTH:
        raise ValueError(f"kind must be one of {tuple(FULL_STRENGTH)}, got {kind!r}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength!r}")
    if kind == "shift":
        return float(round(FULL_STRENGTH["shift"] * strength))
    if kind == "scale":
        return 1.0 - FULL_STRENGTH["scale"] * strength
    return FULL_STRENGTH[kind] * strength


class MetricResponseExplorer(Explorer):
    """Failure kind, strength, head mask and data range -> a degraded slice and its four scores.

    Args:
        target: one slice in [0, 1], ``(H, W)``, ``(1, H, W)`` or ``(1, 1, H, W)``, or a mapping
            name -> such slice (co-registered modalities, e.g. ``{"T1w": ..., "PET": ...}``) to
            choose from with an ``image`` dropdown. A PET slice, whose [0, 1] scale is a fixed SUV
            window it rarely fills, shows the data-range pitfall best.
        mask: the head (foreground) mask shared by the slices, same spatial shape, nonzero = inside.
        seed: seeds the noise, so changing the strength scales one fixed noise pattern.
        title: defaults to a reminder that the slice is simulated.

    Controls: ``image`` (only for a mapping), ``kind`` (noise / blur / shift / intensity scaling),
    ``strength`` (0 = none, 1 = strongest, see :func:`failure_level`), ``masked`` (score only
    inside ``mask``) and ``data_range`` (``"fixed"``: 1.0, the width of the [0, 1] scale;
    ``"per-image"``: the target's own max - min, the pitfall of review Table 5's PSNR). After each
    render ``self.target`` is the shown target ``(1, 1, H, W)``, ``self.degraded`` its degraded
    copy, and ``self.scores`` holds ``mae``, ``rmse`` ([0, 1] units), ``psnr`` (dB) and ``ssim``,
    computed with :mod:`medgen_nb.metrics`; the status line shows the same numbers as a table.
    """

    def __init__(
        self,
        target: torch.Tensor | Mapping[str, torch.Tensor],
        mask: torch.Tensor,
        *,
        seed: int = 0,
        title: str | None = None,
    ) -> None:
        named = dict(target) if isinstance(target, Mapping) else {"target": target}
        if not named:
            raise ValueError("target must name at least one slice, got an empty mapping")
        self.targets = {name: _as_slice(image, name) for name, image in named.items()}
        shapes = {name: tuple(t.shape[-2:]) for name, t in self.targets.items()}
        if len(set(shapes.values())) != 1:
            raise ValueError(f"the target slices must share one grid, got {shapes}")
        self.target = next(iter(self.targets.values()))  # (1, 1, H, W), the one shown
        m = torch.as_tensor(mask)
        if m.numel() != self.target.numel() or m.shape[-2:] != self.target.shape[-2:]:
            raise ValueError(
                f"mask must have the target's shape {tuple(self.target.shape[-2:])}, got {tuple(m.shape)}"
            )
        self.mask = m.reshape(self.target.shape) != 0  # (1, 1, H, W) bool
        if not bool(self.mask.any()):
            raise ValueError("mask is empty; pass the head (foreground) mask of the target slice")
        self.seed = seed
        self.scores: dict[str, float] = {}
        self.degraded = self.target
        controls: dict[str, widgets.ValueWidget] = {}
        if isinstance(target, Mapping):
            controls["image"] = widgets.Dropdown(
                options=list(self.targets), value=next(iter(self.targets)), description="image"
            )
        controls |= {
            "kind": widgets.Dropdown(
                options=[(label, kind) for kind, label in _KIND_LABELS.items()],
                value="noise",
                description="failure",
            ),
            "strength": widgets.FloatSlider(
                value=0.25, min=0.0, max=1.0, step=0.05, description="strength",
                continuous_update=False,
            ),
            "masked": widgets.Checkbox(value=True, description="mask to head"),
            "data_range": widgets.ToggleButtons(
                options=[("fixed 1.0", "fixed"), ("per-image max - min", "per-image")],
                value="fixed",
                description="data_range",
            ),
        }  # fmt: skip
        super().__init__(
            self._render, controls, title or "How each metric reacts (simulated slice, [0, 1])"
        )

    def data_range(self, choice: str) -> float:
        """``data_range`` for PSNR and SSIM: 1.0 (``"fixed"``) or the shown target's max - min."""
        if choice not in DATA_RANGES:
            raise ValueError(f"data_range must be one of {DATA_RANGES}, got {choice!r}")
        if choice == "fixed":
            return 1.0
        return float(self.target.max() - self.target.min())

    def score(self, kind: str, strength: float, masked: bool, data_range: str) -> dict[str, float]:
        """Degrade the target and score it; sets ``self.degraded`` and returns the scores."""
        level = failure_level(kind, strength)
        self.degraded = apply_failure(self.target, kind, level, seed=self.seed)
        m = self.mask if masked else None
        dr = self.data_range(data_range)
        return {
            "mae": float(mae(self.degraded, self.target, mask=m)),
            "rmse": float(rmse(self.degraded, self.target, mask=m)),
            "psnr": float(psnr(self.degraded, self.target, data_range=dr, mask=m)),
            "ssim": float(ssim(self.degraded, self.target, data_range=dr, mask=m)),
        }

    def _render(
        self, kind: str, strength: float, masked: bool, data_range: str, image: str | None = None
    ) -> Figure:
        if image is not None:
            self.target = self.targets[image]
        self.scores = self.score(kind, strength, masked, data_range)
        level = failure_level(kind, strength)
        error = (self.degraded - self.target).abs()
        if masked:
            error = error * self.mask
        region = "inside the head mask" if masked else "whole slice"
        dr = self.data_range(data_range)
        s = self.scores
        self.readout = (
            f"<table><tr><th>region</th><th>MAE</th><th>RMSE</th><th>PSNR (dB)</th><th>SSIM</th>"
            f"<th>data_range</th></tr><tr><td>{region}</td><td>{s['mae']:.4f}</td>"
            f"<td>{s['rmse']:.4f}</td><td>{s['psnr']:.2f}</td><td>{s['ssim']:.3f}</td>"
            f"<td>{dr:.3f}</td></tr></table>"
        )
        error_title = f"{_ERROR_TITLE} ({'head mask' if masked else 'whole slice'})"
        return panel(
            {
                f"{image or 'target'} (simulated)": self.target[0, 0],
                _LEVEL_TITLES[kind].format(level): self.degraded[0, 0],
                error_title: error[0, 0],
            },
            suptitle=f"{region}: MAE {s['mae']:.4f}, RMSE {s['rmse']:.4f}, "
            f"PSNR {s['psnr']:.2f} dB, SSIM {s['ssim']:.3f} (data_range {dr:.3f})",
            cmaps={error_title: "magma"},
            ranges={error_title: (0.0, 0.25)},  # saturates above, so small errors stay visible
            units={error_title: "absolute error, [0, 1] units"},
            cell_inches=2.8,
        )


def metric_response_explorer(
    target: torch.Tensor | Mapping[str, torch.Tensor],
    mask: torch.Tensor,
    *,
    seed: int = 0,
    title: str | None = None,
) -> MetricResponseExplorer:
    """A :class:`MetricResponseExplorer` for one ``target`` slice in [0, 1] (or a mapping name ->
    co-registered slice) and its head ``mask``."""
    return MetricResponseExplorer(target, mask, seed=seed, title=title)
