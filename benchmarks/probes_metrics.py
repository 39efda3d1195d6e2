"""Reliability probes for :mod:`medgen_nb.metrics` (issue 12, items 5a-5f and 10a).

Each probe does what a learner plausibly would (uint8 images with ``data_range=1``, probabilities
passed as labels, [0, 1] predictions against an HU target, ...). Run through
``python benchmarks/reliability_probes.py --only 5`` (or ``--only 10a``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from reliability_probes import Probe


def _img(seed: int, size: int = 24, b: int = 2) -> torch.Tensor:
    return torch.rand(b, 1, size, size, generator=torch.Generator().manual_seed(seed))


def _pair01() -> tuple[torch.Tensor, torch.Tensor]:
    t = _img(0)
    return (t + 0.05 * _img(1) - 0.025), t  # a prediction slightly outside [0, 1]


def _psnr_ref(p: torch.Tensor, t: torch.Tensor, dr: float) -> float:
    mse = ((p.double() - t.double()) ** 2).flatten(1).mean(1)
    return float((10 * torch.log10(dr**2 / mse)).mean())


def _close(expected: float, rel: float = 1e-9):
    return lambda v, _tmp: math.isclose(float(v), expected, rel_tol=rel)


def _metrics():
    from medgen_nb import metrics as M

    return M


# --- 5a: data_range smaller than the values' span --------------------------------------------


def _u8(seed: int) -> torch.Tensor:
    return (_img(seed) * 255).round().to(torch.uint8)


def _psnr_u8(_tmp):
    return float(_metrics().psnr(_u8(0), _u8(1), data_range=1.0))


def _psnr_minus1_2(_tmp):
    return float(_metrics().psnr(3 * _img(0) - 1, 3 * _img(1) - 1, data_range=1.0))


def _ssim_u8(_tmp):
    return float(_metrics().ssim(_u8(0), _u8(1), data_range=1.0))


def _ms_ssim_u8(_tmp):
    t = (_img(0, 48) * 255).round()
    p = (_img(1, 48) * 255).round()
    return float(_metrics().ms_ssim(p, t, data_range=1.0, betas=(0.0448, 0.2856, 0.3001)))


def _report_hu(_tmp):
    t = _img(0) * 3000 - 1000
    return _metrics().translation_report(t + 10 * _img(1), t, data_range=1.0)["psnr"]


def _tanh_preds(_tmp):
    t = _img(0)
    return float(_metrics().psnr(2 * t - 1, t, data_range=1.0))  # forgot to map [-1, 1] back


def _overshoot_ok(_tmp):
    p, t = _pair01()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a little overshoot must not even warn
        return float(_metrics().psnr(p, t, data_range=1.0))


def _per_image_range(_tmp):
    t = 0.3 * _img(0, b=1)  # a dim PET-like slice scored with its own range (notebook 01's pitfall)
    p = (t + 0.02 * torch.randn(t.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    dr = float(t.max() - t.min())
    return float(_metrics().psnr(p, t, data_range=dr)), _psnr_ref(p, t, dr)


# --- 5b: labels that are not class indices ---------------------------------------------------

_Y = torch.tensor([0, 1, 1, 0, 1, 0])
_PROBS = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9], [0.7, 0.3]])


def _accuracy_probs_1d(_tmp):
    return float(
        _metrics().accuracy(preds=_PROBS[:, 1], target=_Y)
    )  # a perfect classifier's P(class 1)


def _accuracy_probs_2d(_tmp):
    return float(_metrics().accuracy(preds=_PROBS, target=_Y))


def _balanced_floats(_tmp):
    return float(
        _metrics().balanced_accuracy(preds=torch.tensor([0.2, 1.7, 1.2, 0.4, 1.9, 0.1]), target=_Y)
    )


def _macro_auc_out_of_range(_tmp):
    y = torch.tensor([0, 1, 2, 0, 1, 5])  # label 5 with K = 3 classes
    p = torch.softmax(torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), 1)
    return float(_metrics().macro_auc(preds=p, target=y))


def _accuracy_whole_floats(_tmp):
    return float(_metrics().accuracy(preds=_PROBS.argmax(1).double(), target=_Y.double()))


# --- 5c: CT in two units ---------------------------------------------------------------------


def _ct_hu_target():
    return _img(0) * 3000 - 1000


def _ct_mixed_units(_tmp):
    hu = _ct_hu_target()
    return float(_metrics().ct_mae_hu((hu + 1000) / 3000, hu, reduction="mean")["all"])


def _ct_both_hu(_tmp):
    hu = _ct_hu_target()
    return float(_metrics().ct_mae_hu(hu + 7.0, hu, reduction="mean")["all"])


# --- 5d: Frechet distance and MMD inputs ----------------------------------------------------


def _fd_non_psd(_tmp):
    c = torch.tensor([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1
    return _metrics().frechet_distance(torch.zeros(2), c, torch.zeros(2), c)


def _fd_nan_mean(_tmp):
    return _metrics().frechet_distance(
        torch.tensor([float("nan"), 0.0]), torch.eye(2), torch.zeros(2), torch.eye(2)
    )


def _fd_asymmetric(_tmp):
    c = torch.tensor([[1.0, 0.9], [0.0, 1.0]])
    return _metrics().frechet_distance(torch.zeros(2), c, torch.zeros(2), torch.eye(2))


def _fd_closed_form(_tmp):
    # N(0, I) vs N(1, 4 I) in 3-D: |mu|^2 = 3, Tr(I + 4I - 2 * 2I) = 3
    return _metrics().frechet_distance(
        torch.zeros(3), torch.eye(3), torch.ones(3), 4 * torch.eye(3)
    )


def _feats(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _mmd_bandwidth(value):
    return lambda _tmp: _metrics().mmd(_feats(20, 3, 0), _feats(20, 3, 1) + 3, bandwidth=value)


def _mmd_numpy_bandwidth(_tmp):
    a, b = _feats(20, 3, 0), _feats(20, 3, 1) + 3
    M = _metrics()
    return M.mmd(a, b, bandwidth=np.float32(2.0)) == M.mmd(a, b, bandwidth=2.0)


# --- 5e: infinite per-item values -----------------------------------------------------------


def _mean_ci_inf(_tmp):
    return str(_metrics().mean_ci(torch.tensor([7.0, 8.0, 9.0, float("inf"), 8.5])))


def _bootstrap_inf_sample(_tmp):
    x = torch.tensor([1.0, 2.0, float("inf"), 3.0, 4.0])
    return str(_metrics().bootstrap_ci(lambda s: float(s.mean()), x, n_boot=20))


def _bootstrap_inf_statistic(_tmp):
    x = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])
    return str(_metrics().bootstrap_ci(lambda s: float(1 / s.min()), x, n_boot=50))


def _mean_ci_nan_ignored(_tmp):
    return _metrics().mean_ci(torch.tensor([1.0, 2.0, 3.0, float("nan"), 4.0])).value


# --- 5f: FID below the documented sample size -----------------------------------------------


def _fid_n10(_tmp):
    return _metrics().fid(_feats(10, 128, 0), _feats(10, 128, 1))


def _fid_vs_n_quiet(_tmp):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _metrics().fid_vs_n(_feats(40, 8, 0), _feats(40, 8, 1), sizes=(4, 8), repeats=2)
    return len(caught)


def _fid_large_n_quiet(_tmp):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _metrics().fid(_feats(50, 4, 0), _feats(50, 4, 1))
    return len(caught)


# --- 10a: numpy / torch scalars as data_range -----------------------------------------------


def _psnr_dr(value):
    def run(_tmp):
        p, t = _pair01()
        return float(_metrics().psnr(p, t, data_range=value))

    return run


_P01, _T01 = _pair01()
_PSNR01 = _psnr_ref(_P01, _T01, 1.0)


_GOOD_RANGES = {
    "np.float32(1.0)": np.float32(1.0),
    "torch.tensor(1.0)": torch.tensor(1.0),
    "np.int64(1)": np.int64(1),
}
_BAD_RANGES = {
    "np.array([1.0, 2.0])": np.array([1.0, 2.0]),
    "torch.tensor(inf)": torch.tensor(float("inf")),
    "True": True,
    "np.float64(0)": np.float64(0.0),
}


def _ssim_tensor_dr(_tmp):
    p, t = _pair01()
    M = _metrics()
    return float(M.ssim(p, t, data_range=torch.tensor(1.0))) == float(M.ssim(p, t, data_range=1.0))


PROBES: list[Probe] = [
    # 5a
    Probe("5a", "psnr of uint8 images with data_range=1", _psnr_u8, hint="data_range"),
    Probe("5a", "psnr of [-1, 2] images with data_range=1", _psnr_minus1_2, hint="data_range"),
    Probe("5a", "ssim of uint8 images with data_range=1", _ssim_u8, hint="data_range"),
    Probe("5a", "ms_ssim of 0-255 images with data_range=1", _ms_ssim_u8, hint="data_range"),
    Probe("5a", "translation_report of HU images, data_range=1", _report_hu, hint="data_range"),
    Probe(
        "5a",
        "psnr of [-1, 1] predictions vs a [0, 1] target",
        _tanh_preds,
        hint="data_range",
        warning_ok=True,
    ),
    Probe(
        "5a",
        "psnr: prediction a little outside [0, 1] (control)",
        _overshoot_ok,
        expect="result",
        check=_close(_PSNR01),
    ),
    Probe(
        "5a",
        "psnr with a dim slice's own range (control)",
        _per_image_range,
        expect="result",
        check=lambda v, _t: math.isclose(v[0], v[1], rel_tol=1e-9),
    ),
    # 5b
    Probe("5b", "accuracy(preds=P(class 1), target=labels)", _accuracy_probs_1d, hint="argmax"),
    Probe("5b", "accuracy(preds=(N, K) probabilities)", _accuracy_probs_2d, hint="argmax"),
    Probe("5b", "balanced_accuracy with float predictions", _balanced_floats, hint="argmax"),
    Probe("5b", "macro_auc with a label outside the classes", _macro_auc_out_of_range, hint="5"),
    Probe(
        "5b",
        "accuracy of whole-number float labels (control)",
        _accuracy_whole_floats,
        expect="result",
        check=_close(1.0),
    ),
    # 5c
    Probe("5c", "ct_mae_hu: [0, 1] predictions vs an HU target", _ct_mixed_units, hint="to_hu"),
    Probe(
        "5c",
        "ct_mae_hu with both sides in HU (control)",
        _ct_both_hu,
        expect="result",
        check=_close(7.0, 1e-6),
    ),
    # 5d
    Probe("5d", "frechet_distance with a non-PSD covariance", _fd_non_psd, hint="semi-definite"),
    Probe("5d", "frechet_distance with a NaN mean", _fd_nan_mean, hint="NaN"),
    Probe("5d", "frechet_distance with an asymmetric covariance", _fd_asymmetric, hint="symmetric"),
    Probe(
        "5d",
        "frechet_distance closed form (control)",
        _fd_closed_form,
        expect="result",
        check=_close(6.0, 1e-9),
    ),
    Probe("5d", "mmd(bandwidth=inf)", _mmd_bandwidth(float("inf")), hint="bandwidth"),
    Probe("5d", "mmd(bandwidth=nan)", _mmd_bandwidth(float("nan")), hint="bandwidth"),
    Probe("5d", "mmd(bandwidth=True)", _mmd_bandwidth(True), hint="bandwidth"),
    Probe(
        "5d",
        "mmd with a numpy bandwidth (control)",
        _mmd_numpy_bandwidth,
        expect="result",
        check=lambda v, _t: v is True,
    ),
    # 5e
    Probe("5e", "mean_ci over values containing inf", _mean_ci_inf, hint="inf"),
    Probe("5e", "bootstrap_ci over a sample containing inf", _bootstrap_inf_sample, hint="inf"),
    Probe(
        "5e", "bootstrap_ci of a statistic that returns inf", _bootstrap_inf_statistic, hint="inf"
    ),
    Probe(
        "5e",
        "mean_ci ignores NaN (control)",
        _mean_ci_nan_ignored,
        expect="result",
        check=_close(2.5),
    ),
    # 5f
    Probe("5f", "fid with N = 10 and 128 features", _fid_n10, hint="640", warning_ok=True),
    Probe(
        "5f",
        "fid_vs_n at small N does not warn (control)",
        _fid_vs_n_quiet,
        expect="result",
        check=lambda v, _t: v == 0,
    ),
    Probe(
        "5f",
        "fid with N >= 5 D does not warn (control)",
        _fid_large_n_quiet,
        expect="result",
        check=lambda v, _t: v == 0,
    ),
    # 10a: accepted scalars give the float's result; the rest is refused
    *(
        Probe(
            "10a",
            f"psnr(data_range={label})",
            _psnr_dr(value),
            expect="result",
            check=_close(_PSNR01),
        )
        for label, value in _GOOD_RANGES.items()
    ),
    Probe(
        "10a",
        "ssim(data_range=torch.tensor(1.0))",
        _ssim_tensor_dr,
        expect="result",
        check=lambda v, _t: v is True,
    ),
    *(
        Probe("10a", f"psnr(data_range={label})", _psnr_dr(value), hint="data_range")
        for label, value in _BAD_RANGES.items()
    ),
]
