"""Extra resident memory of the operations that set the lab notebooks' kernel peaks.

    python benchmarks/memory_peaks.py

Each operation runs on inputs of a lab notebook's size (1100-1256 slices at 64 px, 2545 x 865
feature rows) while a thread samples this process's resident size every 5 ms; the figure is the
peak above the resident size just before, in MiB, beside the size of the inputs. The closing
notes compare these with the figures before the streaming and chunking changes.
"""

from __future__ import annotations

import threading
import time

import psutil
import torch

from medgen_nb import metrics as M
from medgen_nb.models.baselines import IntensityMappingBaseline


class Peak:
    def __init__(self) -> None:
        self.me, self.peak, self.stop = psutil.Process(), 0, False
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self.stop:
            self.peak = max(self.peak, self.me.memory_info().rss)
            time.sleep(0.005)

    def extra_mib(self, fn) -> float:
        time.sleep(0.05)
        base = self.me.memory_info().rss
        self.peak = base
        fn()
        time.sleep(0.05)
        return (self.peak - base) / 2**20


def main() -> None:
    torch.manual_seed(0)
    peak = Peak()
    x = torch.rand(1100, 1, 64, 64)
    y = (x**2 + 0.1 * torch.rand_like(x)).clamp(0, 1)
    pred, target = torch.rand(1256, 1, 64, 64), torch.rand(1256, 1, 64, 64)
    mask = torch.rand(1256, 1, 64, 64) > 0.4
    real = torch.randn(2545, 128, dtype=torch.float64)
    fake = torch.randn(865, 128, dtype=torch.float64)
    mib = lambda t: t.numel() * t.element_size() / 2**20  # noqa: E731
    rows = [
        ("lookup fit, 1100 x 64^2 px", mib(x) + mib(y),
         lambda: IntensityMappingBaseline("lookup").fit(x, y)),
        ("cubic fit, 1100 x 64^2 px", mib(x) + mib(y),
         lambda: IntensityMappingBaseline("polynomial", degree=3).fit(x, y)),
        ("masked MAE, 1256 x 64^2 px", mib(pred) + mib(target),
         lambda: M.mae(pred, target, mask=mask, reduction="none")),
        ("masked PSNR, 1256 x 64^2 px", mib(pred) + mib(target),
         lambda: M.psnr(pred, target, data_range=1.0, mask=mask, reduction="none")),
        ("KID, 2545 x 865 features", mib(real) + mib(fake), lambda: M.kid(real, fake)),
        ("MMD, 2545 x 865 features", mib(real) + mib(fake), lambda: M.mmd(real, fake)),
        ("precision/recall, 2545 x 865", mib(real) + mib(fake),
         lambda: M.precision_recall(real, fake)),
    ]  # fmt: skip
    print(f"{'operation':32s} {'inputs (MiB)':>12s} {'extra peak (MiB)':>17s} {'ratio':>6s}")
    for name, size, fn in rows:
        extra = peak.extra_mib(fn)
        print(f"{name:32s} {size:12.0f} {extra:17.0f} {extra / size:6.2f}")
    peak.stop = True


if __name__ == "__main__":
    main()
