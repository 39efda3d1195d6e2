"""How often bootstrap_ci's two-sample interval covers what it claims to: the numbers in its docstring.

For Gaussian features with known shifts, many independent data sets give the expected value of
FID (or precision/recall) at the sample size used; each data set's interval should cover it about
``confidence`` of the time. Run: ``python benchmarks/bootstrap_coverage.py`` (about 15 s on one
core). Prints, per case, the expectation, the coverage and the mean width relative to the
width the sampling spread needs (3.92 standard deviations for 95 %).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from medgen_nb.metrics import bootstrap_ci, fid, precision_recall


def gauss(seed: int, n: int, d: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * scale + shift


def coverage(statistic, key, n, d, shift, scale, n_sets, n_pop=400, n_boot=100):
    def value(real, fake):
        v = statistic(real=real, fake=fake)
        return v if key is None else v[key]

    pop = np.array(
        [
            value(gauss(10_000 + 2 * i, n, d), gauss(10_001 + 2 * i, n, d, shift, scale))
            for i in range(n_pop)
        ]
    )
    expected, hits, widths = pop.mean(), [], []
    for i in range(n_sets):
        real, fake = gauss(2 * i, n, d), gauss(2 * i + 1, n, d, shift, scale)
        ci = bootstrap_ci(statistic, real, fake, n_boot=n_boot, seed=i)
        ci = ci if key is None else ci[key]
        hits.append(ci.low <= expected <= ci.high)
        widths.append(ci.high - ci.low)
    return expected, float(np.mean(hits)), float(np.mean(widths) / (3.92 * pop.std()))


def main() -> None:
    warnings.simplefilter("ignore")  # FID below N = 5 D on purpose
    fid_quiet = lambda real, fake: fid(real, fake, warn_small_n=False)  # noqa: E731
    cases = [("FID", fid_quiet, None, 100, 16, s, 1.0, 100) for s in (0.0, 0.3, 1.0)]
    cases += [(k, precision_recall, k, 150, 8, 0.3, 0.8, 60) for k in ("precision", "recall")]
    for name, stat, key, n, d, shift, scale, n_sets in cases:
        expected, hit, width = coverage(stat, key, n, d, shift, scale, n_sets)
        print(
            f"{name:>9} N={n} D={d} shift {shift} scale {scale}: E = {expected:.3f}, "
            f"95 % interval covers it in {hit:.0%} of {n_sets} data sets, width x{width:.2f}"
        )


if __name__ == "__main__":
    main()
