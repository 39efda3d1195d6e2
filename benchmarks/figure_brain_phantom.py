"""Figure: one simulated subject in every modality beside the real MNI152 T1 slice.

Run: ``python benchmarks/figure_brain_phantom.py [--out docs/figures/brain_phantom.png]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from medgen_nb.data.brain_anatomy import grid_affine  # noqa: E402
from medgen_nb.data.brain_phantom import (  # noqa: E402
    BRAIN_MODALITIES,
    BrainPhantomConfig,
    simulate_brain_subject,
)
from medgen_nb.data.brain_real import mni_t1_axial  # noqa: E402
from medgen_nb.data.sources import attribution  # noqa: E402

TITLES = {
    "t1w": "T1w (SE)",
    "t2w": "T2w (SE)",
    "pd": "PD (SE)",
    "flair": "FLAIR (IR)",
    "t1ce": "T1ce (Gd)",
    "ct": "CT [-1000, 2000] HU",
    "cbct": "CBCT",
    "pet": "FDG-PET [0, 12] SUV",
}


def brain_phantom_figure(seed: int = 3, z_mm: float = 20.0, resolution_mm: float = 1.0):
    """A 2 x 6 grid: the real MNI T1, 8 simulated modalities, tissue and lesion labels."""
    cfg = BrainPhantomConfig(
        resolution_mm=resolution_mm, glioma_probability=1.0, wm_lesion_probability=1.0
    )
    subject = simulate_brain_subject(seed, cfg)
    z = int(round((np.linalg.inv(grid_affine(resolution_mm)) @ [0, 0, z_mm, 1])[2]))
    # Put the slice through the tumour if it has one, so that lesions show in every modality.
    if subject.meta.get("has_glioma"):
        z_mm = subject.meta["glioma_centre_mm"][2]
        z = int(round((np.linalg.inv(grid_affine(resolution_mm)) @ [0, 0, z_mm, 1])[2]))
    real, _, _, _ = mni_t1_axial(z_mm)

    fig, axes = plt.subplots(2, 6, figsize=(15, 5.8))
    panels = [("real MNI152 2009a T1\n(not simulated)", real, "gray")]
    for name in BRAIN_MODALITIES:
        panels.append(
            (f"simulated {TITLES[name]}", np.rot90(subject.images[name][:, :, z]), "gray")
        )
    panels.append(("simulated tissue labels", np.rot90(subject.labels["tissue"][:, :, z]), "tab10"))
    panels.append(("simulated lesion labels", np.rot90(subject.labels["lesion"][:, :, z]), "magma"))
    for ax, (title, img, cmap) in zip(axes.flat, panels, strict=False):
        vmax = None if cmap != "gray" else 1.0
        ax.imshow(img, cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    fig.suptitle(
        f"Simulated brain phantom (subject seed {seed}, {resolution_mm:g} mm, "
        f"{cfg.field_strength_t:g} T, axial z = {z_mm:.0f} mm MNI) beside the real template",
        fontsize=11,
    )
    fig.text(
        0.01,
        0.01,
        "Sources: ICBM152 2009a (Fonov et al. 2011) and FSL MNI152 (Jenkinson et al. 2012). "
        "All panels except the first are simulated.",
        fontsize=7,
    )
    fig.tight_layout(rect=(0, 0.03, 1, 0.95))
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/figures/brain_phantom.png"))
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    fig = brain_phantom_figure(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"saved {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")
    print(attribution("mni152_2009a_t1", "fsl_mni152_t1_2mm"))


if __name__ == "__main__":
    main()
