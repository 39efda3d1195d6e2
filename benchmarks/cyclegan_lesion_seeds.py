"""Notebook 04's hallucination test over several training seeds.

Trains two CycleGANs (simulated T1w -> T2w, 32 px, as in notebook 04) per seed: one whose domain
B holds all T2w training slices, one whose domain B holds only the lesion-free ones. Prints each
model's retained tumour contrast on the test slices with a tumour (1 = kept, 0 = erased; mean
predicted tumour-minus-ring contrast over the mean true one). One training run is one sample:
this script shows how much the answer moves between runs.

    python benchmarks/cyclegan_lesion_seeds.py --steps 600 --lambda-cycle 2 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import Subset

from medgen_nb.data.brain_phantom import brain_slice_datasets
from medgen_nb.data.slices import UnpairedDataset
from medgen_nb.metrics.lesion import lesion_contrast
from medgen_nb.models import create
from medgen_nb.train import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--lambda-cycle", type=float, default=10.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    common = dict(n_subjects=20, seed=0, seg_key="lesion", label_from="seg_present", progress=False)
    paired = brain_slice_datasets(["t1w"], target="t2w", size=32, **common)
    t2w = brain_slice_datasets(["t2w"], target="t1w", size=32, **common)
    test = paired["test"].tensors()
    tumour = ((test["seg"] >= 1) & (test["seg"] <= 3)).float()[:, None]  # glioma labels 1-3
    idx = torch.nonzero(tumour.flatten(1).sum(1) >= 6).flatten()
    ring = dict(lesion=tumour[idx], ring_px=3, mask=test["mask"][idx])
    c_true = lesion_contrast(test["target"][idx], **ring).mean()
    healthy = torch.nonzero(t2w["train"].tensors()["label"] == 0).flatten().tolist()
    domains_b = {"all-slice B": t2w["train"], "lesion-free B": Subset(t2w["train"], healthy)}
    print(
        f"{len(idx)} test slices with a tumour; {args.steps} steps, lambda_cycle {args.lambda_cycle}"
    )
    for seed in args.seeds:
        kept, seconds = {}, 0.0
        for name, domain_b in domains_b.items():
            model = create("cyclegan", size=32, base_channels=16, n_res_blocks=3,
                           lambda_identity=0.0, lambda_cycle=args.lambda_cycle, seed=seed)  # fmt: skip
            start = time.perf_counter()
            fit(model, UnpairedDataset(paired["train"], domain_b, seed=seed), args.steps,
                batch_size=8, seed=seed, progress=False)  # fmt: skip
            seconds += time.perf_counter() - start
            with torch.no_grad():
                pred = model.eval().translate(test["image"][idx])
            kept[name] = float(lesion_contrast(pred, **ring).mean() / c_true)
        print(f"seed {seed}: retained contrast " + ", ".join(f"{k} {v:.2f}" for k, v in kept.items())
              + f"  ({seconds:.0f} s of training)")  # fmt: skip


if __name__ == "__main__":
    main()
